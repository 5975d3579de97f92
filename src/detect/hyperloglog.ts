/**
 * HyperLogLog with 1,024 registers (about 3% error, 1 KiB): counts the distinct sources of a flood in
 * fixed memory however many spoofed addresses arrive.
 */
const P = 10;
const M = 1 << P;
const ALPHA = 0.7213 / (1 + 1.079 / M);

export class HyperLogLog {
  readonly #registers = new Uint8Array(M);

  /** Adds an item by a 32-bit hash of it. */
  add(hash32: number): void {
    let h = Math.imul(hash32 ^ (hash32 >>> 16), 0x45d9f3b);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    h ^= h >>> 16;
    const index = h >>> (32 - P);
    const rest = (h << P) | (1 << (P - 1));
    const rank = Math.clz32(rest) + 1;
    if (rank > this.#registers[index]) this.#registers[index] = rank;
  }

  /** Adds every item `other` counted (register-wise maximum): the union of the two sets. */
  merge(other: HyperLogLog): void {
    const mine = this.#registers;
    const theirs = other.#registers;
    for (let i = 0; i < M; i++) if (theirs[i] > mine[i]) mine[i] = theirs[i];
  }

  estimate(): number {
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < M; i++) {
      const r = this.#registers[i];
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const raw = (ALPHA * M * M) / sum;
    if (raw <= 2.5 * M && zeros > 0) return Math.round(M * Math.log(M / zeros));
    return Math.round(raw);
  }
}
