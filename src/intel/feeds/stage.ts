/**
 * The feeds stage as the daemon wires it: every configured feed, its kernel sets, the schedule, the
 * staleness alert, the match log of alert feeds, counters for metrics and the answers of
 * `portwarden feeds` and `feeds update`.
 *
 * Start order (what must stay true): the table with the feed sets exists (enforce set it up with
 * `contribution()`), then every stored copy goes into the kernel, and only then does anything touch
 * the network, in the background: a start never waits for, nor depends on, a source being up.
 */
import type { CounterGroup } from '../../model/counters.js';
import type { EventLogger } from '../../model/logger.js';
import type { FeedMembership } from '../../model/intel.js';
import type { RuleContribution } from '../../kernel/ruleset.js';
import { resolveFeed, type FeedsSettings, type ResolvedFeed } from '../settings.js';
import { buildExclusions, type ExclusionInput, type Exclusions } from './exclusions.js';
import { Feed, type FeedStatus, type UpdateOutcome } from './feed.js';
import { FeedKernelSets, feedsContribution, type FeedCounter } from './kernel-sets.js';
import { feedMembership } from './membership.js';
import { FeedStore } from './store.js';

/** One feed as `portwarden feeds` shows it. */
export interface FeedReport extends Omit<FeedStatus, 'firstBadLines'> {
  refreshSeconds: number;
  /** Seconds since the copy in force was fetched or confirmed; null: no copy yet. */
  ageSeconds: number | null;
  stale: boolean;
  matches: FeedCounter | null;
  firstBadLines: FeedStatus['firstBadLines'];
}

export interface FeedsStageOptions {
  settings: FeedsSettings;
  stateDir: string;
  /** The daemon's nft table (`inet <table>`). */
  table: string;
  /** Rules in the forward hook as well (enforce.forward). */
  forward: boolean;
  /** What no feed may block now (the host's interfaces, the guard's and the allowlist's networks). */
  exclusionInput: () => ExclusionInput;
  /** A feed older than 3x its refresh: called once per stale spell. */
  onStale: (report: FeedReport) => void;
  log: EventLogger;
  clock?: () => number;
  /** How often due feeds are fetched and counters read; default 15 s, or the shortest refresh (at least 1 s). */
  tickMs?: number;
}

export class FeedsStage {
  readonly feeds: readonly Feed[];
  readonly #o: FeedsStageOptions;
  readonly #clock: () => number;
  readonly #kernel: FeedKernelSets | null;
  readonly #staleNow = new Set<string>();
  readonly #lastPackets = new Map<string, number>();
  #counters = new Map<string, FeedCounter>();
  #exclusions: Exclusions | null = null;
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  readonly #startedAt: number;

  constructor(options: FeedsStageOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#startedAt = this.#clock();
    const resolved = options.settings.map(resolveFeed);
    this.#kernel = resolved.length === 0 ? null : new FeedKernelSets({ table: options.table });
    const store = new FeedStore(options.stateDir);
    const sink = this.#kernel?.sink ?? (async () => {});
    this.feeds = resolved.map((feed) => new Feed({ feed, store, sink, exclusions: () => this.#currentExclusions(), log: options.log, clock: this.#clock }));
  }

  get resolved(): ResolvedFeed[] {
    return this.feeds.map((f) => f.feed);
  }

  /** intel's sets, counters and rules for the table (none without feeds). */
  contribution(): RuleContribution | undefined {
    return this.feeds.length === 0 ? undefined : feedsContribution(this.resolved, this.#o.forward);
  }

  /** Membership over the copies in force (model/intel.ts), for reputation and `lookup`. */
  readonly membership: FeedMembership = feedMembership(() => this.feeds);

  /** Loads every stored copy into the kernel, then fetches in the background and on schedule. */
  async start(): Promise<void> {
    for (const f of this.feeds) await f.loadStored();
    if (this.feeds.length === 0) return;
    // Every 15 s, or as often as the shortest refresh asks (a file:// source may refresh every second).
    const shortest = Math.min(...this.feeds.map((f) => f.feed.refreshSeconds * 1000));
    this.#timer = setInterval(() => void this.tick(), this.#o.tickMs ?? Math.max(1000, Math.min(15_000, shortest)));
    this.#timer.unref();
    void this.tick();
  }

  /** Fetches the due feeds, reads the counters, logs alert feeds' matches, raises staleness alerts. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = null));
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    for (const f of this.feeds) if (f.due() && !f.tooSoon()) await f.update();
    await this.#readCounters();
    for (const report of this.reportsNow()) {
      if (report.stale && !this.#staleNow.has(report.name)) {
        this.#staleNow.add(report.name);
        this.#o.onStale(report);
        this.#o.log.warn({ 'event.action': 'feed-stale', 'feed.name': report.name, 'feed.age_seconds': report.ageSeconds, error: report.lastError }, `feed ${report.name} is stale: its copy is older than 3x its refresh`);
      } else if (!report.stale) this.#staleNow.delete(report.name);
    }
  }

  /** `portwarden feeds update [NAME]`: fetches now (within each source's minimum refresh). */
  async update(name?: string): Promise<{ name: string; outcome: UpdateOutcome | 'unknown'; report: FeedReport | null }[]> {
    const chosen = name === undefined ? this.feeds : this.feeds.filter((f) => f.feed.name === name);
    if (chosen.length === 0) return [{ name: name ?? '', outcome: 'unknown', report: null }];
    const out: { name: string; outcome: UpdateOutcome | 'unknown'; report: FeedReport | null }[] = [];
    for (const f of chosen) {
      const outcome = await f.update();
      out.push({ name: f.feed.name, outcome, report: null });
    }
    await this.#readCounters();
    const reports = this.reportsNow();
    for (const o of out) o.report = reports.find((r) => r.name === o.name) ?? null;
    return out;
  }

  /** `portwarden feeds`: every feed, its counters read from the kernel now. */
  async reports(): Promise<FeedReport[]> {
    await this.#readCounters();
    return this.reportsNow();
  }

  reportsNow(): FeedReport[] {
    const now = this.#clock();
    return this.feeds.map((f) => {
      const s = f.status;
      const ageSeconds = s.lastGoodMs === null ? null : Math.max(0, Math.floor((now - s.lastGoodMs) / 1000));
      // Stale: the copy in force is older than 3x the refresh, or there has never been one for that long.
      const since = s.lastGoodMs ?? this.#startedAt;
      const stale = now - since > 3 * f.feed.refreshSeconds * 1000;
      return { ...s, refreshSeconds: f.feed.refreshSeconds, ageSeconds, stale, matches: this.#counters.get(f.feed.name) ?? null, firstBadLines: s.firstBadLines };
    });
  }

  /** Addresses or the allowlist changed: every copy goes back in with the new exclusions (a diff each). */
  async exclusionsChanged(): Promise<void> {
    this.#exclusions = null;
    for (const f of this.feeds) await f.reapply();
  }

  /** The table was set up again (its sets are empty): every copy goes back in whole. */
  async tableRestored(): Promise<void> {
    this.#kernel?.forgetLoaded();
    for (const f of this.feeds) await f.reapply();
  }

  /** Per feed: entries, age, fetch errors, matches (registry names `feeds.<name>.<what>`). */
  readonly counterGroup: CounterGroup = {
    group: 'feeds',
    forEach: (visit) => {
      for (const r of this.reportsNow()) {
        visit(`feeds.${r.name}.entries`, r.entries, `entries of feed ${r.name} in force`);
        visit(`feeds.${r.name}.age_seconds`, r.ageSeconds ?? -1, `seconds since feed ${r.name} was fetched or confirmed (-1: never)`);
        visit(`feeds.${r.name}.fetch_errors`, r.fetchErrors, `failed fetches or refused copies of feed ${r.name}`);
        visit(`feeds.${r.name}.matches`, r.matches?.packets ?? 0, `packets from addresses feed ${r.name} lists`);
      }
    },
  };

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async close(): Promise<void> {
    this.stop();
    await this.#ticking;
    this.#kernel?.close();
  }

  #currentExclusions(): Exclusions {
    this.#exclusions ??= buildExclusions(this.#o.exclusionInput());
    return this.#exclusions;
  }

  async #readCounters(): Promise<void> {
    if (this.#kernel === null) return;
    try {
      this.#counters = await this.#kernel.counters(this.resolved);
    } catch (err) {
      this.#o.log.warn({ 'event.action': 'feed-counters-failed', error: err instanceof Error ? err.message : String(err) }, 'cannot read the feed counters');
      return;
    }
    for (const f of this.feeds) {
      const c = this.#counters.get(f.feed.name);
      if (c === undefined) continue;
      const before = this.#lastPackets.get(f.feed.name) ?? 0;
      this.#lastPackets.set(f.feed.name, c.packets);
      // Alert feeds drop nothing: the log says what their addresses sent since the last look.
      if (f.feed.action === 'alert' && c.packets > before) {
        this.#o.log.info({ 'event.action': 'feed-match', 'feed.name': f.feed.name, 'feed.packets': c.packets - before, 'feed.packets_total': c.packets }, `feed ${f.feed.name} (alert): ${c.packets - before} packets from listed addresses`);
      }
    }
  }
}
