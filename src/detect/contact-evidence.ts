import type { WindowThreshold } from '../config/profiles.js';
import { ClassCounts, type Incident } from './incident.js';
import type { TrwModel } from './trw.js';
import { WindowedDistinct } from './windowed-count.js';

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
  readonly items = new Set<Item>();
  readonly windows: WindowedDistinct;
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
    this.windows = new WindowedDistinct(windowCount);
  }

  get distinct(): number {
    return this.items.size + this.overflow;
  }

  /** Records a probe to `item`; true when it is a first contact (a new item) to be resolved later. */
  addProbe(item: Item, cls: number, osSyn: boolean, nowMs: number, cap: number): boolean {
    this.probes++;
    this.lastMs = nowMs;
    if (this.items.has(item)) return false;
    this.classes.add(cls, osSyn);
    if (this.items.size >= cap) {
      this.overflow++;
      return false;
    }
    this.items.add(item);
    this.windows.add(nowMs);
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
    const w = this.windows.firstReached(t.windows, nowMs);
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
