/**
 * The config the daemon runs with, and the two ways it changes while running: `portwarden allow`
 * (an operator's entry joins the allowlist, and stays across reloads until the daemon stops) and
 * reload (SIGHUP, `portwarden reload`: the file is read again, with the command line's options laid
 * over it). An invalid file is refused with its errors, logged, and the running config stays.
 */
import { loadConfigFile, type PortwardenConfig } from '../config/load.js';
import type { EventLogger } from '../model/logger.js';

export interface RunningConfigOptions {
  config: PortwardenConfig;
  /** Re-read on reload; none: reload keeps the built-in defaults. */
  path?: string;
  /** Laid over every config read on reload (the command line's options, which win over the file). */
  overrides?: (config: PortwardenConfig) => PortwardenConfig;
  log: EventLogger;
}

export interface Reread {
  next: PortwardenConfig;
  /** Whether anything but the file name differs from the running config. */
  changed: boolean;
  path: string;
}

export class RunningConfig {
  #current: PortwardenConfig;
  readonly #o: RunningConfigOptions;
  /** `portwarden allow` entries: kept across reloads (until the daemon stops). */
  readonly #operatorAllows: { value: string; reason: string }[] = [];

  constructor(options: RunningConfigOptions) {
    this.#o = options;
    this.#current = options.config;
  }

  get current(): PortwardenConfig {
    return this.#current;
  }

  /** An operator's allow entry joins the running allowlist; returns the new running config. */
  allow(entry: { value: string; reason: string }): PortwardenConfig {
    this.#operatorAllows.push(entry);
    this.#current = { ...this.#current, allowlist: [...this.#current.allowlist, entry] };
    return this.#current;
  }

  /** Reads the file again (the operator's allow entries added); null without a file. Throws, logged, when it is invalid. */
  reread(): Reread | null {
    const path = this.#o.path;
    if (path === undefined) return null;
    let next: PortwardenConfig;
    try {
      next = (this.#o.overrides ?? ((c: PortwardenConfig) => c))(loadConfigFile(path));
      next = { ...next, allowlist: [...next.allowlist, ...this.#operatorAllows] };
    } catch (err) {
      this.#o.log.error({ 'event.action': 'reload-refused', error: err instanceof Error ? err.message : String(err) }, `reload refused: ${path} is invalid; the running config stays`);
      throw err;
    }
    const changed = JSON.stringify({ ...next, source: '' }) !== JSON.stringify({ ...this.#current, source: '' });
    return { next, changed, path };
  }

  /** `next` (from reread) was applied: it is the running config from now on. */
  adopt(next: PortwardenConfig): void {
    this.#current = next;
  }
}
