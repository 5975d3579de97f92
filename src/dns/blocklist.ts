/**
 * A set of blocked domain names, each either exact (only that name) or a subtree (the name and
 * every name under it), built for a million entries.
 *
 * Layout: every name's bytes packed into one growing Buffer, an open-addressing table of entry
 * offsets (Uint32Array) with each entry's kind beside it (Uint8Array). No string per entry and no
 * object per entry: the garbage collector never sees the list, and 1,000,000 names cost about
 * their bytes plus 10 bytes of table (BENCHMARKS.md).
 *
 * Lookup hashes the queried name once, from its last byte to its first (FNV-1a over the reversed
 * bytes): at every label boundary the running hash is the hash of that suffix, so each suffix
 * (`a.b.example.com`, `b.example.com`, `example.com`, `com`) costs one probe. Cost grows with the
 * number of labels and the name's length, never with the list's size.
 */

export const MatchKind = {
  /** Only this exact name. */
  exact: 1,
  /** This name and every name under it. */
  subtree: 2,
} as const;
export type MatchKindValue = (typeof MatchKind)[keyof typeof MatchKind];

export interface BlocklistMatch {
  /** The entry that matched (the name itself, or the ancestor whose subtree holds it). */
  entry: string;
  kind: 'exact' | 'subtree';
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const EMPTY = 0;
const MAX_NAME = 253;

export class Blocklist {
  #bytes: Buffer = Buffer.allocUnsafe(1 << 16);
  #used = 0;
  /** Entry offset + 1 (0: empty slot). */
  #slots: Uint32Array = new Uint32Array(1 << 10);
  #kinds: Uint8Array = new Uint8Array(1 << 10);
  #mask = (1 << 10) - 1;
  #count = 0;

  /** Entries (distinct names). */
  get size(): number {
    return this.#count;
  }

  /** Bytes held by the packed names and the table. */
  get memoryBytes(): number {
    return this.#bytes.length + this.#slots.byteLength + this.#kinds.byteLength;
  }

  /**
   * Adds `name` (lower case, no trailing dot, validated by the caller: see blocklist-file.ts) as
   * an exact name or a subtree; adding a name twice keeps both kinds.
   */
  add(name: string, kind: MatchKindValue): void {
    const length = name.length;
    if (length === 0 || length > MAX_NAME) return;
    if ((this.#count + 1) * 10 > this.#slots.length * 7) this.#grow();
    const hash = hashReversed(name, 0, length);
    let i = hash & this.#mask;
    for (;;) {
      const slot = this.#slots[i];
      if (slot === EMPTY) break;
      if (this.#equals(slot - 1, name, 0, length)) {
        this.#kinds[i] |= kind;
        return;
      }
      i = (i + 1) & this.#mask;
    }
    if (this.#used + length + 1 > this.#bytes.length) {
      const next = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#used + length + 1));
      this.#bytes.copy(next, 0, 0, this.#used);
      this.#bytes = next;
    }
    const offset = this.#used;
    this.#bytes[offset] = length;
    this.#bytes.write(name, offset + 1, length, 'latin1');
    this.#used += length + 1;
    this.#slots[i] = offset + 1;
    this.#kinds[i] = kind;
    this.#count++;
  }

  /**
   * The entry blocking `name` (presentation form as dnsQuestion gives it: lower case, no trailing
   * dot, escaped dots `\.` inside a label), or null. Allocates only on a hit.
   */
  match(name: string): BlocklistMatch | null {
    const length = name.length;
    if (length === 0 || length > 1024) return null;
    let hash = FNV_OFFSET;
    for (let i = length - 1; i >= -1; i--) {
      // A boundary: the start of the name, or a dot that is not escaped (`\.` stays inside its label).
      const boundary = i === -1 || (name.charCodeAt(i) === 0x2e && !escapedAt(name, i));
      if (boundary) {
        const start = i + 1;
        const kinds = this.#find(hash >>> 0, name, start, length);
        if (kinds !== 0) {
          if (start === 0 && (kinds & MatchKind.exact) !== 0) return { entry: name, kind: 'exact' };
          if ((kinds & MatchKind.subtree) !== 0) return { entry: name.slice(start), kind: 'subtree' };
        }
        if (i === -1) break;
      }
      hash = Math.imul(hash ^ (name.charCodeAt(i) & 0xff), FNV_PRIME);
    }
    return null;
  }

  /** The kinds stored for name[start, end), 0 when absent. */
  #find(hash: number, name: string, start: number, end: number): number {
    if (end - start > MAX_NAME || end === start) return 0;
    let i = hash & this.#mask;
    for (;;) {
      const slot = this.#slots[i];
      if (slot === EMPTY) return 0;
      if (this.#equals(slot - 1, name, start, end)) return this.#kinds[i];
      i = (i + 1) & this.#mask;
    }
  }

  #equals(offset: number, name: string, start: number, end: number): boolean {
    const bytes = this.#bytes;
    if (bytes[offset] !== end - start) return false;
    for (let k = 0, p = offset + 1; start + k < end; k++, p++) if (bytes[p] !== name.charCodeAt(start + k)) return false;
    return true;
  }

  #grow(): void {
    const oldSlots = this.#slots;
    const oldKinds = this.#kinds;
    const size = oldSlots.length * 2;
    this.#slots = new Uint32Array(size);
    this.#kinds = new Uint8Array(size);
    this.#mask = size - 1;
    const bytes = this.#bytes;
    for (let j = 0; j < oldSlots.length; j++) {
      const slot = oldSlots[j];
      if (slot === EMPTY) continue;
      const offset = slot - 1;
      const length = bytes[offset];
      let hash = FNV_OFFSET;
      for (let p = offset + length; p > offset; p--) hash = Math.imul(hash ^ bytes[p], FNV_PRIME);
      let i = (hash >>> 0) & this.#mask;
      while (this.#slots[i] !== EMPTY) i = (i + 1) & this.#mask;
      this.#slots[i] = slot;
      this.#kinds[i] = oldKinds[j];
    }
  }

  /** Sizes the table for `entries` names up front (a loader that knows the count avoids rehashing). */
  reserve(entries: number): void {
    while (entries * 10 > this.#slots.length * 7) this.#grow();
  }
}

/** FNV-1a over name[start, end) from the last byte to the first. */
function hashReversed(name: string, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let i = end - 1; i >= start; i--) hash = Math.imul(hash ^ (name.charCodeAt(i) & 0xff), FNV_PRIME);
  return hash >>> 0;
}

/** Whether the character at `i` is escaped (an odd run of backslashes right before it). */
function escapedAt(name: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && name.charCodeAt(j) === 0x5c; j--) n++;
  return (n & 1) === 1;
}
