import type { WindowThreshold } from '../config/profiles.js';

/**
 * Distinct items (ports of a target, hosts of a port) in first-seen order with their times, counted
 * exactly over several sliding windows. Items arrive in packet-time order, so each window's start is a
 * pointer that only moves forward: counting is amortised O(1) per item. Items stay counted once: an
 * item seen again is not new (the caller deduplicates).
 */
export class WindowedDistinct {
  readonly #times: number[] = [];
  readonly #starts: number[];

  constructor(windowCount: number) {
    this.#starts = new Array<number>(windowCount).fill(0);
  }

  get total(): number {
    return this.#times.length;
  }

  add(nowMs: number): void {
    this.#times.push(nowMs);
  }

  /** Distinct items first seen within `windows[i]` before `nowMs`. */
  countIn(windows: readonly WindowThreshold[], i: number, nowMs: number): number {
    const times = this.#times;
    const from = nowMs - windows[i].windowMs;
    let s = this.#starts[i];
    while (s < times.length && times[s] < from) s++;
    this.#starts[i] = s;
    return times.length - s;
  }

  /** Index of the first window whose threshold is reached, or -1. */
  firstReached(windows: readonly WindowThreshold[], nowMs: number): number {
    for (let i = 0; i < windows.length; i++) {
      if (this.countIn(windows, i, nowMs) >= windows[i].count) return i;
    }
    return -1;
  }
}
