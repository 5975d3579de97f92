import type { AddressKey } from './incident.js';

/**
 * First contacts waiting for an answer, oldest first, in a fixed ring. An entry names its flow slot
 * and that slot's generation, so a flow evicted and reused meanwhile is recognised and skipped.
 */
export class PendingProbes {
  readonly #slot: Int32Array;
  readonly #generation: Uint32Array;
  readonly #ms: Float64Array;
  readonly #portKey: Int32Array;
  readonly #cls: Uint8Array;
  readonly #source: AddressKey[];
  readonly #target: AddressKey[];
  readonly #mask: number;
  #head = 0;
  #tail = 0;

  constructor(capacity: number) {
    let size = 1024;
    while (size < capacity) size *= 2;
    this.#mask = size - 1;
    this.#slot = new Int32Array(size);
    this.#generation = new Uint32Array(size);
    this.#ms = new Float64Array(size);
    this.#portKey = new Int32Array(size);
    this.#cls = new Uint8Array(size);
    this.#source = new Array<AddressKey>(size).fill(0);
    this.#target = new Array<AddressKey>(size).fill(0);
  }

  get size(): number {
    return this.#tail - this.#head;
  }

  get full(): boolean {
    return this.size > this.#mask;
  }

  push(slot: number, generation: number, ms: number, source: AddressKey, target: AddressKey, portKey: number, cls: number): void {
    const i = this.#tail & this.#mask;
    this.#slot[i] = slot;
    this.#generation[i] = generation;
    this.#ms[i] = ms;
    this.#source[i] = source;
    this.#target[i] = target;
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
    return this.#source[this.#head & this.#mask];
  }
  headTarget(): AddressKey {
    return this.#target[this.#head & this.#mask];
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
    this.#source[i] = 0;
    this.#target[i] = 0;
    this.#head++;
  }
}
