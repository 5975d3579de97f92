import type { WindowThreshold } from '../config/profiles.js';
import { contactClass, contactCompleted, contactOsSyn, contactOutcome, contactReset, Outcome } from './first-contact.js';
import { ClassCounts, type AddressKey, type Incident } from './incident.js';
import type { TrwModel } from './trw.js';
import { firstWindowReached } from './windowed-count.js';

export interface ContactThresholds {
  /** Fewest distinct items before any incident. */
  minimum: number;
  windows: WindowThreshold[];
  minFailureRatio: number;
}

/** Items kept for the incident's sample: the smallest, in order. */
const SAMPLE_SIZE = 20;

/**
 * What one source's first contacts along one axis have shown: the distinct ports it tried on one
 * target (vertical scan) or the distinct hosts it tried on one port (sweep). The caller hands each
 * distinct item once (first contacts are deduplicated before), so each moves the TRW once, whatever
 * happens to later connections to it.
 *
 * Made only for a record's second distinct item; a single first contact stays packed in the record
 * table (first-contact.ts).
 */
export class ContactEvidence<Item> extends ClassCounts {
  /** The source whose first contacts these are. */
  readonly source: AddressKey;
  /** What they share: the target address (vertical scan) or the port key (sweep). */
  readonly subject: AddressKey;
  /** The smallest items seen, sorted: the incident's sample. */
  readonly sample: Item[] = [];
  /**
   * Whether this record decides which probes are first contacts (a (source, target) record does; a
   * sweep record trusts it). While there are at most SAMPLE_SIZE items the sample holds them all and
   * answers; past that a set does, holding at most `itemCap` items (past that, repeats count as new).
   */
  readonly #dedup: boolean;
  #seen: Set<Item> | null = null;
  distinct = 0;
  /** First-seen times and window starts (windowed-count.ts). */
  readonly #times: number[] = [];
  readonly #starts: number[];
  readonly #compare: (a: Item, b: Item) => number;
  /** TRW log likelihood ratio over the outcomes of these first contacts. */
  logRatio = 0;
  failures = 0;
  successes = 0;
  /** Probe packets, repeats included. */
  probes = 0;
  firstMs: number;
  lastMs: number;
  incident: Incident | null = null;

  constructor(source: AddressKey, subject: AddressKey, firstMs: number, windowCount: number, compare: (a: Item, b: Item) => number, dedup: boolean) {
    super();
    this.#dedup = dedup;
    this.#starts = new Array<number>(windowCount).fill(0);
    this.source = source;
    this.subject = subject;
    this.firstMs = firstMs;
    this.lastMs = firstMs;
    this.#compare = compare;
  }

  /**
   * Evidence for a record whose first contact was packed: `first` (first-contact.ts) to `firstItem`
   * at `firstMs`, with its outcome and handshake so far.
   */
  static fromFirst<Item>(
    source: AddressKey,
    subject: AddressKey,
    first: number,
    firstItem: Item,
    firstMs: number,
    windowCount: number,
    compare: (a: Item, b: Item) => number,
    trw: TrwModel,
    itemCap: number,
    dedup: boolean,
  ): ContactEvidence<Item> {
    const e = new ContactEvidence<Item>(source, subject, firstMs, windowCount, compare, dedup);
    e.addItem(firstItem, contactClass(first), contactOsSyn(first), firstMs, itemCap);
    const outcome = contactOutcome(first);
    if (outcome !== Outcome.unknown) e.recordOutcome(outcome === Outcome.success, trw);
    if (contactCompleted(first)) e.completed++;
    if (contactReset(first)) e.halfOpenResets++;
    return e;
  }

  /**
   * Evidence for a sweep record that was only counted so far: `first` names the first host; the other
   * `hosts - 1` are counted without names, dated `datedMs` (the record's last touch); its `successes`,
   * then its `failures`, are replayed into the TRW.
   */
  static fromCounts<Item>(
    source: AddressKey,
    subject: AddressKey,
    first: Item,
    hosts: number,
    successes: number,
    failures: number,
    cls: number,
    osSyn: boolean,
    datedMs: number,
    windowCount: number,
    compare: (a: Item, b: Item) => number,
    trw: TrwModel,
    itemCap: number,
  ): ContactEvidence<Item> {
    const e = new ContactEvidence<Item>(source, subject, datedMs, windowCount, compare, false);
    e.addItem(first, cls, osSyn, datedMs, itemCap);
    for (let i = 1; i < hosts; i++) {
      e.probes++;
      e.distinct++;
      e.add(cls, osSyn);
      if (e.distinct <= itemCap) e.#times.push(datedMs);
    }
    for (let i = 0; i < successes; i++) e.recordOutcome(true, trw);
    for (let i = 0; i < failures; i++) e.recordOutcome(false, trw);
    return e;
  }

  /** A first contact to a new item; `itemCap` bounds the items remembered (times, dedup). */
  addItem(item: Item, cls: number, osSyn: boolean, nowMs: number, itemCap: number): void {
    this.probes++;
    this.distinct++;
    if (nowMs > this.lastMs) this.lastMs = nowMs;
    this.add(cls, osSyn);
    if (this.distinct <= itemCap) {
      this.#times.push(nowMs);
      if (this.#seen !== null) this.#seen.add(item);
      else if (this.#dedup && this.distinct > SAMPLE_SIZE) {
        // The sample held every item so far; from here a set must.
        this.#seen = new Set(this.sample);
        this.#seen.add(item);
      }
    }
    const sample = this.sample;
    if (sample.length < SAMPLE_SIZE) {
      sample.push(item);
      for (let i = sample.length - 1; i > 0 && this.#compare(sample[i - 1], sample[i]) > 0; i--) {
        const t = sample[i];
        sample[i] = sample[i - 1];
        sample[i - 1] = t;
      }
    } else if (this.#compare(item, sample[SAMPLE_SIZE - 1]) < 0) {
      let i = SAMPLE_SIZE - 1;
      while (i > 0 && this.#compare(item, sample[i - 1]) < 0) {
        sample[i] = sample[i - 1];
        i--;
      }
      sample[i] = item;
    }
  }

  /** Whether `item` was counted already (records that deduplicate only). */
  has(item: Item): boolean {
    if (this.#seen !== null) return this.#seen.has(item);
    const sample = this.sample;
    for (let i = 0; i < sample.length; i++) if (sample[i] === item) return true;
    return false;
  }

  /** A repeated probe to an item already counted. */
  addRepeat(nowMs: number): void {
    this.probes++;
    if (nowMs > this.lastMs) this.lastMs = nowMs;
  }

  recordOutcome(success: boolean, trw: TrwModel): void {
    if (success) this.successes++;
    else this.failures++;
    this.logRatio = trw.step(this.logRatio, success);
  }

  /**
   * Why these contacts make an incident now (`trw` or `window:<length>`), or '' while they don't.
   * The TRW decides on outcomes; the windows count distinct items over several time scales and also
   * need a share of failures, so a client of many open services is not a scanner.
   */
  verdict(t: ContactThresholds, trw: TrwModel, nowMs: number): string {
    if (this.distinct < t.minimum) return '';
    if (this.logRatio >= trw.upper) return 'trw';
    const resolved = this.failures + this.successes;
    if (resolved === 0 || this.failures < t.minFailureRatio * resolved) return '';
    const w = firstWindowReached(this.#times, this.#starts, t.windows, nowMs);
    return w < 0 ? '' : `window:${t.windows[w].windowMs}`;
  }

  /** Confidence of the incident: the TRW posterior, or the failure share for a window trigger. */
  confidence(trw: TrwModel): number {
    if (this.logRatio >= trw.upper) return trw.confidence(this.logRatio);
    const resolved = this.failures + this.successes;
    const share = resolved === 0 ? 0.5 : this.failures / resolved;
    return Math.round((0.5 + 0.45 * share) * 1000) / 1000;
  }

  evidence(trw: TrwModel): Record<string, unknown> {
    return {
      trw_log_ratio: Math.round(this.logRatio * 100) / 100,
      trw_threshold: Math.round(trw.upper * 100) / 100,
      failures: this.failures,
      successes: this.successes,
      probe_classes: this.toJSON(),
      handshakes_completed: this.completed,
      half_open_resets: this.halfOpenResets,
    };
  }
}
