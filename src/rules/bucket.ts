/**
 * Leaky buckets in packet time, CrowdSec's aggregation: each matching event pours one unit into its
 * rule's bucket for its group (`groupby`), one unit leaks out every `leakspeed`, and the event that
 * takes the level past `capacity` overflows the bucket, which then empties (the overflow is the rule's
 * match). With `distinct`, an event whose value the bucket has already seen pours nothing; the values
 * are forgotten when the bucket has drained. After an overflow the group is silent for `blackhole` (the
 * same scanner is one incident, not one per `capacity` probes; CrowdSec's name). No timer per bucket: a bucket leaks when it is next poured
 * into. At most `maxBuckets` live at once; past it the oldest is dropped (fail-open: a slow attacker's
 * bucket restarts) and counted.
 */

/**
 * A group key or a distinct value: text, or for probes a number (an IPv4 address, a port, a class id), so
 * the packet path formats nothing until a bucket overflows. Each rule has its own buckets, so keys of
 * different rules never meet.
 */
export type BucketValue = string | number;

/** How many distinct sources a bucket remembers, for the incident it makes (grouped by something other than source). */
export const SOURCE_SAMPLE = 128;

export interface Bucket {
  level: number;
  /** Events poured since the bucket was made. */
  poured: number;
  lastMs: number;
  firstMs: number;
  /** The first distinct value alone (most buckets never see a second: no Set for them), then all of them. */
  firstDistinct: BucketValue | null;
  distinct: Set<BucketValue> | null;
  sources: Set<BucketValue> | null;
  /** After an overflow: pours before this time are dropped (blackhole). */
  silentUntilMs: number;
}

/** Every distinct value a bucket saw. */
export function distinctValues(b: Bucket): BucketValue[] {
  return b.distinct !== null ? [...b.distinct] : b.firstDistinct !== null ? [b.firstDistinct] : [];
}

export interface PourResult {
  overflowed: boolean;
  bucket: Bucket;
}

export class LeakyBuckets {
  readonly #buckets = new Map<BucketValue, Bucket>();
  readonly #max: number;
  dropped = 0;

  constructor(maxBuckets: number) {
    this.#max = maxBuckets;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Pours one event into the bucket `key`.
   * @returns the bucket, and whether this event overflowed it (the bucket is then gone), or null when a
   *   `distinct` value it had already seen poured nothing.
   */
  pour(key: BucketValue, capacity: number, leakMs: number, nowMs: number, distinct: BucketValue | null, source: BucketValue | null, blackholeMs = 0): PourResult | null {
    let b = this.#buckets.get(key);
    if (b !== undefined && b.silentUntilMs > 0) {
      if (nowMs < b.silentUntilMs) return null;
      this.#buckets.delete(key);
      b = undefined;
    }
    if (b !== undefined && leakMs > 0) {
      const leaked = (nowMs - b.lastMs) / leakMs;
      if (leaked > 0) b.level = Math.max(0, b.level - leaked);
      if (b.level === 0) {
        b.distinct = null;
        b.firstDistinct = null;
      }
    }
    if (b !== undefined && nowMs > b.lastMs) b.lastMs = nowMs;
    if (b === undefined) {
      if (this.#buckets.size >= this.#max) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
        this.dropped++;
      }
      b = { level: 0, poured: 0, lastMs: nowMs, firstMs: nowMs, firstDistinct: null, distinct: null, sources: null, silentUntilMs: 0 };
      this.#buckets.set(key, b);
    }
    if (distinct !== null) {
      if (b.firstDistinct === null) b.firstDistinct = distinct;
      else if (b.distinct === null) {
        if (b.firstDistinct === distinct) return null;
        b.distinct = new Set([b.firstDistinct, distinct]);
      } else {
        if (b.distinct.has(distinct)) return null;
        b.distinct.add(distinct);
      }
    }
    if (source !== null) {
      b.sources ??= new Set();
      if (b.sources.size < SOURCE_SAMPLE) b.sources.add(source);
    }
    b.level++;
    b.poured++;
    if (b.level > capacity) {
      this.#buckets.delete(key);
      // A silent stand-in keeps the group quiet; the full bucket goes to the caller.
      if (blackholeMs > 0) this.#buckets.set(key, { level: 0, poured: 0, lastMs: nowMs, firstMs: nowMs, firstDistinct: null, distinct: null, sources: null, silentUntilMs: nowMs + blackholeMs });
      return { overflowed: true, bucket: b };
    }
    return { overflowed: false, bucket: b };
  }
}
