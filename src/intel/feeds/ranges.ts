/**
 * Interval arithmetic for feeds: a feed's networks merged into sorted, disjoint, non-adjacent ranges
 * [start, end) (nf_tables refuses overlapping intervals, and adjacent ones would share a key), the
 * protected ranges subtracted, and the difference between two loads (what an update adds and removes).
 *
 * IPv4 runs on plain numbers (an end may be 2^32) sorted as one Float64Array: a million entries
 * merge in well under a second. IPv6 runs on bigint, which is slower but feeds hold far fewer of them.
 */
import type { FeedEntries } from './entries.js';

/** Sorted, disjoint, non-adjacent ranges, ends exclusive. */
export interface V4Ranges {
  start: Float64Array;
  end: Float64Array;
}

export interface V6Ranges {
  start: bigint[];
  end: bigint[];
}

export interface RangeSet {
  v4: V4Ranges;
  v6: V6Ranges;
}

export const EMPTY_RANGES: RangeSet = Object.freeze({ v4: { start: new Float64Array(0), end: new Float64Array(0) }, v6: { start: [], end: [] } });

export function rangeCount(r: RangeSet): number {
  return r.v4.start.length + r.v6.start.length;
}

const TWO32 = 2 ** 32;

/** Merges raw IPv4 [start, end) pairs (any order, overlapping) into sorted disjoint ranges. */
export function mergeV4(starts: Float64Array | Uint32Array, ends: Float64Array, count: number): V4Ranges {
  // Sorted by an index permutation (sortedOrder), then one sweep that extends or starts a range.
  const order = sortedOrder(starts, count);
  const outStart = new Float64Array(count);
  const outEnd = new Float64Array(count);
  let n = 0;
  for (let k = 0; k < count; k++) {
    const i = order[k];
    const s = starts[i];
    const e = ends[i];
    if (n > 0 && s <= outEnd[n - 1]) {
      if (e > outEnd[n - 1]) outEnd[n - 1] = e;
    } else {
      outStart[n] = s;
      outEnd[n] = e;
      n++;
    }
  }
  // Views, not copies: the tail past n was never written, and unwritten pages of a large array are not resident.
  return { start: outStart.subarray(0, n), end: outEnd.subarray(0, n) };
}

/** Indexes of `starts` in ascending order. */
function sortedOrder(starts: Float64Array | Uint32Array, count: number): Uint32Array {
  const order = new Uint32Array(count);
  if (count < 2 ** 21) {
    // start (< 2^32) * 2^21 + index (< 2^21) < 2^53: exact in a double, and a native sort of doubles.
    const keys = new Float64Array(count);
    for (let i = 0; i < count; i++) keys[i] = starts[i] * 2 ** 21 + i;
    keys.sort();
    for (let i = 0; i < count; i++) order[i] = keys[i] % 2 ** 21;
    return order;
  }
  for (let i = 0; i < count; i++) order[i] = i;
  order.sort((a, b) => starts[a] - starts[b]);
  return order;
}

export function mergeV6(starts: readonly bigint[], ends: readonly bigint[]): V6Ranges {
  const order = starts.map((_, i) => i).sort((a, b) => (starts[a] < starts[b] ? -1 : starts[a] > starts[b] ? 1 : 0));
  // Sized once (a large array is made in the old generation) rather than grown by push: every
  // growth was a copy the young generation carried, and that traffic is what grows it.
  const outStart = new Array<bigint>(starts.length);
  const outEnd = new Array<bigint>(starts.length);
  let n = 0;
  for (const i of order) {
    if (n > 0 && starts[i] <= outEnd[n - 1]) {
      if (ends[i] > outEnd[n - 1]) outEnd[n - 1] = ends[i];
    } else {
      outStart[n] = starts[i];
      outEnd[n++] = ends[i];
    }
  }
  outStart.length = n;
  outEnd.length = n;
  return { start: outStart, end: outEnd };
}

const V6_SCRATCH = new DataView(new ArrayBuffer(16));
/** 2^(128 - length) for every prefix length, made once. */
const V6_SIZE = Array.from({ length: 129 }, (_, length) => 1n << BigInt(128 - length));

/**
 * A network's 128-bit start as one bigint through two 64-bit reads: four bigints made per address
 * instead of ten. A million-entry load makes hundreds of thousands of these, and their garbage is
 * what grows the young generation (and the RSS).
 */
function v6Value(words: Uint32Array, at: number): bigint {
  const d = V6_SCRATCH;
  d.setUint32(0, words[at]);
  d.setUint32(4, words[at + 1]);
  d.setUint32(8, words[at + 2]);
  d.setUint32(12, words[at + 3]);
  return (d.getBigUint64(0) << 64n) | d.getBigUint64(8);
}

/** A feed's entries as merged ranges. */
export function rangesOf(entries: FeedEntries): RangeSet {
  const n4 = entries.v4Count;
  const ends = new Float64Array(n4);
  for (let i = 0; i < n4; i++) ends[i] = entries.v4Start[i] + 2 ** (32 - entries.v4Length[i]);
  // The parsed column itself, not a Float64Array copy of it: a copy is 8 MB per million entries more at the peak.
  const v4 = mergeV4(entries.v4Start, ends, n4);
  const s6 = new Array<bigint>(entries.v6Count);
  const e6 = new Array<bigint>(entries.v6Count);
  for (let i = 0; i < entries.v6Count; i++) {
    const start = v6Value(entries.v6Words, 4 * i);
    s6[i] = start;
    e6[i] = start + V6_SIZE[entries.v6Length[i]];
  }
  return { v4, v6: mergeV6(s6, e6) };
}

/** `a` minus `b` (both merged); generic over number and bigint. */
function subtract<T extends number | bigint>(aStart: ArrayLike<T>, aEnd: ArrayLike<T>, bStart: ArrayLike<T>, bEnd: ArrayLike<T>): { start: T[]; end: T[] } {
  const start: T[] = [];
  const end: T[] = [];
  let j = 0;
  for (let i = 0; i < aStart.length; i++) {
    let s = aStart[i];
    const e = aEnd[i];
    while (j < bStart.length && bEnd[j] <= s) j++;
    let k = j;
    while (s < e) {
      if (k >= bStart.length || bStart[k] >= e) {
        start.push(s);
        end.push(e);
        break;
      }
      if (bStart[k] > s) {
        start.push(s);
        end.push(bStart[k]);
      }
      if (bEnd[k] >= e) break;
      s = bEnd[k] > s ? bEnd[k] : s;
      k++;
    }
  }
  return { start, end };
}

/** Whether any range of `b` meets one of `a` (both merged): one walk, nothing made. */
function overlaps(a: V4Ranges, b: V4Ranges): boolean {
  let i = 0;
  let j = 0;
  while (i < a.start.length && j < b.start.length) {
    if (a.end[i] <= b.start[j]) i++;
    else if (b.end[j] <= a.start[i]) j++;
    else return true;
  }
  return false;
}

/**
 * IPv4 `a` minus `b` straight into typed arrays: each range of `b` splits at most one range of `a` in
 * two, so a.length + b.length bounds the result (no growing JS arrays of a million numbers, no copy).
 */
function subtractV4(a: V4Ranges, b: V4Ranges): V4Ranges {
  if (!overlaps(a, b)) return a; // the usual case: a feed lists nothing excluded, and a million ranges are not copied
  const bound = a.start.length + b.start.length;
  const start = new Float64Array(bound);
  const end = new Float64Array(bound);
  let n = 0;
  let j = 0;
  for (let i = 0; i < a.start.length; i++) {
    let s = a.start[i];
    const e = a.end[i];
    while (j < b.start.length && b.end[j] <= s) j++;
    let k = j;
    while (s < e) {
      if (k >= b.start.length || b.start[k] >= e) {
        start[n] = s;
        end[n++] = e;
        break;
      }
      if (b.start[k] > s) {
        start[n] = s;
        end[n++] = b.start[k];
      }
      if (b.end[k] >= e) break;
      s = b.end[k] > s ? b.end[k] : s;
      k++;
    }
  }
  // Views, not copies: the unused tail is at most b's length (the exclusions: a few dozen ranges).
  return { start: start.subarray(0, n), end: end.subarray(0, n) };
}

/** `a` without anything in `b`. */
export function subtractRanges(a: RangeSet, b: RangeSet): RangeSet {
  const v6 = subtract<bigint>(a.v6.start, a.v6.end, b.v6.start, b.v6.end);
  return { v4: subtractV4(a.v4, b.v4), v6 };
}

/** What turns `before` into `after`: ranges to delete (in before, not exactly in after) and to add. */
export interface RangeDiff {
  remove: RangeSet;
  add: RangeSet;
}

function diffOne<T extends number | bigint>(bs: ArrayLike<T>, be: ArrayLike<T>, as: ArrayLike<T>, ae: ArrayLike<T>) {
  const remove = { start: [] as T[], end: [] as T[] };
  const add = { start: [] as T[], end: [] as T[] };
  let i = 0;
  let j = 0;
  while (i < bs.length || j < as.length) {
    if (j >= as.length || (i < bs.length && bs[i] < as[j])) {
      remove.start.push(bs[i]);
      remove.end.push(be[i]);
      i++;
    } else if (i >= bs.length || as[j] < bs[i]) {
      add.start.push(as[j]);
      add.end.push(ae[j]);
      j++;
    } else {
      if (be[i] !== ae[j]) {
        remove.start.push(bs[i]);
        remove.end.push(be[i]);
        add.start.push(as[j]);
        add.end.push(ae[j]);
      }
      i++;
      j++;
    }
  }
  return { remove, add };
}

export function diffRanges(before: RangeSet, after: RangeSet): RangeDiff {
  const d4 = diffOne<number>(before.v4.start, before.v4.end, after.v4.start, after.v4.end);
  const d6 = diffOne<bigint>(before.v6.start, before.v6.end, after.v6.start, after.v6.end);
  return {
    remove: { v4: { start: Float64Array.from(d4.remove.start), end: Float64Array.from(d4.remove.end) }, v6: d6.remove },
    add: { v4: { start: Float64Array.from(d4.add.start), end: Float64Array.from(d4.add.end) }, v6: d6.add },
  };
}

/** Whether an IPv4 address (as a number) lies in the ranges: a binary search. */
export function v4Covers(r: V4Ranges, address: number): boolean {
  let lo = 0;
  let hi = r.start.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (r.start[mid] > address) hi = mid - 1;
    else if (r.end[mid] <= address) lo = mid + 1;
    else return true;
  }
  return false;
}

export const V4_TOP = TWO32;
export const V6_TOP = 1n << 128n;
