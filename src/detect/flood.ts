import type { DetectionSettings } from './settings.js';
import { HyperLogLog } from './hyperloglog.js';
import { Incident, compareAddressKeys, isoTime } from './incident.js';
import { formatAddressKey, formatPortKey, type AddressKey, type IncidentRecord } from '../model/incident.js';
import type { DistributedState } from './distributed-scan.js';

export const FloodClass = { syn: 0, udp: 1, icmp: 2 } as const;
const FLOOD_CLASS_NAMES = ['syn', 'udp', 'icmp'] as const;
type FloodClassName = (typeof FLOOD_CLASS_NAMES)[number];

/** Start counting sources once a window holds this many flood-class packets. */
const SOURCE_SKETCH_FROM = 64;
const SOURCE_SAMPLE = 10;

/** Distinct sources sending flood-class packets to one target: a sketch and a small sample. */
export class FloodSources {
  readonly sketch = new HyperLogLog();
  readonly sample: AddressKey[] = [];

  add(source: AddressKey, hash: number): void {
    this.sketch.add(hash);
    if (this.sample.length < SOURCE_SAMPLE && !this.sample.includes(source)) this.sample.push(source);
  }
}

/**
 * Everything portwarden tracks per protected/targeted address: packet rates in fixed windows (floods)
 * and the failed-probe map of distributed scans.
 */
export class TargetState {
  lastMs: number;
  windowStartMs: number;
  // A plain array, not a typed one: a TargetState is made for every host a SYN reaches, and each typed
  // array is an ArrayBuffer of its own to allocate and collect.
  readonly counts: number[] = [0, 0, 0];
  synCompleted = 0;
  /** UDP flows to this target it answered, this window: a busy server, not a flood. */
  udpAnswered = 0;
  /** 1,024-bit port bitmap of the current window: distinct ports, approximately, without allocation. */
  portBits: Uint32Array | null = null;
  /** Bit of the window's first port, while it is the only one (the bitmap is made at the second). */
  firstPortBit = -1;
  distinctPorts = 0;
  lastPortKey = -1;
  sources: FloodSources | null = null;
  readonly floods: (FloodIncident | null)[] = [null, null, null];
  /** Until then, a first contact from an unknown source is a flood member, not a new source to track. */
  floodUntilMs = -Infinity;
  /**
   * Until then, a first contact from an unknown source is counted as a flood member and given no
   * state: `floodUntilMs`, or the end of a window that has already passed the flood rate (so a flood's
   * first window does not build state for every one of its sources before it is judged).
   */
  memberUntilMs = -Infinity;
  distributed: DistributedState | null = null;
  /** The first failed probe of the target, until a second one makes `distributed` (engine). */
  firstFailureSource: AddressKey | null = null;
  firstFailurePort = 0;
  firstFailureClass = 0;
  firstFailureMs = 0;
  /** Creation order among targets (the engine expires idle targets in this order). */
  sequence = 0;

  constructor(
    readonly key: AddressKey,
    nowMs: number,
  ) {
    this.lastMs = nowMs;
    this.windowStartMs = nowMs;
  }
}

/** Counts flood-class packets per target and window, and opens a flood incident per target and class. */
export class FloodDetector {
  readonly #s: DetectionSettings['flood'];
  readonly #thresholds: Uint32Array;

  constructor(s: DetectionSettings['flood']) {
    this.#s = s;
    const perWindow = (perSecond: number) => Math.max(1, Math.ceil((perSecond * s.windowMs) / 1000));
    this.#thresholds = Uint32Array.of(perWindow(s.synPerSecond), perWindow(s.udpPerSecond), perWindow(s.icmpPerSecond));
  }

  /**
   * Counts one packet of class `cls` to `t`. Returns an incident that opened when the previous window
   * closed over a threshold, else null. `source` may be 0 when nobody asked for it (cheap path).
   */
  count(t: TargetState, cls: number, portKey: number, source: AddressKey, sourceHash: number, nowMs: number): FloodIncident | null {
    let opened: FloodIncident | null = null;
    if (nowMs - t.windowStartMs >= this.#s.windowMs) opened = this.closeWindow(t, nowMs);
    t.lastMs = nowMs;
    const n = ++t.counts[cls];
    const bit = (portKey * 0x9e3779b1) >>> 22;
    if (t.distinctPorts === 0) {
      t.firstPortBit = bit;
      t.distinctPorts = 1;
    } else if (bit !== t.firstPortBit || t.distinctPorts > 1) {
      let bits = t.portBits;
      if (bits === null) bits = t.portBits = new Uint32Array(32);
      if (t.distinctPorts === 1 && t.firstPortBit >= 0) {
        bits[t.firstPortBit >>> 5] |= 1 << (t.firstPortBit & 31);
        t.firstPortBit = -1;
      }
      const word = bit >>> 5;
      const mask = 1 << (bit & 31);
      if ((bits[word] & mask) === 0) {
        bits[word] |= mask;
        t.distinctPorts++;
      }
    }
    t.lastPortKey = portKey;
    if (t.sources !== null) t.sources.add(source, sourceHash);
    else if (n >= SOURCE_SKETCH_FROM) {
      t.sources = new FloodSources();
      t.sources.add(source, sourceHash);
    }
    const open = t.floods[cls];
    if (open !== null && nowMs <= t.floodUntilMs) open.lastMs = nowMs;
    else if (n >= this.#thresholds[cls] && t.memberUntilMs < t.windowStartMs + this.#s.windowMs && this.#overRate(t, cls, n)) {
      t.memberUntilMs = t.windowStartMs + this.#s.windowMs;
    }
    return opened;
  }

  /** Whether `n` packets of class `cls` in `t`'s window so far look like a flood (the window's tests but the rate). */
  #overRate(t: TargetState, cls: number, n: number): boolean {
    const s = this.#s;
    if (t.distinctPorts > Math.max(1, n * s.maxPortRatio)) return false;
    if (cls === FloodClass.syn && t.synCompleted >= n * s.maxCompletedRatio) return false;
    if (cls === FloodClass.udp && t.udpAnswered >= n * s.maxCompletedRatio) return false;
    return true;
  }

  /**
   * Whether `t`'s window has ended with enough packets of some class to open or extend a flood: the
   * live clock closes such a window itself, so a flood that stops is reported without a next packet.
   */
  windowDue(t: TargetState, nowMs: number): boolean {
    if (nowMs - t.windowStartMs < this.#s.windowMs) return false;
    for (let cls = 0; cls < 3; cls++) if (t.counts[cls] >= this.#thresholds[cls]) return true;
    return false;
  }

  /** Ends the current window of `t`: judges its rates, then starts a new one at `nowMs`. */
  closeWindow(t: TargetState, nowMs: number): FloodIncident | null {
    let opened: FloodIncident | null = null;
    const s = this.#s;
    for (let cls = 0; cls < 3; cls++) {
      const n = t.counts[cls];
      if (n < this.#thresholds[cls]) continue;
      if (t.distinctPorts > Math.max(1, n * s.maxPortRatio)) continue;
      if (cls === FloodClass.syn && t.synCompleted >= n * s.maxCompletedRatio) continue;
      if (cls === FloodClass.udp && t.udpAnswered >= n * s.maxCompletedRatio) continue;
      const rate = Math.round((n * 1000) / s.windowMs);
      let incident = t.floods[cls];
      if (incident === null) {
        incident = new FloodIncident(t, FLOOD_CLASS_NAMES[cls], t.windowStartMs);
        t.floods[cls] = incident;
        opened = incident;
      }
      incident.packets += n;
      incident.windows++;
      if (rate > incident.peakRate) incident.peakRate = rate;
      incident.lastMs = Math.max(incident.lastMs, t.lastMs);
      if (t.distinctPorts === 1) incident.portKey = t.lastPortKey;
      else incident.portKey = -1;
      t.floodUntilMs = nowMs + 2 * s.windowMs;
      if (t.memberUntilMs < t.floodUntilMs) t.memberUntilMs = t.floodUntilMs;
    }
    t.counts[0] = 0;
    t.counts[1] = 0;
    t.counts[2] = 0;
    if (t.portBits !== null && t.distinctPorts > 1) t.portBits.fill(0);
    t.firstPortBit = -1;
    t.distinctPorts = 0;
    t.synCompleted = 0;
    t.udpAnswered = 0;
    t.windowStartMs = nowMs;
    return opened;
  }
}

export class FloodIncident extends Incident {
  readonly kind = 'flood' as const;
  packets = 0;
  windows = 0;
  peakRate = 0;
  portKey = -1;

  constructor(
    readonly target: TargetState,
    readonly floodClass: FloodClassName,
    startMs: number,
  ) {
    super(startMs, 'rate');
  }

  toRecord(): IncidentRecord {
    const sources = this.target.sources;
    const distinct = sources === null ? 0 : Math.max(sources.sample.length, sources.sketch.estimate());
    const single = sources !== null && sources.sample.length === 1 && distinct <= 1;
    const record: IncidentRecord = {
      kind: 'flood',
      class: this.floodClass,
      'destination.ip': formatAddressKey(this.target.key),
      probes: this.packets,
      first_seen: isoTime(this.firstMs),
      last_seen: isoTime(this.lastMs),
      confidence: 0.95,
      evidence: {
        trigger: 'rate',
        peak_packets_per_second: this.peakRate,
        windows_over_threshold: this.windows,
        distinct_sources: distinct,
        spoofed_sources: distinct >= 100,
        sources_sample: sources === null ? [] : [...sources.sample].sort(compareAddressKeys).map(formatAddressKey),
      },
    };
    if (single && sources !== null) record['source.ip'] = formatAddressKey(sources.sample[0]);
    if (this.portKey >= 0) record['destination.port'] = formatPortKey(this.portKey);
    return record;
  }
}
