/**
 * A fixed-size hash table of records keyed by three 32-bit words. Each slot lies in one ArrayBuffer
 * (keys, flags, a 32-bit value word, a generation, the last-seen time, and any extra words the caller
 * asked for), so a lookup touches one or two cache lines and allocates nothing. Callers keep any
 * further values in parallel arrays indexed by slot.
 *
 * A slot whose generation is 0 was never used. Records expire lazily: a slot idle longer than its idle
 * time (short or long, chosen per slot) counts as free and is reused. When every slot of a probe chain
 * is live, the least recently used one is taken over (an eviction). `lastClaim` tells the caller which
 * happened, so every limit hit is counted. A slot's generation changes with every claim, so a
 * remembered slot number can be checked later.
 */

const MAX_CHAIN = 8;
/** Words every slot has: k1, k2, k3, flags, value, generation, then lastMs as a float64 (words 6-7). */
const BASE_WORDS = 8;
const K1 = 0;
const K2 = 1;
const K3 = 2;
const FLAGS = 3;
const VALUE = 4;
const GENERATION = 5;
const LAST_MS = 3; // float64 index within the slot: bytes 24..31
const LONG = 1;

export const Claim = { fresh: 0, expired: 1, evicted: 2 } as const;

export class SlotTable {
  readonly capacity: number;
  readonly #mask: number;
  /** Words per slot (even, so the float64 stays aligned), and float64s per slot. */
  readonly #stride: number;
  readonly #fstride: number;
  readonly #words: Int32Array;
  readonly #times: Float64Array;
  readonly shortIdleMs: number;
  readonly longIdleMs: number;
  /** After `locate` found a record: its time before this touch. */
  previousMs = 0;
  /** After `locate` found none: what taking the returned slot means (Claim). */
  lastClaim = 0;

  /** `extraWords` more 32-bit words per slot for the caller (`word`, `setWord`), zeroed by `claim`. */
  constructor(slots: number, shortIdleMs: number, longIdleMs: number, extraWords = 0) {
    let capacity = 1024;
    while (capacity < slots) capacity *= 2;
    this.capacity = capacity;
    this.#mask = capacity - 1;
    this.#stride = BASE_WORDS + extraWords + (extraWords & 1);
    this.#fstride = this.#stride / 2;
    const buffer = new ArrayBuffer(capacity * this.#stride * 4);
    this.#words = new Int32Array(buffer);
    this.#times = new Float64Array(buffer);
    this.shortIdleMs = shortIdleMs;
    this.longIdleMs = longIdleMs;
  }

  /** The live record's slot (≥ 0, touched), or `-(slot + 1)` for the slot to claim. */
  locate(k1: number, k2: number, k3: number, nowMs: number): number {
    let h = Math.imul(k1 ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ k2, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ k3, 0x27d4eb2f);
    h ^= h >>> 15;
    const words = this.#words;
    const times = this.#times;
    const stride = this.#stride;
    const fstride = this.#fstride;
    const shortStale = nowMs - this.shortIdleMs;
    const longStale = nowMs - this.longIdleMs;
    let free = -1;
    let oldest = -1;
    let oldestMs = Infinity;
    for (let i = 0; i < MAX_CHAIN; i++) {
      const slot = (h + i) & this.#mask;
      const w = slot * stride;
      if (words[w + GENERATION] === 0) {
        // Never used: the chain ends here.
        if (free < 0) {
          this.lastClaim = Claim.fresh;
          return -(slot + 1);
        }
        break;
      }
      const last = times[slot * fstride + LAST_MS];
      if (last < ((words[w + FLAGS] & LONG) !== 0 ? longStale : shortStale)) {
        if (free < 0) free = slot;
        continue;
      }
      if (words[w + K1] === k1 && words[w + K2] === k2 && words[w + K3] === k3) {
        this.previousMs = last;
        if (nowMs > last) times[slot * fstride + LAST_MS] = nowMs;
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

  /** Takes a slot for a new record (short-lived, value and extra words 0) with a new generation. */
  claim(slot: number, k1: number, k2: number, k3: number, nowMs: number): void {
    const w = slot * this.#stride;
    const words = this.#words;
    words[w + K1] = k1;
    words[w + K2] = k2;
    words[w + K3] = k3;
    words[w + FLAGS] = 0;
    words[w + VALUE] = 0;
    for (let i = BASE_WORDS; i < this.#stride; i++) words[w + i] = 0;
    // Generation 0 marks a slot never used (fresh memory is zero), so it skips 0 when it wraps.
    words[w + GENERATION] = (words[w + GENERATION] + 1) | 0 || 1;
    this.#times[slot * this.#fstride + LAST_MS] = nowMs;
  }

  /** The slot's 32-bit value word (callers pack small records into it). */
  value(slot: number): number {
    return this.#words[slot * this.#stride + VALUE];
  }

  setValue(slot: number, value: number): void {
    this.#words[slot * this.#stride + VALUE] = value;
  }

  /** Extra word `i` of the slot. */
  word(slot: number, i: number): number {
    return this.#words[slot * this.#stride + BASE_WORDS + i];
  }

  setWord(slot: number, i: number, value: number): void {
    this.#words[slot * this.#stride + BASE_WORDS + i] = value;
  }

  /** When the slot was last touched. */
  lastMs(slot: number): number {
    return this.#times[slot * this.#fstride + LAST_MS];
  }

  generation(slot: number): number {
    return this.#words[slot * this.#stride + GENERATION];
  }

  /** True while `slot` still holds the record it held at `generation` and has not expired. */
  holds(slot: number, generation: number, nowMs: number): boolean {
    return this.#words[slot * this.#stride + GENERATION] === generation && this.alive(slot, nowMs);
  }

  /** True while the slot holds a record that has not expired. */
  alive(slot: number, nowMs: number): boolean {
    const w = slot * this.#stride;
    if (this.#words[w + GENERATION] === 0) return false;
    const last = this.#times[slot * this.#fstride + LAST_MS];
    return last >= nowMs - ((this.#words[w + FLAGS] & LONG) !== 0 ? this.longIdleMs : this.shortIdleMs);
  }

  /** Keeps the record for the long idle time (it holds evidence now). */
  keepLong(slot: number): void {
    this.#words[slot * this.#stride + FLAGS] |= LONG;
  }

  /** Live records at `nowMs`: a full scan, for statistics and tests, never the packet path. */
  live(nowMs: number): number {
    let n = 0;
    for (let slot = 0; slot < this.capacity; slot++) {
      const w = slot * this.#stride;
      if (this.#words[w + GENERATION] === 0) continue;
      const idle = (this.#words[w + FLAGS] & LONG) !== 0 ? this.longIdleMs : this.shortIdleMs;
      if (this.#times[slot * this.#fstride + LAST_MS] >= nowMs - idle) n++;
    }
    return n;
  }
}
