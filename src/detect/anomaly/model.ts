/**
 * A robust, diagonal Mahalanobis score, hand-written: each feature's median and MAD over a reservoir
 * sample of the sources this host has seen, a one-sided robust z per feature (only "more than usual"
 * counts: more ports, more failures, more regular), and the score is the root mean square of those. The
 * spread of each feature has a floor, so a history where every source looks the same (MAD 0) does not
 * make any difference infinite. No npm library: fifty lines, no dependencies, deterministic.
 */
import { FEATURE_COUNT } from './features.js';

/** Least spread per feature: 0.5 on log counts (about x1.6), 0.1 on shares, 0.5 on the log TTL spread. */
const SCALE_FLOOR = [0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.5];
const MAD_SCALE = 1.4826;

export interface Score {
  score: number;
  /** Per-feature one-sided robust z. */
  z: Float64Array;
}

export class RobustModel {
  readonly #history: Float64Array[] = [];
  readonly #capacity: number;
  /** Seen so far (the reservoir keeps each with probability capacity / seen). */
  #seen = 0;
  #rng = 0x9e3779b9;
  #median = new Float64Array(FEATURE_COUNT);
  #scale = new Float64Array(FEATURE_COUNT).fill(1);
  #dirty = true;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get trained(): number {
    return this.#history.length;
  }

  /** An independent copy (an evaluation scores each capture from the same trained state). */
  clone(): RobustModel {
    const m = new RobustModel(this.#capacity);
    for (const v of this.#history) m.#history.push(v);
    m.#seen = this.#seen;
    m.#rng = this.#rng;
    return m;
  }

  /** Adds a source's features to the history (reservoir sampling, deterministic). */
  learn(v: Float64Array): void {
    this.#seen++;
    if (this.#history.length < this.#capacity) this.#history.push(v);
    else {
      this.#rng = (Math.imul(this.#rng, 1664525) + 1013904223) >>> 0;
      const j = this.#rng % this.#seen;
      if (j < this.#capacity) this.#history[j] = v;
    }
    this.#dirty = true;
  }

  score(v: Float64Array): Score {
    if (this.#dirty) this.#fit();
    const z = new Float64Array(FEATURE_COUNT);
    let sum = 0;
    for (let i = 0; i < FEATURE_COUNT; i++) {
      z[i] = Math.max(0, (v[i] - this.#median[i]) / this.#scale[i]);
      sum += z[i] * z[i];
    }
    return { score: Math.sqrt(sum / FEATURE_COUNT), z };
  }

  #fit(): void {
    const n = this.#history.length;
    const column = new Float64Array(n);
    for (let i = 0; i < FEATURE_COUNT; i++) {
      for (let j = 0; j < n; j++) column[j] = this.#history[j][i];
      column.sort();
      const median = n === 0 ? 0 : column[n >> 1];
      for (let j = 0; j < n; j++) column[j] = Math.abs(column[j] - median);
      column.sort();
      const mad = n === 0 ? 0 : column[n >> 1];
      this.#median[i] = median;
      this.#scale[i] = Math.max(MAD_SCALE * mad, SCALE_FLOOR[i]);
    }
    this.#dirty = false;
  }
}
