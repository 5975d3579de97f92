import type { WindowThreshold } from './settings.js';

/**
 * Distinct items (ports of a target, hosts of a port) counted exactly over several sliding windows.
 * `times` holds each item's first-seen time in arrival order (packet time, so ascending); `starts[i]`
 * is the index of the first time inside window i, a pointer that only moves forward: counting is
 * amortised O(1) per item. Plain arrays owned by the caller, so a record costs no extra object.
 */

/** Distinct items first seen within `windows[i]` before `nowMs`. */
export function countInWindow(times: number[], starts: number[], windows: readonly WindowThreshold[], i: number, nowMs: number): number {
  const from = nowMs - windows[i].windowMs;
  let s = starts[i];
  while (s < times.length && times[s] < from) s++;
  starts[i] = s;
  return times.length - s;
}

/** Index of the first window whose threshold is reached, or -1. */
export function firstWindowReached(times: number[], starts: number[], windows: readonly WindowThreshold[], nowMs: number): number {
  for (let i = 0; i < windows.length; i++) {
    if (countInWindow(times, starts, windows, i, nowMs) >= windows[i].count) return i;
  }
  return -1;
}
