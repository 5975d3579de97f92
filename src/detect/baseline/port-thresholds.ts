/**
 * Dynamic sweep thresholds (`baseline.dynamicThresholds`): each port learns how many hosts its
 * sources reach, and its sweep threshold rises to the count that at most `falsePositiveRate` of them
 * reach. A busy port whose normal clients contact many hosts with some failures (health checkers, mail
 * relays to a cluster, peer-to-peer) stops raising sweeps, while a sweep past its clients' habits is
 * still one. The static thresholds are the floor; a port adapts only after 1 / falsePositiveRate
 * sources, so the rate means something.
 *
 * Hot path: one Map lookup and one increment per new (source, port, host) contact. Memory: MAX_PORTS
 * histograms of MAX_REACH + 1 counts (about 1 MB); ports past that keep the static thresholds
 * (counted). Learned in packet time, in memory (a restart relearns them).
 */
import type { ContactThresholds } from '../contact-evidence.js';

/** Host counts a histogram tells apart; a port needs at least this many hosts per source to adapt further. */
export const MAX_REACH = 64;
const MAX_PORTS = 4_096;
/** Counts are halved past this, so a long run follows the present (and a Uint32 never wraps). */
const HALVE_AT = 1 << 24;

interface Cached {
  /** Sources seen when it was computed: recomputed when that grows by 1%. */
  sources: number;
  thresholds: ContactThresholds;
}

export class PortThresholds {
  readonly falsePositiveRate: number;
  /** Per port key: [k] = sources that reached k distinct hosts (k = 1 … MAX_REACH). */
  readonly #reach = new Map<number, Uint32Array>();
  readonly #cache = new Map<number, Cached>();
  /** Contacts of ports not learned because MAX_PORTS were. */
  untracked = 0;

  constructor(falsePositiveRate: number) {
    this.falsePositiveRate = falsePositiveRate;
  }

  get ports(): number {
    return this.#reach.size;
  }

  /** A source's sweep record on `portKey` has reached `hosts` distinct hosts. */
  reached(portKey: number, hosts: number): void {
    if (hosts > MAX_REACH) return;
    let r = this.#reach.get(portKey);
    if (r === undefined) {
      if (this.#reach.size >= MAX_PORTS) {
        this.untracked++;
        return;
      }
      r = new Uint32Array(MAX_REACH + 1);
      this.#reach.set(portKey, r);
    }
    if (++r[hosts] >= HALVE_AT) for (let k = 1; k <= MAX_REACH; k++) r[k] >>>= 1;
  }

  /** The sweep thresholds of `portKey`: `base`, or raised to what its normal sources stay under. */
  sweep(portKey: number, base: ContactThresholds): ContactThresholds {
    const r = this.#reach.get(portKey);
    if (r === undefined || r[1] * this.falsePositiveRate < 1) return base;
    const cached = this.#cache.get(portKey);
    if (cached !== undefined && r[1] < cached.sources * 1.01 + 1) return cached.thresholds;
    const k = this.hostsFor(portKey, base.minimum);
    const thresholds = k === base.minimum ? base : { minimum: k, windows: base.windows.map((w) => ({ windowMs: w.windowMs, count: Math.max(w.count, k) })), minFailureRatio: base.minFailureRatio };
    this.#cache.set(portKey, { sources: r[1], thresholds });
    return thresholds;
  }

  /** Fewest hosts, at least `floor`, that at most falsePositiveRate of the port's sources reached. */
  hostsFor(portKey: number, floor: number): number {
    const r = this.#reach.get(portKey);
    if (r === undefined) return floor;
    const allowed = this.falsePositiveRate * r[1];
    let k = floor;
    while (k < MAX_REACH && r[k] > allowed) k++;
    return k;
  }
}
