import type { DetectionSettings } from './settings.js';
import { formatIPv4 } from '../net/address.js';
import { HyperLogLog } from './hyperloglog.js';
import { WindowState } from './window-state.js';
import { Incident, isoTime } from './incident.js';
import type { IncidentRecord } from '../model/incident.js';

/** A spoofed flood spread over a network hits at least this many distinct hosts of one /16 per window. */
const MIN_TARGETS = 64;
/** Below this many distinct sources a window is a few real senders (zmap, a busy NAT), not a spoofed flood. */
const MIN_SOURCES = 100;
const SOURCE_SKETCH_FROM = 64;

/**
 * SYNs to one IPv4 /16 within the flood window: how many, to how many hosts (a 1,024-bit bitmap), from
 * how many sources (a HyperLogLog, from the 64th SYN of a window), and how many handshakes completed.
 */
export class PrefixState extends WindowState {
  syns = 0;
  completed = 0;
  /** Made at the window's second distinct host (most prefixes see one host at a time). */
  targetBits: Uint32Array | null = null;
  firstTargetBit = -1;
  distinctTargets = 0;
  sources: HyperLogLog | null = null;
  incident: PrefixFloodIncident | null = null;
  /** Until then, a SYN into the prefix from a source not seen before is a flood member. */
  floodUntilMs = -Infinity;

  constructor(
    /** The /16 as its first address (unsigned). */
    readonly network: number,
    nowMs: number,
  ) {
    super(nowMs);
  }
}

/**
 * A SYN flood spread over many hosts of one network (what a router or a mirror port sees when spoofed
 * sources aim at a whole range): no single host crosses the per-target rate, so the per-target detector
 * would never see it, while every SYN from a new source would otherwise cost a flow, records and a
 * pending probe. Counted per IPv4 /16 in a directly indexed table (65,536 entries at most, no eviction
 * needed); a window opens or extends one flood incident per /16 when it holds at least the SYN rate of
 * `flood.synPerSecond`, to at least 64 hosts, from at least 100 sources and at least half as many
 * sources as SYNs (spoofed: each seen about once), with fewer completed handshakes than
 * `flood.maxCompletedRatio` of the SYNs (busy servers complete theirs).
 *
 * While a /16 is flooded, a SYN into it from a source not seen before in any flood is a member:
 * counted, and given no per-source state ("seen before": the engine's FloodSightings, sightings.ts).
 */
export class PrefixFloods {
  readonly #s: DetectionSettings['flood'];
  readonly #threshold: number;
  readonly #prefixes: (PrefixState | null)[] = new Array<PrefixState | null>(65_536).fill(null);
  /** Prefixes with a state (for closing their windows at the end of input). */
  readonly #active: PrefixState[] = [];

  constructor(s: DetectionSettings['flood']) {
    this.#s = s;
    this.#threshold = Math.max(1, Math.ceil((s.synPerSecond * s.windowMs) / 1000));
  }

  /** Counts a SYN from `src` to `dst` (IPv4, signed). Returns the prefix's state; `opened` tells of a new incident. */
  count(src: number, dst: number, nowMs: number): PrefixState {
    const index = dst >>> 16;
    let p = this.#prefixes[index];
    if (p === null) {
      p = new PrefixState((index << 16) >>> 0, nowMs);
      this.#prefixes[index] = p;
      this.#active.push(p);
    } else if (nowMs - p.windowStartMs >= this.#s.windowMs) this.closeWindow(p, nowMs);
    p.lastMs = nowMs;
    const n = ++p.syns;
    const bit = Math.imul(dst & 0xffff, 0x9e3779b1) >>> 22;
    if (p.distinctTargets === 0) {
      p.firstTargetBit = bit;
      p.distinctTargets = 1;
    } else if (bit !== p.firstTargetBit) {
      let bits = p.targetBits;
      if (bits === null) bits = p.targetBits = new Uint32Array(32);
      if (p.firstTargetBit >= 0) {
        bits[p.firstTargetBit >>> 5] |= 1 << (p.firstTargetBit & 31);
        p.firstTargetBit = -1;
      }
      const mask = 1 << (bit & 31);
      if ((bits[bit >>> 5] & mask) === 0) {
        bits[bit >>> 5] |= mask;
        p.distinctTargets++;
      }
    }
    if (p.sources !== null) p.sources.add(src);
    else if (n >= SOURCE_SKETCH_FROM) {
      p.sources = new HyperLogLog();
      p.sources.add(src);
    }
    if (p.incident !== null && nowMs <= p.floodUntilMs) p.incident.lastMs = nowMs;
    else if (n >= this.#threshold && (n & 255) === 0 && p.floodUntilMs < p.windowStartMs + this.#s.windowMs && this.#isFlood(p, n)) {
      // Past the rate already (checked every 256 SYNs: the sketch's estimate reads all its registers):
      // members from now on, not only from the next window, so its first window builds no state either.
      p.floodUntilMs = p.windowStartMs + this.#s.windowMs;
    }
    return p;
  }

  /** A handshake into the prefix of `dst` completed (a busy server's clients, not a flood). */
  completed(dst: number): void {
    const p = this.#prefixes[dst >>> 16];
    if (p !== null) p.completed++;
  }

  /** Incidents opened by windows that closed since the last call (usually none). */
  readonly opened: PrefixFloodIncident[] = [];

  /** Ends `p`'s window: judges it, then starts a new one at `nowMs`. An opened incident goes to `opened`. */
  closeWindow(p: PrefixState, nowMs: number): void {
    const n = p.syns;
    if (n >= this.#threshold && this.#isFlood(p, n)) {
      const sources = p.sources === null ? 0 : p.sources.estimate();
      let incident = p.incident;
      if (incident === null) {
        incident = new PrefixFloodIncident(p, p.windowStartMs);
        p.incident = incident;
        this.opened.push(incident);
      }
      incident.packets += n;
      incident.windows++;
      const rate = Math.round((n * 1000) / this.#s.windowMs);
      if (rate > incident.peakRate) incident.peakRate = rate;
      if (sources > incident.peakSources) incident.peakSources = sources;
      if (p.distinctTargets > incident.peakTargets) incident.peakTargets = p.distinctTargets;
      incident.lastMs = Math.max(incident.lastMs, p.lastMs);
      p.floodUntilMs = nowMs + 2 * this.#s.windowMs;
    }
    p.syns = 0;
    p.completed = 0;
    if (p.targetBits !== null && p.distinctTargets > 1) p.targetBits.fill(0);
    p.firstTargetBit = -1;
    p.distinctTargets = 0;
    p.sources = null;
    p.windowStartMs = nowMs;
  }

  /** The window's tests but the rate: many hosts, many sources each seen about once, few completed handshakes. */
  #isFlood(p: PrefixState, n: number): boolean {
    if (p.distinctTargets < MIN_TARGETS || p.completed >= n * this.#s.maxCompletedRatio || p.sources === null) return false;
    const sources = p.sources.estimate();
    return sources >= MIN_SOURCES && sources * 2 >= n;
  }

  /** Closes every window whose time is up (`force`: every window, at the end of input). */
  closeDue(nowMs: number, force: boolean): void {
    for (const p of this.#active) {
      if (p.syns === 0) continue;
      if (force || nowMs - p.windowStartMs >= this.#s.windowMs) this.closeWindow(p, nowMs);
    }
  }
}

/** One SYN flood against many hosts of a /16 from spoofed sources. */
export class PrefixFloodIncident extends Incident {
  readonly kind = 'flood' as const;
  packets = 0;
  windows = 0;
  peakRate = 0;
  peakSources = 0;
  peakTargets = 0;

  constructor(
    readonly prefix: PrefixState,
    startMs: number,
  ) {
    super(startMs, 'rate');
  }

  toRecord(): IncidentRecord {
    return {
      kind: 'flood',
      class: 'syn',
      'destination.ip': `${formatIPv4(this.prefix.network | 0)}/16`,
      probes: this.packets,
      first_seen: isoTime(this.firstMs),
      last_seen: isoTime(this.lastMs),
      confidence: 0.9,
      evidence: {
        trigger: 'rate',
        scope: 'prefix',
        peak_packets_per_second: this.peakRate,
        windows_over_threshold: this.windows,
        // Per window: the sketch restarts every window, so the peak is a lower bound of the whole flood's.
        distinct_sources: this.peakSources,
        distinct_targets_per_window: this.peakTargets,
        spoofed_sources: true,
        sources_sample: [],
      },
    };
  }
}
