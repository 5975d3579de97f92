/**
 * Bits of each generation of the first-sighting filter (512 KiB), two hash functions: at 50,000 new
 * sources a window about 0.06% of them look seen before (and are tracked like any source); at 2^20
 * bits it was 1%, enough for the tracked ones to fill the target table in a long flood.
 */
const SEEN_BITS = 1 << 22;
const SEEN_SHIFT = 32 - 22;

/**
 * Which sources sent a flood-class probe before, while some target or prefix is flooded: a filter of
 * two generations of 2^22 bits (one generation per flood window, allocated at the first question).
 * A spoofed flood's sources are each seen about once and stay members (no per-source state); a source
 * that sends again (a real scanner of the flooded host, a client retrying) is tracked as usual from
 * its second probe. A false positive (about 0.06% at 50,000 sources a window) only means a member is
 * tracked like any source.
 */
export class FloodSightings {
  readonly #windowMs: number;
  #seen: Int32Array | null = null;
  #seenBefore: Int32Array | null = null;
  #windowStartMs = -Infinity;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** True when `src` (an IPv4 address or IPv6 fold, signed) was seen within the last two windows; marks it seen. */
  seenBefore(src: number, nowMs: number): boolean {
    if (this.#seen === null || this.#seenBefore === null) {
      this.#seen = new Int32Array(SEEN_BITS >>> 5);
      this.#seenBefore = new Int32Array(SEEN_BITS >>> 5);
      this.#windowStartMs = nowMs;
    } else if (nowMs - this.#windowStartMs >= this.#windowMs) {
      const older = this.#seenBefore;
      older.fill(0);
      this.#seenBefore = this.#seen;
      this.#seen = older;
      this.#windowStartMs = nowMs;
    }
    let h1 = Math.imul(src ^ 0x2545f491, 0x9e3779b1);
    h1 ^= h1 >>> 15;
    let h2 = Math.imul(h1 ^ 0x6b43a9b5, 0x85ebca6b);
    h2 ^= h2 >>> 13;
    const a = h1 >>> SEEN_SHIFT;
    const b = h2 >>> SEEN_SHIFT;
    const ma = 1 << (a & 31);
    const mb = 1 << (b & 31);
    const seen = this.#seen;
    const before = this.#seenBefore;
    const wa = a >>> 5;
    const wb = b >>> 5;
    const hit = ((seen[wa] & ma) !== 0 && (seen[wb] & mb) !== 0) || ((before[wa] & ma) !== 0 && (before[wb] & mb) !== 0);
    seen[wa] |= ma;
    seen[wb] |= mb;
    return hit;
  }
}
