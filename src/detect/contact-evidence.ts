import type { WindowThreshold } from './settings.js';
import { contactClass, contactCompleted, contactOsSyn, contactOutcome, contactReset, Outcome } from './first-contact.js';
import { ClassCounts, type Incident } from './incident.js';
import { type AddressKey } from '../model/incident.js';
import type { TrwModel } from './trw.js';
import { firstWindowReached } from './windowed-count.js';
import { TOOL_NAMES, Tool, ToolVotes } from './tool-attribution.js';
import type { IncidentRecord } from '../model/incident.js';

export interface ContactThresholds {
  /** Fewest distinct items before any incident. */
  minimum: number;
  windows: WindowThreshold[];
  minFailureRatio: number;
}

/** Largest IP ID step between a zombie's resets: other traffic (the scanner's probes of it) advances its counter too. */
const ZOMBIE_MAX_STEP = 1024;

/** Items kept for the incident's sample: the smallest, in order. */
const SAMPLE_SIZE = 20;

/**
 * The ports and hosts all records together may remember (first-seen times and, for (source, target)
 * records past the sample, the items themselves): one budget, so memory stays bounded however the
 * items are spread. Past it items are counted, not remembered (`limit.items`).
 */
export class ItemBudget {
  constructor(public remaining: number) {}

  /** Gives back what a forgotten record remembered. */
  release(remembered: number): void {
    this.remaining += remembered;
  }
}

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
   * answers; past that a set does, as long as the item budget lasts (past it, repeats count as new).
   */
  readonly #dedup: boolean;
  #seen: Set<Item> | null = null;
  distinct = 0;
  /** Items charged to the budget. */
  remembered = 0;
  readonly #budget: ItemBudget;
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
  /**
   * IP IDs of the source's resets of half-open connections: a host with one global, incrementing IP ID
   * counter (an idle scan's zombie, whose address the real scanner puts on its probes) resets the
   * target's SYN-ACKs with IDs a few steps apart.
   */
  #lastResetId = -1;
  #resetIds = 0;
  #resetIdSteps = 0;
  /** Tool traits of the first contacts since the record got evidence (tool-attribution.ts). */
  tools: ToolVotes | null = null;

  constructor(
    source: AddressKey,
    subject: AddressKey,
    firstMs: number,
    windowCount: number,
    compare: (a: Item, b: Item) => number,
    dedup: boolean,
    budget: ItemBudget,
  ) {
    super();
    this.#budget = budget;
    this.#dedup = dedup;
    this.#starts = new Array<number>(windowCount).fill(0);
    this.source = source;
    this.subject = subject;
    this.firstMs = firstMs;
    this.lastMs = firstMs;
    this.#compare = compare;
  }

  /**
   * Replays a first contact that was packed (first-contact.ts) to `item`, dated `datedMs`: the item, its
   * outcome so far and its handshake.
   */
  replay(packed: number, item: Item, datedMs: number, trw: TrwModel): void {
    if (!this.addItem(item, contactClass(packed), contactOsSyn(packed), datedMs)) return;
    const outcome = contactOutcome(packed);
    if (outcome !== Outcome.unknown) this.recordOutcome(outcome === Outcome.success, trw);
    if (contactCompleted(packed)) this.completed++;
    if (contactReset(packed)) this.halfOpenResets++;
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
    budget: ItemBudget,
  ): ContactEvidence<Item> {
    const e = new ContactEvidence<Item>(source, subject, datedMs, windowCount, compare, false, budget);
    e.addItem(first, cls, osSyn, datedMs);
    for (let i = 1; i < hosts; i++) {
      e.probes++;
      e.distinct++;
      e.add(cls, osSyn);
      if (budget.remaining > 0) {
        budget.remaining--;
        e.remembered++;
        e.#times.push(datedMs);
      }
    }
    for (let i = 0; i < successes; i++) e.recordOutcome(true, trw);
    for (let i = 0; i < failures; i++) e.recordOutcome(false, trw);
    return e;
  }

  /** A first contact to a new item; false when the budget was spent and it is only counted. */
  addItem(item: Item, cls: number, osSyn: boolean, nowMs: number): boolean {
    this.probes++;
    this.distinct++;
    if (nowMs > this.lastMs) this.lastMs = nowMs;
    this.add(cls, osSyn);
    const remembered = this.#budget.remaining > 0;
    if (remembered) {
      this.#budget.remaining--;
      this.remembered++;
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
    return remembered;
  }

  /** Whether `item` was counted already (records that deduplicate only). */
  has(item: Item): boolean {
    if (this.#seen !== null) return this.#seen.has(item);
    const sample = this.sample;
    for (let i = 0; i < sample.length; i++) if (sample[i] === item) return true;
    return false;
  }

  /**
   * The record is forgotten: drops what only judging new contacts needs (the dedup set, the first-seen
   * times), keeping what an incident's record shows. An analysis keeps its incidents to the end, so
   * without this each would keep its scan's every port.
   */
  shed(): void {
    this.#seen = null;
    this.#times.length = 0;
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

  /** The source reset a half-open connection with a packet of IP ID `id`. */
  resetId(id: number): void {
    if (this.#lastResetId >= 0) {
      const step = (id - this.#lastResetId) & 0xffff;
      if (step >= 1 && step <= ZOMBIE_MAX_STEP) this.#resetIdSteps++;
    }
    this.#lastResetId = id;
    this.#resetIds++;
  }

  /**
   * Whether the source answers like an idle scan's zombie: at least three resets, nearly all a small
   * step after the one before (a global counter). Linux, Windows and the BSDs' defaults but FreeBSD's
   * send resets with ID 0 or per-destination random IDs, so a scanner's own kernel does not look so.
   */
  zombie(): boolean {
    return this.#resetIds >= 3 && this.#resetIdSteps >= 0.8 * (this.#resetIds - 1);
  }

  /** Counts the tool trait of a first contact (Tool.none when it carries none). */
  vote(trait: number, srcPort: number): void {
    (this.tools ??= new ToolVotes()).add(trait, srcPort);
  }

  /** Names the tool on `record` when the traits agree (`threat.software.name` and `evidence.attribution`). */
  attribute(record: IncidentRecord): IncidentRecord {
    const tool = this.tools === null ? Tool.none : this.tools.decide();
    if (tool !== Tool.none && this.tools !== null) {
      record['threat.software.name'] = TOOL_NAMES[tool];
      record.evidence.attribution = this.tools.evidence(tool);
    }
    return record;
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
