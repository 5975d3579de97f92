/**
 * The control verbs (`status`, `bans`, `ban`, `unban`, `allow`, `reload`): one request to the running daemon over
 * its socket. Kept apart from `start` so a verb loads only the socket client, never the daemon, SQLite or the
 * config parser (the config is read only when --config or PORTWARDEN_CONFIG names one).
 */
import { request } from '../control/client.js';
import { BAN_ORIGINS, DEFAULT_SOCKET_PATH, restartKeysText, type BanOriginName, type BanView, type LapiStatusView } from '../model/control.js';
import { humanDuration, utcMinute } from '../model/duration.js';
import { parseTarget, targetContains } from '../net/target.js';
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

export interface ControlOptions {
  socket?: string;
  config?: string;
  json?: boolean;
  for?: string;
  reason?: string;
  permanent?: boolean;
  origin?: string;
  contains?: string;
  all?: boolean;
  yes?: boolean;
}

const REASON_WIDTH = 48;

function originOption(origin: string | undefined): BanOriginName | undefined {
  if (origin === undefined) return undefined;
  if (!(BAN_ORIGINS as readonly string[]).includes(origin)) throw new PortwardenError('PW_ERR_USAGE', `--origin must be one of ${BAN_ORIGINS.join(', ')}, got ${JSON.stringify(origin)}`);
  return origin as BanOriginName;
}

/** The bans that pass `bans`' filters: --origin (exact), --reason (words, any case), --contains ADDR (the ban holds ADDR). */
export function filterBans(bans: readonly BanView[], options: ControlOptions): BanView[] {
  const origin = originOption(options.origin);
  const reason = options.reason?.toLowerCase();
  let inner: ReturnType<typeof parseTarget> | undefined;
  if (options.contains !== undefined) {
    inner = parseTarget(options.contains);
    if (!inner.ok) throw new PortwardenError('PW_ERR_USAGE', `--contains: ${options.contains} is not an address or network: ${inner.reason}`);
  }
  return bans.filter((b) => {
    if (origin !== undefined && b.origin !== origin) return false;
    if (reason !== undefined && !b.reason.toLowerCase().includes(reason)) return false;
    if (inner !== undefined && inner.ok) {
      const outer = parseTarget(b.target);
      if (!outer.ok || !targetContains(outer.target, inner.target)) return false;
    }
    return true;
  });
}

/** The bans as a table: address, origin, reason, created, expires, left (human lengths, UTC minutes). */
export function banTable(bans: readonly BanView[]): string[] {
  const ms = (iso: string | null | undefined): number | null => (iso === null || iso === undefined ? null : Date.parse(iso));
  const rows = bans.map((b) => {
    const reason = b.reason.length > REASON_WIDTH ? `${b.reason.slice(0, REASON_WIDTH - 1)}…` : b.reason;
    const created = b.createdAt === undefined || b.createdAt === null ? '-' : utcMinute(ms(b.createdAt));
    const expires = b.expiresInSeconds === null ? 'never' : b.expiresAt !== undefined && b.expiresAt !== null ? utcMinute(ms(b.expiresAt)) : '-';
    const left = humanDuration(b.expiresInSeconds);
    return [b.target, b.origin, reason, created, expires, left];
  });
  const header = ['ADDRESS', 'ORIGIN', 'REASON', 'CREATED', 'EXPIRES', 'LEFT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)];
}

export async function runControl(command: string, target: string | undefined, options: ControlOptions, io: Output): Promise<number> {
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
        if (s.lapi) io.out(lapiLine(s.lapi, Date.now()));
        if (s.fleet !== undefined && s.fleet !== 'off') io.out(`fleet: ${s.fleet}`);
      }
      return 0;
    }
    case 'bans': {
      const all = await request(path, { command: 'bans' });
      const bans = filterBans(all, options);
      if (options.json) for (const b of bans) io.out(JSON.stringify(b));
      else {
        const filtered = bans.length === all.length ? '' : ` (of ${all.length})`;
        io.out(`${bans.length} ban${bans.length === 1 ? '' : 's'}${filtered}`);
        if (bans.length > 0) for (const l of banTable(bans)) io.out(l);
      }
      return 0;
    }
    case 'ban': {
      if (options.permanent && options.for !== undefined) throw new PortwardenError('PW_ERR_USAGE', 'ban takes --for or --permanent, not both');
      const seconds = options.permanent ? null : options.for !== undefined ? parseDuration(options.for) : 3600;
      const r = await request(path, { command: 'ban', target: target!, seconds, reason: options.reason ?? 'operator' });
      const until = (iso: string | null | undefined, left: number | null): string =>
        left === null ? 'permanent' : `for ${humanDuration(left)}, until ${iso ? utcMinute(Date.parse(iso)) : utcMinute(Date.now() + left * 1000)}`;
      if (r.outcome === 'covered') io.out(`${r.target} already covered by ${r.by} (${r.expiresAt === null ? 'permanent' : `expires ${utcMinute(Date.parse(r.expiresAt ?? ''))}`}); nothing changed`);
      else if (r.outcome === 'extended') io.out(`${r.target} is inside the ban of ${r.by}, which now lasts ${until(r.expiresAt, r.expiresInSeconds)}`);
      else io.out(`banned ${r.target} ${until(r.expiresAt, r.expiresInSeconds)}${r.merged && r.merged.length > 0 ? `; it replaces ${r.merged.length} narrower ban(s): ${r.merged.slice(0, 5).join(', ')}${r.merged.length > 5 ? ', …' : ''}` : ''}`);
      return 0;
    }
    case 'unban': {
      if (options.all) {
        if (target !== undefined) throw new PortwardenError('PW_ERR_USAGE', 'unban takes an address or --all, not both');
        const origin = originOption(options.origin);
        if (!options.yes) {
          const would = filterBans(await request(path, { command: 'bans' }), { origin }).length;
          throw new PortwardenError('PW_ERR_USAGE', `unban --all would lift ${would} ban${would === 1 ? '' : 's'}${origin === undefined ? '' : ` of origin ${origin}`}; add --yes to do it`);
        }
        const r = await request(path, { command: 'unban', all: true, ...(origin === undefined ? {} : { origin }) });
        io.out(`lifted ${r.lifted?.length ?? 0} ban${r.lifted?.length === 1 ? '' : 's'}${origin === undefined ? '' : ` of origin ${origin}`}`);
        return 0;
      }
      if (target === undefined) throw new PortwardenError('PW_ERR_USAGE', 'unban needs an address or network, or --all');
      const r = await request(path, { command: 'unban', target });
      if (r.blockedBy !== undefined) {
        const ends = r.blockedBy.expiresAt === null ? 'permanent' : `expires ${utcMinute(Date.parse(r.blockedBy.expiresAt))}`;
        io.out(`${r.target} is not banned by itself: the ban of ${r.blockedBy.target} (${ends}) blocks it; \`portwarden unban ${r.blockedBy.target}\` lifts that`);
        return 1;
      }
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

/** The decision stream in one status line: where, and each bouncer's last pull and what it holds. */
export function lapiLine(lapi: LapiStatusView, nowMs: number): string {
  const bouncers = lapi.bouncers.map((b) =>
    b.lastPullAt === null ? `${b.name} (not seen)` : `${b.name} (last pull ${humanDuration(Math.max(0, Math.round((nowMs - Date.parse(b.lastPullAt)) / 1000)))} ago, holds ${b.holding}, served ${b.servedNew} new/${b.servedDeleted} deleted)`,
  );
  return `CrowdSec decision stream (lapi): http://${lapi.listen}/ for ${bouncers.join(', ')}`;
}
