/**
 * Linear counting (Whang et al. 1990) over a small bitmap: distinct items in fixed memory, good to
 * a few times the bitmap's size in bits. Baselines count an hour's sources with it, the anomaly model
 * a source's ports and hosts. `bits` is a power of two; the bitmap is `bits / 32` words.
 */

/** Sets the bit of a 32-bit hash (mixed first, so neighbouring addresses spread). */
export function markHashed(words: Uint32Array, bits: number, hash: number): void {
  let h = Math.imul(hash ^ (hash >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = (h ^ (h >>> 16)) & (bits - 1);
  words[h >>> 5] |= 1 << (h & 31);
}

function popcount(w: number): number {
  let x = w - ((w >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Distinct items marked: −m · ln(zero bits / m); a full bitmap reads as m · ln m. */
export function estimateDistinct(words: Uint32Array, bits: number): number {
  let set = 0;
  for (const w of words) set += popcount(w);
  const zeros = bits - set;
  return zeros === 0 ? bits * Math.log(bits) : -bits * Math.log(zeros / bits);
}
