/**
 * A fixed-size hash table of records keyed by three 32-bit words, in typed arrays: no allocation per
 * lookup and keys stored inline, so a lookup costs one or two cache lines. Callers keep their values in
 * parallel arrays indexed by slot.
 *
 * Records expire lazily: a slot idle longer than its idle time (short or long, chosen per slot) counts
 * as free and is reused. When every slot of a probe chain is live, the least recently used one is taken
 * over (an eviction). `lastClaim` tells the caller which happened, so every limit hit is counted.
 */

const MAX_CHAIN = 8;

export const Claim = { fresh: 0, expired: 1, evicted: 2 } as const;

export class SlotTable {
  readonly capacity: number;
  readonly #mask: number;
  readonly #k1: Int32Array;
  readonly #k2: Int32Array;
  readonly #k3: Int32Array;
  readonly #lastMs: Float64Array;
  /** 1: the slot keeps for `longIdleMs` (it holds evidence), 0: for `shortIdleMs`. */
  readonly long: Uint8Array;
  readonly shortIdleMs: number;
  readonly longIdleMs: number;
  /** After `locate` found a record: its time before this touch. */
  previousMs = 0;
  /** After `locate` found none: what taking the returned slot means (Claim). */
  lastClaim = 0;

  constructor(slots: number, shortIdleMs: number, longIdleMs: number) {
    let capacity = 1024;
    while (capacity < slots) capacity *= 2;
    this.capacity = capacity;
    this.#mask = capacity - 1;
    this.#k1 = new Int32Array(capacity);
    this.#k2 = new Int32Array(capacity);
    this.#k3 = new Int32Array(capacity);
    this.#lastMs = new Float64Array(capacity).fill(-Infinity);
    this.long = new Uint8Array(capacity);
    this.shortIdleMs = shortIdleMs;
    this.longIdleMs = longIdleMs;
  }

  /** The live record's slot (≥ 0, touched), or `-(slot + 1)` for the slot to claim. */
  locate(k1: number, k2: number, k3: number, nowMs: number): number {
    let h = Math.imul(k1 ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ k2, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ k3, 0x27d4eb2f);
    h ^= h >>> 15;
    const shortStale = nowMs - this.shortIdleMs;
    const longStale = nowMs - this.longIdleMs;
    let free = -1;
    let oldest = -1;
    let oldestMs = Infinity;
    for (let i = 0; i < MAX_CHAIN; i++) {
      const slot = (h + i) & this.#mask;
      const last = this.#lastMs[slot];
      if (last === -Infinity) {
        // Never used: the chain ends here.
        if (free < 0) {
          this.lastClaim = Claim.fresh;
          return -(slot + 1);
        }
        break;
      }
      if (last < (this.long[slot] === 1 ? longStale : shortStale)) {
        if (free < 0) free = slot;
        continue;
      }
      if (this.#k1[slot] === k1 && this.#k2[slot] === k2 && this.#k3[slot] === k3) {
        this.previousMs = last;
        if (nowMs > last) this.#lastMs[slot] = nowMs;
        return slot;
      }
      if (last < oldestMs) {
        oldestMs = last;
        oldest = slot;
      }
    }
    if (free >= 0) {
      this.lastClaim = Claim.expired;
      return -(free + 1);
    }
    this.lastClaim = Claim.evicted;
    return -(oldest + 1);
  }

  claim(slot: number, k1: number, k2: number, k3: number, nowMs: number): void {
    this.#k1[slot] = k1;
    this.#k2[slot] = k2;
    this.#k3[slot] = k3;
    this.#lastMs[slot] = nowMs;
    this.long[slot] = 0;
  }

  /** Live records at `nowMs`: a full scan, for statistics and tests, never the packet path. */
  live(nowMs: number): number {
    let n = 0;
    for (let slot = 0; slot < this.capacity; slot++) {
      const last = this.#lastMs[slot];
      if (last !== -Infinity && last >= nowMs - (this.long[slot] === 1 ? this.longIdleMs : this.shortIdleMs)) n++;
    }
    return n;
  }
}
