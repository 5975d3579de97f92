/**
 * A binary min-heap of (due time, item): what the engine must look at again once packet time passes a
 * moment (evidence of a record that may have expired, a target that may have gone idle). Expiry then
 * costs in proportion to what falls due, not to what is held: a full scan of every table each time
 * would cost the whole table per check, which on a long, quiet capture is nearly all the work.
 *
 * Due times are lower bounds: an item touched since it was queued is queued again by the caller with
 * its new due time when it comes up. Times in a Float64Array; items in a plain array (numbers stay
 * unboxed small integers, objects are references), both grown by doubling.
 */
export class DueQueue<T> {
  #due = new Float64Array(64);
  #items: T[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Due time of the earliest item, or Infinity. */
  peekDue(): number {
    return this.#size === 0 ? Infinity : this.#due[0];
  }

  push(due: number, item: T): void {
    if (this.#size === this.#due.length) {
      const grown = new Float64Array(this.#due.length * 2);
      grown.set(this.#due);
      this.#due = grown;
    }
    const dues = this.#due;
    const items = this.#items;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (dues[parent] <= due) break;
      dues[i] = dues[parent];
      items[i] = items[parent];
      i = parent;
    }
    dues[i] = due;
    items[i] = item;
  }

  /** Empties the queue (to rebuild it when most of its items are stale). */
  clear(): void {
    this.#items = [];
    this.#size = 0;
  }

  /** Removes and returns the earliest item (the queue must not be empty). */
  pop(): T {
    const dues = this.#due;
    const items = this.#items;
    const top = items[0];
    const n = --this.#size;
    const lastDue = dues[n];
    const lastItem = items[n];
    items.length = n; // drop the reference
    if (n > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && dues[child + 1] < dues[child]) child++;
        if (dues[child] >= lastDue) break;
        dues[i] = dues[child];
        items[i] = items[child];
        i = child;
      }
      dues[i] = lastDue;
      items[i] = lastItem;
    }
    return top;
  }
}
