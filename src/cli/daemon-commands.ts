import { readFileSync } from 'node:fs';
import { defaultConfig, loadConfigFile, type PortwardenConfig } from '../config/load.js';
import { request } from '../control/client.js';
import { Daemon } from '../daemon.js';
import { PortwardenError } from '../errors.js';
import { createLogger } from '../observe/log.js';
import { parseListen } from '../observe/listen-address.js';
import type { Output } from './analyze.js';

export interface StartOptions {
  config?: string;
  /** Overrides capture.method. */
  capture?: 'nflog' | 'pcap';
  interface: string[];
  dryRun: boolean;
  flushOnExit: boolean;
  socket?: string;
  state?: string;
  /** host:port for /metrics, /health and the dashboard (observe.listen). */
  metricsListen?: string;
  /** Blocklist files for inline DNS filtering (turns inline mode on). */
  dnsBlocklist?: string[];
}

/** The package version, found from src/cli (tsx) or dist/src/cli (built). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'portwarden') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/** `portwarden start`: runs until SIGTERM or SIGINT; SIGHUP reloads the config file. Resolves with the exit status. */
export async function runStart(options: StartOptions, io: Output): Promise<number> {
  // Command-line options win over the file, at start and at every reload.
  const overrides = (c: PortwardenConfig): PortwardenConfig => {
    let config = c;
    if (options.interface.length > 0) config = { ...config, capture: { ...config.capture, interfaces: options.interface } };
    if (options.capture !== undefined) config = { ...config, capture: { ...config.capture, method: options.capture } };
    if (options.socket !== undefined) config = { ...config, control: { socketPath: options.socket } };
    if (options.state !== undefined) config = { ...config, state: { ...config.state, dir: options.state } };
    if (options.metricsListen !== undefined) config = { ...config, observe: { ...config.observe, listen: parseListen(options.metricsListen) } };
    // A quick run without a config file: inline mode with DNS filtering on these lists.
    if (options.dnsBlocklist !== undefined && options.dnsBlocklist.length > 0) config = { ...config, inline: { ...config.inline, enabled: true, dns: true }, dns: { ...config.dns, blocklists: [...config.dns.blocklists, ...options.dnsBlocklist] } };
    return config;
  };
  const config = overrides(options.config !== undefined ? loadConfigFile(options.config) : defaultConfig());
  const logger = createLogger();
  const daemon = await Daemon.start({ config, configPath: options.config, overrides, dryRun: options.dryRun, flushOnExit: options.flushOnExit, logger, version: version() });
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ 'event.action': 'signal', signal }, `${signal}: stopping`);
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          io.err(`portwarden: stopping failed: ${err instanceof Error ? err.message : String(err)}`);
          resolve(2);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      // An invalid file is refused and logged by reload; the running config stays.
      daemon.reload().catch(() => undefined);
    });
  });
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** '90s', '10m', '1h', '2d', or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (m === null || Number(m[1]) === 0) throw new PortwardenError('PW_ERR_USAGE', `${JSON.stringify(text)} is not a duration like 90s, 10m, 1h or 2d`);
  return Number(m[1]) * UNITS[m[2] || 's'];
}

export function socketPath(options: { socket?: string; config?: string }): string {
  if (options.socket !== undefined) return options.socket;
  return (options.config !== undefined ? loadConfigFile(options.config) : defaultConfig()).control.socketPath;
}

export async function runControl(command: string, target: string | undefined, options: { socket?: string; config?: string; json?: boolean; for?: string; reason?: string }, io: Output): Promise<number> {
  const path = socketPath(options);
  switch (command) {
    case 'status': {
      const s = await request(path, { command: 'status' });
      if (options.json) io.out(JSON.stringify(s));
      else {
        io.out(`portwarden ${s.version}, running since ${s.startedAt}, profile ${s.profile}, backend ${s.backend}${s.dryRun ? ' (dry run)' : ''}`);
        io.out(`bans in the kernel: ${s.bans}; incidents: ${s.incidents}`);
        io.out(`capture: ${s.counters['capture.delivered'] ?? 0} packets delivered, ${s.counters['capture.lost'] ?? 0} lost; reconcile repairs: ${s.counters['reconcile.repairs'] ?? 0}`);
      }
      return 0;
    }
    case 'bans': {
      const bans = await request(path, { command: 'bans' });
      if (options.json) for (const b of bans) io.out(JSON.stringify(b));
      else {
        io.out(`${bans.length} ban${bans.length === 1 ? '' : 's'}`);
        for (const b of bans) io.out(`  ${b.target.padEnd(40)} ${b.expiresInSeconds === null ? 'no expiry' : `${b.expiresInSeconds} s left`}  ${b.origin}: ${b.reason}`);
      }
      return 0;
    }
    case 'ban': {
      const seconds = options.for !== undefined ? parseDuration(options.for) : 3600;
      const r = await request(path, { command: 'ban', target: target!, seconds, reason: options.reason ?? 'operator' });
      io.out(`banned ${r.target} for ${r.expiresInSeconds} s`);
      return 0;
    }
    case 'unban': {
      const r = await request(path, { command: 'unban', target: target! });
      io.out(r.removed ? `unbanned ${r.target}` : `${r.target} was not banned by this daemon; removed from the kernel if it was there`);
      return 0;
    }
    case 'allow': {
      const r = await request(path, { command: 'allow', target: target!, reason: options.reason ?? 'operator' });
      io.out(`allowed ${r.target}: never banned from now on`);
      return 0;
    }
    case 'reload': {
      const r = await request(path, { command: 'reload' });
      io.out(r.changed ? `reloaded (profile ${r.profile})` : 'config unchanged');
      return 0;
    }
    default:
      throw new PortwardenError('PW_ERR_USAGE', `unknown command ${command}`);
  }
}
