/**
 * The feeds in the kernel: per feed and family one interval set without timeouts in the daemon's own
 * table (`feed_<name>_4`, `feed_<name>_6`), and one named counter per feed that its rules count into.
 * The rules sit in the `drop` phase, so the allow sets (exempt phase) are matched first; a feed with
 * `action: alert` only counts (the daemon logs what the counter gained).
 *
 * No per-element timeouts: CrowdSec's bouncer lost a day's list in one second that way. Every change
 * is one netlink transaction: the first load in a run flushes and fills the set (a restart keeps the
 * table's sets, and what they hold is not trusted), later updates send only the difference. The
 * kernel swaps generations at commit, so a packet sees the old list or the new one, never neither.
 */
import { performance } from 'node:perf_hooks';
import { PortwardenError } from '../../errors.js';
import { encodeIntervalBatch, errnoName, NftNetlink, type IntervalSetChange } from '../../kernel/nft-netlink.js';
import type { HookRule, RuleContribution, SetDeclaration } from '../../kernel/ruleset.js';
import type { ResolvedFeed } from '../settings.js';
import { diffRanges, type RangeSet } from './ranges.js';

/** nft names of a feed's sets and counter (feed names are [a-z0-9-]; nft identifiers take _ for -). */
export function feedObjectNames(name: string): { set4: string; set6: string; counter: string } {
  const id = `feed_${name.replace(/-/g, '_')}`;
  return { set4: `${id}_4`, set6: `${id}_6`, counter: id };
}

/** intel's part of the table: the feed sets, their counters and rules (input, and forward on a router). */
export function feedsContribution(feeds: readonly ResolvedFeed[], forward: boolean): RuleContribution {
  const declarations: (SetDeclaration | { kind: 'counter'; name: string })[] = [];
  const rules: HookRule[] = [];
  for (const f of feeds) {
    const n = feedObjectNames(f.name);
    // keepElements: a restart that keeps the table keeps enforcing until the stored copy replaces it.
    declarations.push({ kind: 'set', name: n.set4, type: 'ipv4_addr', flags: ['interval'], keepElements: true }, { kind: 'set', name: n.set6, type: 'ipv6_addr', flags: ['interval'], keepElements: true }, { kind: 'counter', name: n.counter });
    const verdict = f.action === 'drop' ? ' drop' : '';
    for (const hook of forward ? (['input', 'forward'] as const) : (['input'] as const)) {
      rules.push({ hook, phase: 'drop', nft: `ip saddr @${n.set4} counter name ${n.counter}${verdict}`, comment: `portwarden feed ${f.name} (${f.action})` });
      rules.push({ hook, phase: 'drop', nft: `ip6 saddr @${n.set6} counter name ${n.counter}${verdict}`, comment: `portwarden feed ${f.name} (${f.action})` });
    }
  }
  return { owner: 'intel', declarations, rules };
}

export interface FeedCounter {
  packets: number;
  bytes: number;
}

/** Loads feed ranges into the kernel sets through one netlink socket; one transaction at a time. */
export class FeedKernelSets {
  readonly #table: string;
  readonly #nl: NftNetlink;
  /** Feeds loaded in this run: their next change is a diff. */
  readonly #loaded = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();
  /** The last transaction: ranges sent and milliseconds from encoding to the kernel's answer. */
  lastApply: { ranges: number; ms: number } | null = null;

  constructor(options: { table: string; replyTimeoutMs?: number }) {
    this.#table = options.table;
    this.#nl = new NftNetlink({ replyTimeoutMs: options.replyTimeoutMs ?? 120_000 });
  }

  /** The RangesSink a Feed hands its changes to. */
  readonly sink = (feed: ResolvedFeed, before: RangeSet, after: RangeSet): Promise<void> => {
    const run = this.#queue.then(() => this.#apply(feed, before, after));
    this.#queue = run.catch(() => {});
    return run;
  };

  /** Forgets what was loaded (the table was set up again, its sets are empty): the next change fills them whole. */
  forgetLoaded(): void {
    this.#loaded.clear();
  }

  async #apply(feed: ResolvedFeed, before: RangeSet, after: RangeSet): Promise<void> {
    const n = feedObjectNames(feed.name);
    const full = !this.#loaded.has(feed.name);
    const changes: IntervalSetChange[] = [];
    if (full) {
      changes.push({ set: n.set4, family: 4, flush: true, remove: { start: [], end: [] }, add: after.v4 });
      changes.push({ set: n.set6, family: 6, flush: true, remove: { start: [], end: [] }, add: after.v6 });
    } else {
      const d = diffRanges(before, after);
      changes.push({ set: n.set4, family: 4, flush: false, remove: d.remove.v4, add: d.add.v4 });
      changes.push({ set: n.set6, family: 6, flush: false, remove: d.remove.v6, add: d.add.v6 });
    }
    const started = performance.now();
    const first = this.#nl.nextSeq(0);
    const { data, count } = encodeIntervalBatch(this.#table, changes, first + 1);
    if (count === 0) return;
    this.#nl.nextSeq(count + 2);
    this.#nl.ensureSendBuffer(data.length);
    const outcome = await this.#nl.batch(data, first + 1, count);
    const errno = outcome.batchErrno || (outcome.failures.size > 0 ? [...outcome.failures.values()][0] : 0);
    if (errno !== 0) {
      throw new PortwardenError('PW_ERR_FEED', `feed ${feed.name}: the kernel refused the update of ${n.set4}/${n.set6} (${errnoName(errno)}); the sets keep their contents`);
    }
    this.#loaded.add(feed.name);
    this.lastApply = { ranges: changes.reduce((n, c) => n + c.add.start.length + c.remove.start.length, 0), ms: performance.now() - started };
  }

  /**
   * Packets and bytes each feed's rules counted, by feed name, through a netlink dump of the table's
   * counter objects (`nft list counters` reads every set too: seconds for a million-entry feed).
   */
  async counters(feeds: readonly ResolvedFeed[]): Promise<Map<string, FeedCounter>> {
    const run = this.#queue.then(() => this.#nl.dumpCounters(this.#table));
    this.#queue = run.catch(() => {});
    const byName = await run;
    const out = new Map<string, FeedCounter>();
    for (const f of feeds) {
      const c = byName.get(feedObjectNames(f.name).counter);
      if (c !== undefined) out.set(f.name, c);
    }
    return out;
  }

  close(): void {
    this.#nl.close();
  }
}
