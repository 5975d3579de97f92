/**
 * Progress of long reads on stderr: a redrawn bar on a terminal, a line every 10% otherwise, nothing
 * for small files (under 64 MiB).
 */
const MIN_BYTES = 64 * 1024 * 1024;

export class ProgressReporter {
  #lastDecile = -1;
  #drawn = false;

  constructor(
    readonly write: (line: string) => void,
    readonly terminal: boolean,
  ) {}

  update(path: string, read: number, size: number): void {
    if (size < MIN_BYTES || size === 0) return;
    const fraction = Math.min(1, read / size);
    if (this.terminal) {
      const width = 30;
      const filled = Math.round(fraction * width);
      process.stderr.write(`\r${path} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0)}%`);
      this.#drawn = true;
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile !== this.#lastDecile) {
      this.#lastDecile = decile;
      this.write(`${path}: ${decile * 10}% read`);
    }
  }

  done(): void {
    if (this.#drawn) process.stderr.write('\n');
    this.#drawn = false;
    this.#lastDecile = -1;
  }
}
