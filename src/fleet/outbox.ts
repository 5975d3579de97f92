/**
 * What this host has to tell the fleet and has not yet had acknowledged: one entry per target (a later
 * ban or unban of the same target replaces the earlier one, so a partition that heals publishes each
 * target's last word once: no duplicates, no lost unbans). Bounded: beyond `max` entries the oldest is
 * dropped and counted (a slow or absent NATS must not grow the daemon without end).
 */
export class Outbox<V> {
  readonly #max: number;
  /** Map order is age order: a replaced entry moves to the end. */
  readonly #entries = new Map<string, V>();
  dropped = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  put(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
      this.dropped++;
    }
    this.#entries.set(key, value);
  }

  /** Removes `key` only when it still holds `value` (a newer word for the same target stays). */
  settle(key: string, value: V): void {
    if (this.#entries.get(key) === value) this.#entries.delete(key);
  }

  /** Up to `n` entries, oldest first, left in the box until settled. */
  take(n: number, skip: ReadonlySet<string>): [string, V][] {
    const out: [string, V][] = [];
    for (const entry of this.#entries) {
      if (out.length >= n) break;
      if (!skip.has(entry[0])) out.push(entry);
    }
    return out;
  }
}
