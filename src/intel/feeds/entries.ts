/**
 * A feed's entries as parsed, before merging: each network with the line it came from (what `lookup`
 * and incidents quote). Columnar typed arrays, not an object per entry: a million entries cost about
 * 13 MB for IPv4 instead of a hundred or more as objects.
 */

import { formatNetwork } from '../../net/address-set.js';

const INITIAL = 1024;

function grow<T extends Uint32Array | Uint8Array>(a: T, size: number, make: (n: number) => T): T {
  if (size <= a.length) return a;
  const next = make(Math.max(size, a.length * 2));
  next.set(a);
  return next;
}

export class FeedEntries {
  /** IPv4: the network address, its prefix length and its line. */
  v4Start: Uint32Array;
  v4Length: Uint8Array;
  v4Line: Uint32Array;
  v4Count = 0;
  /** IPv6: four big-endian words per network. */
  v6Words: Uint32Array;
  v6Length: Uint8Array;
  v6Line: Uint32Array;
  v6Count = 0;

  /**
   * `capacity`: how many entries there can be (a feed's line count). Sized once, the columns are never
   * copied while they grow (each doubling kept the old copy alive until the next GC); the pages of a
   * large zeroed array that are never written are not resident, so the family that stays short costs
   * no memory.
   */
  constructor(capacity = INITIAL) {
    const n = Math.max(INITIAL, capacity);
    this.v4Start = new Uint32Array(n);
    this.v4Length = new Uint8Array(n);
    this.v4Line = new Uint32Array(n);
    this.v6Words = new Uint32Array(n * 4);
    this.v6Length = new Uint8Array(n);
    this.v6Line = new Uint32Array(n);
  }

  get size(): number {
    return this.v4Count + this.v6Count;
  }

  /** One network: family, its words (IPv4 in words[3]), prefix length, line (1-based; for JSON lists the element's number). */
  push(family: 4 | 6, words: Uint32Array, length: number, line: number): void {
    if (family === 4) {
      const n = this.v4Count++;
      this.v4Start = grow(this.v4Start, n + 1, (k) => new Uint32Array(k));
      this.v4Length = grow(this.v4Length, n + 1, (k) => new Uint8Array(k));
      this.v4Line = grow(this.v4Line, n + 1, (k) => new Uint32Array(k));
      this.v4Start[n] = words[3];
      this.v4Length[n] = length;
      this.v4Line[n] = line;
      return;
    }
    const n = this.v6Count++;
    this.v6Words = grow(this.v6Words, 4 * (n + 1), (k) => new Uint32Array(k));
    this.v6Length = grow(this.v6Length, n + 1, (k) => new Uint8Array(k));
    this.v6Line = grow(this.v6Line, n + 1, (k) => new Uint32Array(k));
    this.v6Words.set(words, 4 * n);
    this.v6Length[n] = length;
    this.v6Line[n] = line;
  }

  /** The i-th entry of a family as canonical text ('198.51.100.0/24'): formatted on demand only. */
  text(family: 4 | 6, i: number): string {
    if (family === 4) return formatNetwork(4, this.v4Length[i], 0, 0, 0, this.v4Start[i]);
    const w = this.v6Words;
    return formatNetwork(6, this.v6Length[i], w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]);
  }

  /** Every entry with its line, IPv4 first (tests, small listings). */
  list(): { entry: string; line: number }[] {
    const out: { entry: string; line: number }[] = [];
    for (let i = 0; i < this.v4Count; i++) out.push({ entry: this.text(4, i), line: this.v4Line[i] });
    for (let i = 0; i < this.v6Count; i++) out.push({ entry: this.text(6, i), line: this.v6Line[i] });
    return out;
  }
}
