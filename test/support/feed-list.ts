/**
 * Test helper, not shipped behaviour: a small FeedMembership (model/intel.ts) over named entries, the
 * way the feeds stage answers (every entry of every feed that covers the address), for tests of the
 * parts that only read feed membership (feed trust, enrichment, reputation, `lookup`).
 */
import type { FeedMatch, FeedMembership } from '../../src/model/intel.js';
import { AddressSet } from '../../src/net/address-set.js';

export class FeedList implements FeedMembership {
  readonly #feeds: { set: AddressSet; matches: Map<string, FeedMatch> }[] = [];

  /** Adds a feed with its entries (line numbers are their 1-based positions). */
  add(feed: string, entries: readonly string[], options: { weight?: number; action?: 'drop' | 'alert' } = {}): this {
    const set = new AddressSet();
    const matches = new Map<string, FeedMatch>();
    entries.forEach((entry, i) => {
      set.add(entry, entry);
      matches.set(entry, { feed, entry, line: i + 1, action: options.action ?? 'alert', weight: options.weight ?? 1 });
    });
    this.#feeds.push({ set, matches });
    return this;
  }

  feedsOf(address: string): FeedMatch[] {
    const out: FeedMatch[] = [];
    for (const f of this.#feeds) {
      const m = f.set.match(address);
      const match = m === null ? undefined : f.matches.get(m.reason);
      if (match !== undefined) out.push(match);
    }
    return out;
  }
}
