/**
 * Token buckets for replies to scanners. Time is the caller's (`nowMs`), so tests drive the clock and
 * replays stay deterministic. No timer per source: a source's bucket is refilled lazily when it is
 * next asked for, and the table of sources is bounded (least recently used forgotten first, counted).
 */

export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  #tokens: number;
  #lastMs: number;

  /** Starts full: a first burst of `burst` replies is allowed. */
  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError(`token bucket needs a rate above 0 and a burst of at least 1, got ${ratePerSecond}/s burst ${burst}`);
    this.#ratePerMs = ratePerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#lastMs = nowMs;
  }

  /** Takes one token if there is one. A clock that goes back refills nothing. */
  take(nowMs: number): boolean {
    if (nowMs > this.#lastMs) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (nowMs - this.#lastMs) * this.#ratePerMs);
      this.#lastMs = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** One bucket per source, in a bounded table. */
export class SourceLimiter {
  readonly #ratePerSecond: number;
  readonly #burst: number;
  readonly #maxSources: number;
  /** Map order is recency order: a source asked for moves to the end. */
  readonly #buckets = new Map<string, TokenBucket>();
  /** Sources forgotten because the table was full (each comes back with a full bucket). */
  evicted = 0;

  constructor(ratePerSecond: number, burst: number, maxSources: number) {
    new TokenBucket(ratePerSecond, burst, 0); // validates the numbers now, not at the first probe
    if (!Number.isInteger(maxSources) || maxSources < 1) throw new RangeError(`maxSources must be a whole number above 0, got ${maxSources}`);
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#maxSources = maxSources;
  }

  get size(): number {
    return this.#buckets.size;
  }

  take(source: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(source);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxSources) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
        this.evicted++;
      }
      bucket = new TokenBucket(this.#ratePerSecond, this.#burst, nowMs);
    } else this.#buckets.delete(source);
    this.#buckets.set(source, bucket);
    return bucket.take(nowMs);
  }
}
