import type { WindowThreshold } from '../config/profiles.js';
import { ClassCounts, type Incident } from './incident.js';
import type { TrwModel } from './trw.js';
import { WindowedDistinct } from './windowed-count.js';
import { contactClass, contactCompleted, contactOsSyn, contactOutcome, contactPort, contactReset, Outcome } from './first-contact.js';

export interface ContactThresholds {
  /** Fewest distinct items before any incident. */
  minimum: number;
  windows: WindowThreshold[];
  minFailureRatio: number;
}

/**
 * What one source's first contacts along one axis have shown: the distinct ports it tried on one
 * target (vertical scan) or the distinct hosts it tried on one port (sweep). Each distinct item is one
 * first contact and moves the TRW once, whatever happens to later connections to it.
 */
export class ContactEvidence<Item> {
  // Most (source, target) pairs are one client connection: one item. The set and the windows are
  // made at the second item, so the common case allocates one object.
  #first: Item | undefined = undefined;
  #firstMs = 0;
  #items: Set<Item> | null = null;
  #windows: WindowedDistinct | null = null;
  readonly #windowCount: number;
  readonly classes = new ClassCounts();
  /** TRW log likelihood ratio over the outcomes of these first contacts. */
  logRatio = 0;
  failures = 0;
  successes = 0;
  /** Probe packets, repeats included. */
  probes = 0;
  /** Items beyond the storage cap: counted, not remembered. */
  overflow = 0;
  firstMs: number;
  lastMs: number;
  incident: Incident | null = null;

  constructor(nowMs: number, windowCount: number) {
    this.firstMs = nowMs;
    this.lastMs = nowMs;
    this.#windowCount = windowCount;
  }

  /** Full port evidence of a (source, target) pair from its packed first contact (first-contact.ts). */
  static ofPorts(first: number, firstMs: number, windowCount: number, trw: TrwModel): ContactEvidence<number> {
    const e = new ContactEvidence<number>(firstMs, windowCount);
    e.addProbe(contactPort(first), contactClass(first), contactOsSyn(first), firstMs, Infinity);
    const outcome = contactOutcome(first);
    if (outcome !== Outcome.unknown) e.recordOutcome(outcome === Outcome.success, trw);
    if (contactCompleted(first)) e.classes.completed++;
    if (contactReset(first)) e.classes.halfOpenResets++;
    return e;
  }

  get distinct(): number {
    return (this.#items !== null ? this.#items.size : this.#first === undefined ? 0 : 1) + this.overflow;
  }

  /** The remembered items (ports or hosts), in first-seen order. */
  items(): Item[] {
    if (this.#items !== null) return [...this.#items];
    return this.#first === undefined ? [] : [this.#first];
  }

  /** Records a probe to `item`; true when it is a first contact (a new item) to be resolved later. */
  addProbe(item: Item, cls: number, osSyn: boolean, nowMs: number, cap: number): boolean {
    this.probes++;
    this.lastMs = nowMs;
    if (this.#first === undefined) {
      this.#first = item;
      this.#firstMs = nowMs;
      this.classes.add(cls, osSyn);
      return true;
    }
    if (this.#items === null) {
      if (item === this.#first) return false;
      this.#items = new Set([this.#first]);
      this.#windows = new WindowedDistinct(this.#windowCount);
      this.#windows.add(this.#firstMs);
    } else if (this.#items.has(item)) return false;
    this.classes.add(cls, osSyn);
    if (this.#items.size >= cap) {
      this.overflow++;
      return false;
    }
    this.#items.add(item);
    this.#windows!.add(nowMs);
    return true;
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
    const w = this.#windows === null ? -1 : this.#windows.firstReached(t.windows, nowMs);
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
      probe_classes: this.classes.toJSON(),
      handshakes_completed: this.classes.completed,
      half_open_resets: this.classes.halfOpenResets,
    };
  }
}
