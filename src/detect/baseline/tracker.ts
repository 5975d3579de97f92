/**
 * Behavioural baselines, on packet time: per protected address, per service port of it, and for the
 * host as a whole, hourly counts of new connections, distinct sources, refused first contacts
 * (probes) and bytes, each learned against its hour of the week (series.ts). At each hour boundary
 * every metric's hour is judged and then learned, unless it was anomalous: the alerting window is
 * kept out of the baseline (for a day at most; a surge that lasts longer is the new normal).
 *
 * Hot path: per packet one byte count and a flag test; per SYN a Map lookup and a few increments.
 * The heavy work (median, MAD, z-scores) runs once per metric per hour. Memory is SERIES_BYTES per
 * metric plus a small per-key overhead, and at most `maxMetrics` metrics.
 *
 * Which addresses are protected: those that answer a SYN with a SYN-ACK (they run a service); their
 * answering ports are service ports. The host-wide metrics count everything the capture sees.
 */
import { formatIPv4, formatIPv6 } from '../../net/address.js';
import { IpProtocol, TcpFlag, type Packet } from '../../model/packet.js';
import { counterIds } from '../../model/counters.js';
import { estimateDistinct, markHashed } from '../linear-count.js';
import type { BaselineSettings } from './settings.js';
import { hourOfWeek, SeasonalSeries, SERIES_BYTES } from './series.js';
import { AnomalyIncident, type AnomalyFacts, type BaselineMetric, type MetricScope } from './anomaly-incident.js';

const HOUR_MS = 3_600_000;
/** Anomalous hours in a row after which the new level is learned: the alerting window is at most a day. */
const MAX_ALERT_HOURS = 24;
const { SYN, ACK, RST } = TcpFlag;

export const Metric = { connections: 0, sources: 1, probes: 2, bytes: 3 } as const;
const METRIC_NAMES: readonly BaselineMetric[] = ['connections', 'sources', 'probes', 'bytes'];
const SCOPE_METRICS: Readonly<Record<MetricScope, readonly number[]>> = {
  host: [Metric.connections, Metric.sources, Metric.probes, Metric.bytes],
  address: [Metric.connections, Metric.sources, Metric.probes],
  port: [Metric.connections, Metric.sources],
};
/** Bits of each key's distinct-source bitmap (linear counting: good to a few thousand sources an hour). */
const SOURCE_BITS = 1024;
/** Bytes of a key's own state beside its series: the hour's counts and the source bitmap. */
const KEY_EXTRA_BYTES = 4 * 8 + SOURCE_BITS / 8;

/** Baseline counters: `status`, metrics and the log line read them. */
export const BaselineCounterDoc = {
  metrics: 'metrics tracked now (host, protected addresses, service ports)',
  metric_bytes: 'bytes of learned state one metric holds (168 hours of the week × 8 values, and its scalars)',
  memory_bytes: 'bytes of learned state all tracked metrics hold',
  hours: 'hours judged and learned',
  anomalies: 'anomaly incidents opened',
  'limit.metrics': 'answers from an address or port left untracked because maxMetrics metrics were tracked',
} as const;
export type BaselineCounterName = keyof typeof BaselineCounterDoc;
const C = counterIds(BaselineCounterDoc);

/** One tracked place: the host, an address, or a port of an address. */
class MetricKey {
  readonly series: (SeasonalSeries | null)[] = [null, null, null, null];
  /** This hour's counts, by Metric (sources: see `sourceBits`). */
  readonly current = new Float64Array(4);
  readonly sourceBits = new Uint32Array(SOURCE_BITS / 32);
  /** Open anomaly per metric, while its hours stay anomalous. */
  readonly open: (AnomalyIncident | null)[] = [null, null, null, null];
  /** An address's service ports, by port number (small integers: V8's fastest Map keys). */
  readonly ports: Map<number, MetricKey> | null;

  constructor(
    readonly scope: MetricScope,
    readonly mapKey: number,
    readonly address: string | null,
    readonly port: string | null,
    readonly metrics: readonly number[],
  ) {
    this.ports = scope === 'address' ? new Map() : null;
  }

  static fresh(scope: MetricScope, mapKey: number, address: string | null, port: string | null): MetricKey {
    const k = new MetricKey(scope, mapKey, address, port, SCOPE_METRICS[scope]);
    for (const m of k.metrics) k.series[m] = new SeasonalSeries();
    return k;
  }

  addSource(hash: number): void {
    markHashed(this.sourceBits, SOURCE_BITS, hash);
  }

  distinctSources(): number {
    return Math.round(estimateDistinct(this.sourceBits, SOURCE_BITS));
  }

  value(m: number): number {
    return m === Metric.sources ? this.distinctSources() : this.current[m];
  }

  resetHour(): void {
    this.current.fill(0);
    this.sourceBits.fill(0);
  }

  encode(): Buffer {
    const parts: Buffer[] = [];
    for (const m of this.metrics) parts.push(this.series[m]!.encode());
    parts.push(Buffer.from(this.current.buffer.slice(0)), Buffer.from(this.sourceBits.buffer.slice(0)));
    return Buffer.concat(parts);
  }

  static decode(state: BaselineKeyState): MetricKey {
    const metrics = SCOPE_METRICS[state.scope];
    const k = new MetricKey(state.scope, state.mapKey, state.address, state.port, metrics);
    const need = metrics.length * SERIES_BYTES + KEY_EXTRA_BYTES;
    if (state.data.length !== need) throw new RangeError(`baseline ${describeKey(k)}: ${state.data.length} bytes of state, expected ${need}`);
    let o = 0;
    for (const m of metrics) {
      k.series[m] = SeasonalSeries.decode(state.data, o);
      o += SERIES_BYTES;
    }
    for (let i = 0; i < 4; i++) k.current[i] = state.data.readDoubleLE(o + i * 8);
    o += 32;
    for (let i = 0; i < k.sourceBits.length; i++) k.sourceBits[i] = state.data.readUInt32LE(o + i * 4);
    return k;
  }
}

function describeKey(k: { scope: MetricScope; address: string | null; port: string | null }): string {
  return k.scope === 'host' ? 'host' : k.scope === 'address' ? k.address! : `${k.address!}|${k.port!}`;
}

/** One tracked place's learned state, as state.db keeps it. */
export interface BaselineKeyState {
  scope: MetricScope;
  /** `host`, the address, or `address|tcp/port`: unique. */
  name: string;
  /** An address's 32-bit key (IPv4 `addr | 0`, IPv6 the decoder's hash `| 0`); a port's number; 0 for the host. */
  mapKey: number;
  address: string | null;
  port: string | null;
  data: Buffer;
}

/** Everything the baselines learned, to outlive a restart. */
export interface BaselineSnapshot {
  /** Packet time the hour being counted began (-1: nothing seen yet). */
  hourStartMs: number;
  packetsThisHour: number;
  keys: BaselineKeyState[];
}

export type AnomalyListener = (incident: AnomalyIncident) => void;

export class BaselineTracker {
  readonly settings: BaselineSettings;
  /** Indexed by BaselineCounterDoc's order. */
  readonly counters = new Float64Array(Object.keys(BaselineCounterDoc).length);
  readonly #listener: AnomalyListener;
  readonly #keys: MetricKey[] = [];
  /** Protected addresses by 32-bit key (signed, so V8 keeps them unboxed): IPv4 and IPv6 apart. */
  readonly #addresses4 = new Map<number, MetricKey>();
  readonly #addresses6 = new Map<number, MetricKey>();
  #host: MetricKey;
  #seriesCount = 0;
  #hourStartMs = -1;
  #hourEndMs = -Infinity;
  #packetsThisHour = 0;
  readonly #ewmaAlpha: number;

  constructor(settings: BaselineSettings, listener: AnomalyListener) {
    this.settings = settings;
    this.#listener = listener;
    this.#ewmaAlpha = 1 / (settings.ewmaDays * 24);
    this.#host = this.#add(MetricKey.fresh('host', 0, null, null));
    this.counters[C.metric_bytes] = SERIES_BYTES;
  }

  /** Feeds one decoded packet (the pipeline's reused one; not kept). */
  observe(p: Packet): void {
    if (!p.valid || p.ipVersion === 0) return;
    const now = p.tsUs / 1000;
    if (now >= this.#hourEndMs) this.advance(now);
    this.#packetsThisHour++;
    const host = this.#host;
    host.current[Metric.bytes] += p.ipLength;
    const proto = p.protocol;
    if (proto === IpProtocol.TCP) {
      const f = p.tcpFlags & (SYN | ACK | RST);
      if (f === SYN) this.#connection(p);
      else if (f === (SYN | ACK)) this.#service(p);
      // A refusal of a SYN: RST+ACK with sequence 0 (an aborted connection's RST carries its sequence).
      else if (f === (RST | ACK) && p.seq === 0) this.#refusal(p);
    } else if ((proto === IpProtocol.ICMP && p.ipVersion === 4 && p.icmpType === 3) || (proto === IpProtocol.ICMPV6 && p.icmpType === 1)) {
      if (p.quotedProtocol !== 0) this.#refusal(p);
    }
  }

  /**
   * Moves packet time to `nowMs`: every hour that ended is judged and learned. The daemon calls it
   * with the wall clock on a quiet host. Time never runs back.
   */
  advance(nowMs: number): void {
    if (this.#hourStartMs < 0) {
      this.#startHour(floorHour(nowMs));
      return;
    }
    while (nowMs >= this.#hourEndMs) {
      const start = this.#hourStartMs;
      // An hour without a single packet: the capture was off (or down). Nothing is learned of it.
      if (this.#packetsThisHour > 0) this.#closeHour(start);
      this.#startHour(this.#packetsThisHour > 0 ? start + HOUR_MS : floorHour(nowMs));
    }
  }

  get trackedMetrics(): number {
    return this.#seriesCount;
  }

  /** Bytes of learned state: SERIES_BYTES per metric plus each key's hour counts. */
  get memoryBytes(): number {
    return this.#seriesCount * SERIES_BYTES + this.#keys.length * KEY_EXTRA_BYTES;
  }

  counter(name: BaselineCounterName): number {
    return this.counters[C[name]];
  }

  snapshot(): BaselineSnapshot {
    return {
      hourStartMs: this.#hourStartMs,
      packetsThisHour: this.#packetsThisHour,
      keys: this.#keys.map((k) => ({ scope: k.scope, name: describeKey(k), mapKey: k.mapKey, address: k.address, port: k.port, data: k.encode() })),
    };
  }

  /**
   * Takes over a saved state (call before the first packet). A key the cap no longer allows is left
   * out. Throws RangeError on state of the wrong shape (the caller reports it and starts afresh).
   */
  restore(s: BaselineSnapshot): void {
    const keys = s.keys.map((k) => MetricKey.decode(k));
    this.#keys.length = 0;
    this.#addresses4.clear();
    this.#addresses6.clear();
    this.#seriesCount = 0;
    const host = keys.find((k) => k.scope === 'host');
    this.#host = this.#add(host ?? MetricKey.fresh('host', 0, null, null));
    const byAddress = new Map<string, MetricKey>();
    for (const k of keys) {
      if (k === host || this.#seriesCount + k.metrics.length > this.settings.maxMetrics) continue;
      if (k.scope === 'address') byAddress.set(k.address!, this.#add(k));
      else if (k.scope === 'port') {
        const parent = byAddress.get(k.address!);
        if (parent !== undefined) this.#add(k, parent); // an address always precedes its ports
      }
    }
    if (s.hourStartMs >= 0) this.#startHour(s.hourStartMs);
    this.#packetsThisHour = s.packetsThisHour;
  }

  // ---- the hot path ------------------------------------------------------------------------------

  #connection(p: Packet): void {
    const srcHash = p.ipVersion === 4 ? p.src4 : p.src6Hash;
    const host = this.#host;
    host.current[Metric.connections]++;
    host.addSource(srcHash);
    const address = p.ipVersion === 4 ? this.#addresses4.get(p.dst4 | 0) : this.#addresses6.get(p.dst6Hash | 0);
    if (address === undefined) return;
    address.current[Metric.connections]++;
    address.addSource(srcHash);
    const port = address.ports!.get(p.dstPort);
    if (port === undefined) return;
    port.current[Metric.connections]++;
    port.addSource(srcHash);
  }

  #refusal(p: Packet): void {
    this.#host.current[Metric.probes]++;
    const address = p.ipVersion === 4 ? this.#addresses4.get(p.src4 | 0) : this.#addresses6.get(p.src6Hash | 0);
    if (address !== undefined) address.current[Metric.probes]++;
  }

  /** A SYN-ACK: its sender runs a service on its source port; both are tracked from now on. */
  #service(p: Packet): void {
    const addressKey = (p.ipVersion === 4 ? p.src4 : p.src6Hash) | 0;
    let address = p.ipVersion === 4 ? this.#addresses4.get(addressKey) : this.#addresses6.get(addressKey);
    if (address?.ports!.has(p.srcPort) === true) return;
    const need = SCOPE_METRICS.port.length + (address === undefined ? SCOPE_METRICS.address.length : 0);
    if (this.#seriesCount + need > this.settings.maxMetrics) {
      this.counters[C['limit.metrics']]++;
      return;
    }
    const text = p.ipVersion === 4 ? formatIPv4(p.src4) : formatIPv6(p.buf, p.src6Offset);
    address ??= this.#add(MetricKey.fresh('address', addressKey, text, null));
    this.#add(MetricKey.fresh('port', p.srcPort, text, `tcp/${p.srcPort}`), address);
  }

  // ---- once an hour ------------------------------------------------------------------------------

  /** Tracks `k`; a port under its address `parent`. */
  #add(k: MetricKey, parent: MetricKey | null = null): MetricKey {
    this.#keys.push(k);
    if (k.scope === 'address') (k.address!.includes(':') ? this.#addresses6 : this.#addresses4).set(k.mapKey, k);
    else if (k.scope === 'port') parent!.ports!.set(k.mapKey, k);
    this.#seriesCount += k.metrics.length;
    this.counters[C.metrics] = this.#seriesCount;
    this.counters[C.memory_bytes] = this.memoryBytes;
    return k;
  }

  #startHour(startMs: number): void {
    this.#hourStartMs = startMs;
    this.#hourEndMs = startMs + HOUR_MS;
    this.#packetsThisHour = 0;
  }

  #closeHour(startMs: number): void {
    const s = this.settings;
    const bucket = hourOfWeek(startMs);
    const endMs = startMs + HOUR_MS;
    const found: { key: MetricKey; metric: number; facts: AnomalyFacts }[] = [];
    for (const key of this.#keys) {
      for (const m of key.metrics) {
        const series = key.series[m]!;
        const value = key.value(m);
        let anomalous = false;
        // Most hours of most metrics are below the floor: they are only learned, never scored.
        if (value >= (m === Metric.bytes ? s.minBytes : s.minCount) && series.learned >= s.warmupHours && series.filled[bucket] >= s.minSamples) {
          const e = series.expect(bucket);
          const z = SeasonalSeries.zScore(value, e);
          if (value >= s.ratio * e.median && z >= s.minZ) {
            anomalous = true;
            const facts: AnomalyFacts = { metric: METRIC_NAMES[m], scope: key.scope, address: key.address, port: key.port, hourOfWeek: bucket, observed: value, expected: e.median, mad: e.mad, ewma: series.ewma, z, samples: e.samples };
            found.push({ key, metric: m, facts });
          }
        }
        const run = key.open[m]?.hours ?? 0;
        if (!anomalous || run >= MAX_ALERT_HOURS) series.learn(bucket, value, this.#ewmaAlpha);
        if (!anomalous) key.open[m] = null;
      }
      key.resetHour();
    }
    this.counters[C.hours]++;
    // One cause, one incident: a port's surge also lifts its address and the host; the most specific
    // metric reports it (the wider ones are still kept out of learning).
    const specific = new Set<string>();
    for (const f of found) if (f.key.scope === 'port') specific.add(`${f.key.address!}|${f.metric}`);
    for (const f of found) if (f.key.scope !== 'host') specific.add(`*|${f.metric}`);
    for (const f of found) {
      if (f.key.scope === 'address' && specific.has(`${f.key.address!}|${f.metric}`)) continue;
      if (f.key.scope === 'host' && specific.has(`*|${f.metric}`)) continue;
      const open = f.key.open[f.metric];
      if (open !== null) {
        open.extend(f.facts, endMs);
        continue;
      }
      const incident = new AnomalyIncident(f.facts, startMs, endMs);
      f.key.open[f.metric] = incident;
      this.counters[C.anomalies]++;
      this.#listener(incident);
    }
  }
}

function floorHour(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}
