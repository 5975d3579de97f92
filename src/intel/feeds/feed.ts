/**
 * One feed's life: the last good copy from disk at start, then fetch → parse → shrink check → subtract
 * what must never be blocked → hand the new ranges to the kernel (one transaction) → keep the copy.
 * Any failure on the way leaves the ranges in force as they were: a source that is down, answers 500,
 * an HTML page or half a file never empties (or shrinks) a set. Updates run one at a time per feed.
 */
import type { EventLogger } from '../../model/logger.js';
import { PortwardenError } from '../../errors.js';
import type { ResolvedFeed } from '../settings.js';
import type { FeedEntries } from './entries.js';
import type { Exclusions } from './exclusions.js';
import { fetchFeed, type Validators } from './fetch.js';
import { parseFeed, shrinkProblem, type BadLine } from './parse.js';
import { EMPTY_RANGES, rangeCount, rangesOf, subtractRanges, type RangeSet } from './ranges.js';
import type { FeedStore } from './store.js';

/** Where a feed's ranges go (the kernel's sets); called with the ranges in force and the new ones. */
export type RangesSink = (feed: ResolvedFeed, before: RangeSet, after: RangeSet) => Promise<void>;

export interface FeedStatus {
  name: string;
  format: string;
  action: 'drop' | 'alert';
  /** Entries of the copy in force, as listed (before merging). */
  entries: number;
  /** Ranges in the kernel after merging and subtraction. */
  ranges: number;
  /** Wall-clock ms of the fetch that brought or confirmed the copy in force; null: none yet. */
  lastGoodMs: number | null;
  /** Wall-clock ms of the last fetch attempt, whatever came of it. */
  lastFetchMs: number | null;
  lastError: string | null;
  fetchErrors: number;
  badLines: number;
  firstBadLines: BadLine[];
}

export type UpdateOutcome = 'updated' | 'not-modified' | 'too-soon' | 'failed';

export interface FeedOptions {
  feed: ResolvedFeed;
  store: FeedStore;
  sink: RangesSink;
  /** What is subtracted now (rebuilt by the caller as addresses and the allowlist change). */
  exclusions: () => Exclusions;
  log: EventLogger;
  clock?: () => number;
  env?: NodeJS.ProcessEnv;
}

export class Feed {
  readonly #o: FeedOptions;
  readonly #clock: () => number;
  #entries: FeedEntries | null = null;
  #ranges: RangeSet = EMPTY_RANGES;
  #validators: Validators | null = null;
  #running: Promise<UpdateOutcome> | null = null;
  readonly status: FeedStatus;

  constructor(options: FeedOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    const f = options.feed;
    this.status = { name: f.name, format: f.format, action: f.action, entries: 0, ranges: 0, lastGoodMs: null, lastFetchMs: null, lastError: null, fetchErrors: 0, badLines: 0, firstBadLines: [] };
  }

  get feed(): ResolvedFeed {
    return this.#o.feed;
  }

  /** The copy in force, as parsed (membership lookups quote its lines). */
  get entries(): FeedEntries | null {
    return this.#entries;
  }

  get ranges(): RangeSet {
    return this.#ranges;
  }

  /** Loads the last good copy from disk into the kernel; false when there is none usable. */
  async loadStored(): Promise<boolean> {
    const stored = this.#o.store.load(this.feed.name);
    if (stored === null) return false;
    try {
      const parsed = parseFeed(this.feed.name, this.feed.format, stored.body);
      await this.#install(parsed.entries, parsed.badCount, parsed.bad);
      this.#validators = stored.meta.validators;
      this.status.lastGoodMs = stored.meta.fetchedAtMs;
      this.#o.log.info({ 'event.action': 'feed-loaded', 'feed.name': this.feed.name, 'feed.entries': parsed.entries.size, 'feed.ranges': this.status.ranges, 'feed.source': 'disk' }, `feed ${this.feed.name}: last good copy loaded from disk`);
      return true;
    } catch (err) {
      this.#fail(err, 'the stored copy');
      return false;
    }
  }

  /** Whether the minimum refresh of the source allows a fetch now. */
  tooSoon(): boolean {
    const last = this.status.lastFetchMs;
    return last !== null && this.#clock() - last < this.feed.minRefreshSeconds * 1000;
  }

  /** Whether the scheduled refresh is due. */
  due(): boolean {
    const last = this.status.lastFetchMs;
    return last === null || this.#clock() - last >= this.feed.refreshSeconds * 1000;
  }

  /** Fetches and applies a new copy; concurrent calls share one run. Never throws: the outcome and status say. */
  update(): Promise<UpdateOutcome> {
    this.#running ??= this.#update().finally(() => (this.#running = null));
    return this.#running;
  }

  /** Re-applies the copy in force with fresh exclusions (the allowlist or the host's addresses changed). */
  async reapply(): Promise<void> {
    if (this.#entries !== null) await this.#install(this.#entries, this.status.badLines, this.status.firstBadLines);
  }

  async #update(): Promise<UpdateOutcome> {
    if (this.tooSoon()) return 'too-soon';
    const now = this.#clock();
    this.status.lastFetchMs = now;
    try {
      const result = await fetchFeed(this.feed, this.#validators, this.#o.env);
      if (result.kind === 'not-modified') {
        this.status.lastGoodMs = now;
        this.status.lastError = null;
        this.#o.store.save(this.feed.name, null, { validators: this.#validators ?? {}, fetchedAtMs: now, entries: this.status.entries });
        return 'not-modified';
      }
      const parsed = parseFeed(this.feed.name, this.feed.format, result.body);
      const shrink = shrinkProblem(this.#entries?.size ?? 0, parsed.entries.size, this.feed.maxShrink);
      if (shrink !== null) throw new PortwardenError('PW_ERR_FEED', `feed ${this.feed.name}: ${shrink}; the last good copy stays`);
      await this.#install(parsed.entries, parsed.badCount, parsed.bad);
      this.#validators = result.validators;
      this.status.lastGoodMs = now;
      this.status.lastError = null;
      this.#o.store.save(this.feed.name, result.body, { validators: result.validators, fetchedAtMs: now, entries: parsed.entries.size });
      const fields = { 'event.action': 'feed-updated', 'feed.name': this.feed.name, 'feed.entries': parsed.entries.size, 'feed.ranges': this.status.ranges, 'feed.bad_lines': parsed.badCount };
      if (parsed.badCount > 0) this.#o.log.warn({ ...fields, 'feed.first_bad_line': parsed.bad[0].line }, `feed ${this.feed.name}: updated; ${parsed.badCount} bad lines skipped (first: line ${parsed.bad[0].line}, ${parsed.bad[0].reason})`);
      else this.#o.log.info(fields, `feed ${this.feed.name}: updated`);
      return 'updated';
    } catch (err) {
      this.#fail(err, 'the update');
      return 'failed';
    }
  }

  async #install(entries: FeedEntries, badCount: number, bad: BadLine[]): Promise<void> {
    const next = subtractRanges(rangesOf(entries), this.#o.exclusions().ranges);
    await this.#o.sink(this.feed, this.#ranges, next);
    this.#entries = entries;
    this.#ranges = next;
    this.status.entries = entries.size;
    this.status.ranges = rangeCount(next);
    this.status.badLines = badCount;
    this.status.firstBadLines = bad.slice(0, 5);
  }

  #fail(err: unknown, what: string): void {
    const message = err instanceof Error ? err.message : String(err);
    this.status.fetchErrors++;
    this.status.lastError = message;
    this.#o.log.warn({ 'event.action': 'feed-refused', 'feed.name': this.feed.name, error: message, 'feed.entries': this.status.entries }, `feed ${this.feed.name}: ${what} failed; the set keeps its ${this.status.entries} entries: ${message}`);
  }
}
