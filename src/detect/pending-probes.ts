import type { AddressKey } from '../model/incident.js';

/**
 * First contacts waiting for an answer, oldest first, in a fixed ring of typed arrays. An entry names
 * its flow slot and that slot's generation, so a flow evicted and reused meanwhile is recognised and
 * skipped. Addresses are kept as 32-bit folds (IPv4: the address itself) plus, for IPv6 only, the text.
 */
export class PendingProbes {
  readonly #slot: Int32Array;
  readonly #generation: Int32Array;
  readonly #ms: Float64Array;
  readonly #portKey: Int32Array;
  readonly #cls: Uint8Array;
  readonly #source: Int32Array;
  readonly #target: Int32Array;
  readonly #source6: (string | null)[];
  readonly #target6: (string | null)[];
  readonly #mask: number;
  #head = 0;
  #tail = 0;

  constructor(capacity: number) {
    let size = 1024;
    while (size < capacity) size *= 2;
    this.#mask = size - 1;
    this.#slot = new Int32Array(size);
    this.#generation = new Int32Array(size);
    this.#ms = new Float64Array(size);
    this.#portKey = new Int32Array(size);
    this.#cls = new Uint8Array(size);
    this.#source = new Int32Array(size);
    this.#target = new Int32Array(size);
    this.#source6 = new Array<string | null>(size).fill(null);
    this.#target6 = new Array<string | null>(size).fill(null);
  }

  get size(): number {
    return this.#tail - this.#head;
  }

  get full(): boolean {
    return this.size > this.#mask;
  }

  push(slot: number, generation: number, ms: number, source: number, target: number, source6: string | null, target6: string | null, portKey: number, cls: number): void {
    const i = this.#tail & this.#mask;
    this.#slot[i] = slot;
    this.#generation[i] = generation;
    this.#ms[i] = ms;
    this.#source[i] = source;
    this.#target[i] = target;
    this.#source6[i] = source6;
    this.#target6[i] = target6;
    this.#portKey[i] = portKey;
    this.#cls[i] = cls;
    this.#tail++;
  }

  /** Time of the oldest entry, or Infinity. */
  oldestMs(): number {
    return this.#head === this.#tail ? Infinity : this.#ms[this.#head & this.#mask];
  }

  // The oldest entry's fields, read before `shift`.
  headSlot(): number {
    return this.#slot[this.#head & this.#mask];
  }
  headGeneration(): number {
    return this.#generation[this.#head & this.#mask];
  }
  headSource(): AddressKey {
    const i = this.#head & this.#mask;
    return this.#source6[i] ?? this.#source[i];
  }
  headTarget(): AddressKey {
    const i = this.#head & this.#mask;
    return this.#target6[i] ?? this.#target[i];
  }
  headPortKey(): number {
    return this.#portKey[this.#head & this.#mask];
  }
  headClass(): number {
    return this.#cls[this.#head & this.#mask];
  }

  shift(): void {
    const i = this.#head & this.#mask;
    // Drop references so forgotten IPv6 address strings can be collected.
    this.#source6[i] = null;
    this.#target6[i] = null;
    this.#head++;
  }
}
