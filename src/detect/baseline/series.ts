/**
 * One metric's learned seasonal level: for each of the 168 hours of the week its last few values (a
 * ring), from which the median and the median absolute deviation come, plus a long-run EWMA of every
 * learned hour. Fixed size whatever the traffic (SERIES_BYTES, about 5.7 KB), touched once an hour.
 */
export const HOURS_OF_WEEK = 168;
/** Values kept per hour of the week: the last 8 weeks. */
export const VALUES_PER_BUCKET = 8;
const HOUR_MS = 3_600_000;
/** Bytes one series holds: its values (float32), two bytes of ring bookkeeping per bucket, and its scalars. */
export const SERIES_BYTES = HOURS_OF_WEEK * VALUES_PER_BUCKET * 4 + HOURS_OF_WEEK * 2 + 4 * 8;
/** 1.4826 · MAD estimates the standard deviation of normal data. */
const MAD_SCALE = 1.4826;

/** The hour of the week (0 … 167) of a packet time, counted from the epoch's hour (UTC). */
export function hourOfWeek(ms: number): number {
  return Math.floor(ms / HOUR_MS) % HOURS_OF_WEEK;
}

/** What a series expects of one hour of the week. */
export interface Expectation {
  median: number;
  mad: number;
  /** Values the median is taken over. */
  samples: number;
}

export class SeasonalSeries {
  readonly values = new Float32Array(HOURS_OF_WEEK * VALUES_PER_BUCKET);
  /** Values held per bucket (up to VALUES_PER_BUCKET). */
  readonly filled = new Uint8Array(HOURS_OF_WEEK);
  /** Where each bucket's next value goes. */
  readonly next = new Uint8Array(HOURS_OF_WEEK);
  ewma = 0;
  /** Hours learned so far (the warm-up counts these). */
  learned = 0;
  /** Hour-start time of the last hour judged anomalous (a surge over several hours is one incident). */
  lastAnomalyHourMs = -1;

  learn(bucket: number, value: number, ewmaAlpha: number): void {
    const at = bucket * VALUES_PER_BUCKET;
    this.values[at + this.next[bucket]] = value;
    this.next[bucket] = (this.next[bucket] + 1) % VALUES_PER_BUCKET;
    if (this.filled[bucket] < VALUES_PER_BUCKET) this.filled[bucket]++;
    this.ewma = this.learned === 0 ? value : this.ewma + ewmaAlpha * (value - this.ewma);
    this.learned++;
  }

  expect(bucket: number): Expectation {
    const n = this.filled[bucket];
    if (n === 0) return { median: 0, mad: 0, samples: 0 };
    const at = bucket * VALUES_PER_BUCKET;
    // Once per metric per hour: sorted in a shared scratch array, no allocation but the result.
    const xs = SCRATCH;
    for (let i = 0; i < n; i++) insertSorted(xs, i, this.values[at + i]);
    const median = medianOf(xs, n);
    const ds = SCRATCH2;
    for (let i = 0; i < n; i++) insertSorted(ds, i, Math.abs(xs[i] - median));
    return { median, mad: medianOf(ds, n), samples: n };
  }

  /** The robust z-score of `value` against `e`: the spread is at least √median (counts vary like Poisson ones) and at least 1. */
  static zScore(value: number, e: Expectation): number {
    const scale = Math.max(MAD_SCALE * e.mad, Math.sqrt(e.median), 1);
    return (value - e.median) / scale;
  }

  /** The series as bytes (state.db), in a fixed layout. */
  encode(): Buffer {
    const out = Buffer.alloc(SERIES_BYTES);
    Buffer.from(this.values.buffer, this.values.byteOffset, this.values.byteLength).copy(out, 0);
    let o = this.values.byteLength;
    out.set(this.filled, o);
    o += HOURS_OF_WEEK;
    out.set(this.next, o);
    o += HOURS_OF_WEEK;
    out.writeDoubleLE(this.ewma, o);
    out.writeDoubleLE(this.learned, o + 8);
    out.writeDoubleLE(this.lastAnomalyHourMs, o + 16);
    return out;
  }

  /** Reads what encode wrote at `offset`; throws RangeError on a short or inconsistent buffer. */
  static decode(buf: Buffer, offset: number): SeasonalSeries {
    if (buf.length - offset < SERIES_BYTES) throw new RangeError(`series needs ${SERIES_BYTES} bytes, ${buf.length - offset} left`);
    const s = new SeasonalSeries();
    const vb = s.values.byteLength;
    Buffer.from(s.values.buffer).set(buf.subarray(offset, offset + vb));
    let o = offset + vb;
    s.filled.set(buf.subarray(o, o + HOURS_OF_WEEK));
    o += HOURS_OF_WEEK;
    s.next.set(buf.subarray(o, o + HOURS_OF_WEEK));
    o += HOURS_OF_WEEK;
    s.ewma = buf.readDoubleLE(o);
    s.learned = buf.readDoubleLE(o + 8);
    s.lastAnomalyHourMs = buf.readDoubleLE(o + 16);
    for (let b = 0; b < HOURS_OF_WEEK; b++) if (s.filled[b] > VALUES_PER_BUCKET || s.next[b] >= VALUES_PER_BUCKET) throw new RangeError(`series bucket ${b} is inconsistent`);
    return s;
  }
}

const SCRATCH = new Float64Array(VALUES_PER_BUCKET);
const SCRATCH2 = new Float64Array(VALUES_PER_BUCKET);

/** Puts `x` into the sorted first `n` entries of `a` (insertion sort of at most 8 values). */
function insertSorted(a: Float64Array, n: number, x: number): void {
  let i = n;
  while (i > 0 && a[i - 1] > x) {
    a[i] = a[i - 1];
    i--;
  }
  a[i] = x;
}

function medianOf(sorted: Float64Array, n: number): number {
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
