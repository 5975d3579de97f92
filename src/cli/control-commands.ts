/**
 * The control verbs (`status`, `bans`, `ban`, `unban`, `allow`, `reload`): one request to the running daemon over
 * its socket. Kept apart from `start` so a verb loads only the socket client, never the daemon, SQLite or the
 * config parser (the config is read only when --config or PORTWARDEN_CONFIG names one).
 */
import { request } from '../control/client.js';
import { DEFAULT_SOCKET_PATH, restartKeysText } from '../model/control.js';
import { PortwardenError } from '../errors.js';
import type { Output } from './analyze.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** '90s', '10m', '1h', '2d', or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (m === null || Number(m[1]) === 0) throw new PortwardenError('PW_ERR_USAGE', `${JSON.stringify(text)} is not a duration like 90s, 10m, 1h or 2d`);
  return Number(m[1]) * UNITS[m[2] || 's'];
}

/**
 * The socket to talk to: --socket, else PORTWARDEN_SOCKET, else the control.socketPath of --config or
 * PORTWARDEN_CONFIG, else the built-in default.
 */
export async function socketPath(options: { socket?: string; config?: string }): Promise<string> {
  const socket = options.socket ?? nonEmpty(process.env.PORTWARDEN_SOCKET);
  if (socket !== undefined) return socket;
  const config = options.config ?? nonEmpty(process.env.PORTWARDEN_CONFIG);
  if (config === undefined) return DEFAULT_SOCKET_PATH;
  const { loadConfigFile } = await import('../config/load.js');
  return loadConfigFile(config).control.socketPath;
}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export async function runControl(command: string, target: string | undefined, options: { socket?: string; config?: string; json?: boolean; for?: string; reason?: string }, io: Output): Promise<number> {
  const path = await socketPath(options);
  switch (command) {
    case 'status': {
      const s = await request(path, { command: 'status' });
      if (options.json) io.out(JSON.stringify(s));
      else {
        io.out(`portwarden ${s.version}, running since ${s.startedAt}, profile ${s.profile}, backend ${s.backend}${s.dryRun ? ' (dry run)' : ''}`);
        // Which daemon this is, and where its parts live: a first run should not have to guess.
        io.out(`watching: ${s.allInterfaces ? 'every interface but loopback (no default route)' : s.interfaces.join(', ')}, with ${s.captureMethod}`);
        io.out(`config: ${s.configFile ?? '(built-in defaults)'}; control socket: ${s.socket}; state: ${s.stateDir}`);
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
      // Keys only a restart applies keep their running values: say so, instead of a plain "reloaded".
      if (r.restartNeeded.length > 0) io.out(`${r.changed ? `reloaded (profile ${r.profile})` : 'nothing reloadable changed'}; not applied until a restart: ${restartKeysText(r.restartNeeded)}`);
      else io.out(r.changed ? `reloaded (profile ${r.profile})` : 'config unchanged');
      return 0;
    }
    default:
      throw new PortwardenError('PW_ERR_USAGE', `unknown command ${command}`);
  }
}
