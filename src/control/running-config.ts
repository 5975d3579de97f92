/**
 * The config the daemon runs with, and the two ways it changes while running: `portwarden allow`
 * (an operator's entry joins the allowlist, and stays across reloads until the daemon stops) and
 * reload (SIGHUP, `portwarden reload`: the file is read again, with the command line's options laid
 * over it). An invalid file is refused with its errors, logged, and the running config stays.
 *
 * Some keys configure what the daemon builds once at start (the socket it listens on, the state it
 * opens, the capture, the detection pipeline, the table): a reload cannot apply them. A reload keeps
 * their running values, applies everything else, and names the keys that wait for a restart.
 */
import { loadConfigFile, type PortwardenConfig } from '../config/load.js';
import type { EventLogger } from '../model/logger.js';
import { restartKeysText } from '../model/control.js';

export interface RunningConfigOptions {
  config: PortwardenConfig;
  /** Re-read on reload; none: reload keeps the built-in defaults. */
  path?: string;
  /** Laid over every config read on reload (the command line's options, which win over the file). */
  overrides?: (config: PortwardenConfig) => PortwardenConfig;
  log: EventLogger;
}

export interface Reread {
  /** The file's config, with the running values of the keys that need a restart. */
  next: PortwardenConfig;
  /** Whether anything a reload applies differs from the running config. */
  changed: boolean;
  /** Keys the file changes that only a restart applies (`control.socketPath`, `state.dir`, …), sorted. */
  restartNeeded: string[];
  path: string;
}

/**
 * What a reload cannot apply: a section, or one key of a section. `profile` is here because the
 * profile's detection thresholds are built into the running pipeline.
 */
export const RESTART_KEYS: readonly string[] = ['profile', 'capture', 'control', 'detection', 'enforce', 'observe', 'state.dir', 'state.purgeEveryMs', 'floodGuard.enabled', 'floodGuard.connLimit', 'floodGuard.udp', 'floodGuard.icmp', 'floodGuard.synproxy.mss', 'floodGuard.synproxy.wscale', 'floodGuard.unsolicited.mode', 'floodGuard.unsolicited.udpSourcePorts', 'floodGuard.checkEveryMs', 'lapi', 'geo', 'decide.feedTrust', 'enrich', 'feeds', 'baseline', 'anomaly', 'fleet'];

export class RunningConfig {
  #current: PortwardenConfig;
  readonly #o: RunningConfigOptions;
  /** `portwarden allow` entries: kept across reloads (until the daemon stops). */
  readonly #operatorAllows: { value: string; reason: string }[] = [];

  constructor(options: RunningConfigOptions) {
    this.#o = options;
    this.#current = options.config;
  }

  /** The file read at start and on every reload; undefined: built-in defaults. */
  get path(): string | undefined {
    return this.#o.path;
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
    const restartNeeded = RESTART_KEYS.flatMap((key) => differingKeys(key, valueAt(this.#current, key), valueAt(next, key)));
    for (const key of RESTART_KEYS) next = withValueAt(next, key, valueAt(this.#current, key));
    const changed = JSON.stringify({ ...next, source: '' }) !== JSON.stringify({ ...this.#current, source: '' });
    return { next, changed, restartNeeded: restartNeeded.sort(), path };
  }

  /** `next` (from reread) was applied: it is the running config from now on. */
  adopt(next: PortwardenConfig): void {
    this.#current = next;
  }
}

function valueAt(config: PortwardenConfig, key: string): unknown {
  let value: unknown = config;
  for (const part of key.split('.')) value = (value as Record<string, unknown>)[part];
  return value;
}

/** `config` with `value` at `key` (a copy along the path: configs are frozen). */
function withValueAt(config: PortwardenConfig, key: string, value: unknown): PortwardenConfig {
  const set = (target: Record<string, unknown>, parts: string[]): Record<string, unknown> =>
    parts.length === 1 ? { ...target, [parts[0]]: value } : { ...target, [parts[0]]: set(target[parts[0]] as Record<string, unknown>, parts.slice(1)) };
  return set(config as unknown as Record<string, unknown>, key.split('.')) as unknown as PortwardenConfig;
}

/** The leaf keys under `key` whose values differ (`observe.listen`, `capture.interfaces`): what the operator wrote. */
function differingKeys(key: string, a: unknown, b: unknown): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (isObject(a) && isObject(b)) return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((k) => differingKeys(`${key}.${k}`, a[k], b[k]));
  return [key];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A reload's outcome in the log: what changed, and which changed keys wait for a restart. */
export function logReloaded(log: EventLogger, changed: boolean, restartNeeded: readonly string[], path: string): void {
  if (restartNeeded.length > 0) {
    log.warn(
      { 'event.action': 'reload-restart-needed', changed, 'restart.keys': restartNeeded },
      `config ${changed ? 'reloaded' : 'unchanged'} from ${path}, except what only a restart applies: ${restartKeysText(restartNeeded)} (still running with the old values)`,
    );
  } else log.info({ 'event.action': 'reloaded', changed }, changed ? `config reloaded from ${path}` : `config unchanged (${path})`);
}
