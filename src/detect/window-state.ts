/** What every per-window counter of floods keeps (a target, a /16, a reflection's victim): when its window began and its last packet. */
export class WindowState {
  windowStartMs: number;
  lastMs: number;

  constructor(nowMs: number) {
    this.windowStartMs = nowMs;
    this.lastMs = nowMs;
  }
}
