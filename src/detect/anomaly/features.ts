/**
 * What the anomaly model knows of one source: counters updated per probe-like packet it sends and per
 * answer it gets, in fixed memory (about 200 bytes), turned into a feature vector when it is scored.
 * Larger values of every feature look more like reconnaissance, so the model scores one-sided.
 */
import { estimateDistinct, markHashed } from '../linear-count.js';

export const FEATURE_NAMES = ['ports', 'hosts', 'probes', 'failure_ratio', 'regularity', 'odd_flags', 'ttl_spread'] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];
export const FEATURE_COUNT = FEATURE_NAMES.length;

const PORT_BITS = 512;
const HOST_BITS = 256;

export class SourceProfile {
  readonly ports = new Uint32Array(PORT_BITS / 32);
  readonly hosts = new Uint32Array(HOST_BITS / 32);
  probes = 0;
  successes = 0;
  oddFlags = 0;
  firstMs = 0;
  lastMs = 0;
  /** Welford's running mean and M2 of the gaps between probes. */
  gapMean = 0;
  gapM2 = 0;
  gaps = 0;
  ttlMin = 255;
  ttlMax = 0;

  constructor(readonly source: string, nowMs: number) {
    this.firstMs = nowMs;
    this.lastMs = nowMs;
  }

  probe(dstKey: number, portKey: number, odd: boolean, ttl: number, nowMs: number): void {
    if (this.probes > 0) {
      const gap = nowMs - this.lastMs;
      this.gaps++;
      const d = gap - this.gapMean;
      this.gapMean += d / this.gaps;
      this.gapM2 += d * (gap - this.gapMean);
    }
    this.probes++;
    if (odd) this.oddFlags++;
    markHashed(this.ports, PORT_BITS, portKey);
    markHashed(this.hosts, HOST_BITS, dstKey);
    if (ttl < this.ttlMin) this.ttlMin = ttl;
    if (ttl > this.ttlMax) this.ttlMax = ttl;
    this.lastMs = nowMs;
  }

  /** The features, in FEATURE_NAMES order: counts on a log scale, shares as they are. */
  vector(): Float64Array {
    const v = new Float64Array(FEATURE_COUNT);
    v[0] = Math.log1p(estimateDistinct(this.ports, PORT_BITS));
    v[1] = Math.log1p(estimateDistinct(this.hosts, HOST_BITS));
    v[2] = Math.log1p(this.probes);
    v[3] = 1 - Math.min(1, this.successes / this.probes);
    // 1 for a metronome (a tool's fixed rate), towards 0 for a person's bursts.
    const sd = this.gaps > 1 ? Math.sqrt(this.gapM2 / (this.gaps - 1)) : 0;
    v[4] = this.gaps > 1 && this.gapMean > 0 ? 1 / (1 + sd / this.gapMean) : 0;
    v[5] = this.oddFlags / this.probes;
    v[6] = Math.log1p(Math.max(0, this.ttlMax - this.ttlMin));
    return v;
  }
}
