/**
 * A Map keyed by address or network text ('192.0.2.7', '2001:db8::/64') that keeps an AddressSet of
 * its keys in step with every set, delete and clear: the daemon's table of active bans, so inline
 * mode can ask "is this packet's source inside any ban" per packet (prefixes included) without
 * formatting the address, and without each place that adds or lifts a ban having to remember it.
 *
 * Keys that do not parse as an address or network stay in the map and are simply not indexed.
 * Two keys spelling the same network differently share one index entry (the index counts them).
 */
import { AddressSet, canonical } from './address-set.js';

export class AddressIndexedMap<V> extends Map<string, V> {
  readonly addresses = new AddressSet();
  /** Keys per canonical entry (two spellings of one network), so deleting one keeps the other. */
  readonly #spellings = new Map<string, number>();
  /** Bumped by every set, delete and clear: a reader can tell whether anything changed since it last looked. */
  #changes = 0;

  get changes(): number {
    return this.#changes;
  }

  override set(key: string, value: V): this {
    const had = super.has(key);
    super.set(key, value);
    // Map's constructor calls set() before the fields exist; this class is built empty.
    if (this.addresses === undefined) return this;
    this.#changes++;
    if (!had) this.#index(key, 1);
    return this;
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    this.#changes++;
    this.#index(key, -1);
    return true;
  }

  override clear(): void {
    super.clear();
    this.#changes++;
    this.addresses.clear();
    this.#spellings.clear();
  }

  #index(key: string, delta: 1 | -1): void {
    let text: string;
    try {
      text = canonical(key);
    } catch {
      return; // not an address or network: nothing to index
    }
    const n = (this.#spellings.get(text) ?? 0) + delta;
    if (n > 0) {
      this.#spellings.set(text, n);
      if (delta === 1 && n === 1) this.addresses.add(key, '');
    } else {
      this.#spellings.delete(text);
      this.addresses.delete(key);
    }
  }
}

