/**
 * `portwarden history ADDR`, `portwarden incidents`, `portwarden export`: read the state database
 * directly, read-only. The daemon keeps it in WAL mode, so reading never blocks it and works whether it
 * runs or not (and after it is gone); no control socket is needed, only read access to the state
 * directory (`--state DIR`, or `state.dir` of `--config`, default /var/lib/portwarden).
 */
import { humanDuration, utcMinute } from '../model/duration.js';
import { canonical } from '../net/address-set.js';
import { defaultConfig, loadConfigFile } from '../config/load.js';
import { PortwardenError } from '../errors.js';
import { BanStore, type BanRow } from '../state/ban-store.js';
import { openStateReadOnly, type StateDatabase } from '../state/database.js';
import { IncidentStore, type StoredIncident } from '../state/incident-store.js';
import { OffenderStore } from '../state/offender-store.js';
import type { Output } from './analyze.js';
import { nonEmpty, parseDuration } from './control-commands.js';

export interface StateOptions {
  state?: string;
  config?: string;
}

/** Incidents shown at most by history and incidents (newest kept). */
const DEFAULT_LIMIT = 1_000;

/** --state, else PORTWARDEN_STATE, else the state.dir of --config or PORTWARDEN_CONFIG, else the default. */
export function stateDir(options: StateOptions): string {
  const dir = options.state ?? nonEmpty(process.env.PORTWARDEN_STATE);
  if (dir !== undefined) return dir;
  const config = options.config ?? nonEmpty(process.env.PORTWARDEN_CONFIG);
  return (config !== undefined ? loadConfigFile(config) : defaultConfig()).state.dir;
}

export function withDatabase<T>(options: StateOptions, fn: (db: StateDatabase) => T): T {
  const db = openStateReadOnly(stateDir(options));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function incidentJson(i: StoredIncident): Record<string, unknown> {
  return { type: 'incident', id: i.id, at: iso(i.atMs), decision: i.decision, reason: i.reason, ...i.record };
}

function banJson(b: BanRow): Record<string, unknown> {
  return {
    type: 'ban',
    target: b.target,
    created: iso(b.createdMs),
    expires: iso(b.expiresMs),
    lifted: iso(b.liftedMs),
    origin: b.origin,
    reason: b.reason,
    duration_why: b.durationWhy,
    incident: b.incidentId,
  };
}

function incidentLine(i: StoredIncident): string {
  const r = i.record;
  const who = r['source.ip'] ?? `${r.sources?.length ?? 0} sources`;
  return `${iso(i.atMs)}  incident ${r.kind}/${r.class} ${who} -> ${r['destination.ip'] ?? '*'}  ${i.decision}: ${i.reason}`;
}

function banLine(b: BanRow): string {
  // The ban's real length and end as operators read them (4d 5h, 2026-12-06 14:03 UTC), then what happened to it.
  const length = b.expiresMs === null ? 'permanent' : `for ${humanDuration((b.expiresMs - b.createdMs) / 1000)} until ${utcMinute(b.expiresMs)}`;
  const lifted = b.liftedMs !== null ? `, lifted ${utcMinute(b.liftedMs)}` : '';
  return `${iso(b.createdMs)}  ban ${b.target} (${b.origin}) ${length}${lifted}${b.durationWhy ? `  [${b.durationWhy}]` : ''}  ${b.reason}`;
}

/** `portwarden history ADDR`: the address's offender record, its incidents and bans, oldest first. */
export function runHistory(address: string, options: StateOptions & { json: boolean; limit?: string }, io: Output): number {
  let target: string;
  try {
    target = canonical(address);
  } catch (err) {
    throw new PortwardenError('PW_ERR_USAGE', `${address} is not an address or network`, { cause: err });
  }
  const limit = parseLimit(options.limit);
  return withDatabase(options, (db) => {
    const offender = new OffenderStore(db).get(target);
    const incidents = new IncidentStore(db).forAddress(target, limit).reverse();
    const bans = new BanStore(db).forTarget(target);
    const events: { at: number; json: Record<string, unknown>; line: string }[] = [
      ...incidents.map((i) => ({ at: i.atMs, json: incidentJson(i), line: incidentLine(i) })),
      ...bans.map((b) => ({ at: b.createdMs, json: banJson(b), line: banLine(b) })),
    ].sort((a, b) => a.at - b.at);
    if (options.json) {
      if (offender !== undefined) io.out(JSON.stringify({ type: 'offender', address: target, offences: offender.offences, first_seen: iso(offender.firstSeenMs), last_seen: iso(offender.lastSeenMs), score: offender.score }));
      for (const e of events) io.out(JSON.stringify(e.json));
    } else {
      io.out(
        offender === undefined
          ? `${target}: no offences recorded`
          : `${target}: ${offender.offences} offence(s), first ${iso(offender.firstSeenMs)}, last ${iso(offender.lastSeenMs)}, reputation ${offender.score.toFixed(2)} at the last`,
      );
      for (const e of events) io.out(e.line);
      if (incidents.length === limit) io.err(`(only the newest ${limit} incidents; --limit N for more)`);
    }
    return 0;
  });
}

/** `portwarden incidents [--since 1h]`: incidents of the last period, oldest first. */
export function runIncidents(options: StateOptions & { json: boolean; since?: string; limit?: string }, io: Output): number {
  const sinceMs = Date.now() - parseDuration(options.since ?? '1h') * 1000;
  const limit = parseLimit(options.limit);
  return withDatabase(options, (db) => {
    const incidents = new IncidentStore(db).since(sinceMs, limit).reverse();
    for (const i of incidents) io.out(options.json ? JSON.stringify(incidentJson(i)) : incidentLine(i));
    if (!options.json) io.err(`${incidents.length} incident(s) since ${iso(sinceMs)}${incidents.length === limit ? ` (only the newest ${limit}; --limit N for more)` : ''}`);
    return 0;
  });
}

const CSV_COLUMNS = {
  bans: ['target', 'created', 'expires', 'lifted', 'origin', 'reason', 'duration_why', 'incident'],
  incidents: ['id', 'at', 'kind', 'class', 'source.ip', 'sources', 'destination.ip', 'probes', 'decision', 'reason'],
  offenders: ['address', 'offences', 'first_seen', 'last_seen', 'score'],
} as const;

type ExportWhat = keyof typeof CSV_COLUMNS;

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = Array.isArray(v) ? v.join(' ') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `portwarden export --format json|csv [--what bans|incidents|offenders]`: every row, streamed. */
export function runExport(options: StateOptions & { format: string; what: string }, io: Output): number {
  if (options.format !== 'json' && options.format !== 'csv') throw new PortwardenError('PW_ERR_USAGE', `--format must be json or csv, got ${options.format}`);
  if (!Object.hasOwn(CSV_COLUMNS, options.what)) throw new PortwardenError('PW_ERR_USAGE', `--what must be bans, incidents or offenders, got ${options.what}`);
  const what = options.what as ExportWhat;
  return withDatabase(options, (db) => {
    const rows: Iterable<Record<string, unknown>> =
      what === 'bans'
        ? map(new BanStore(db).iterate(), banJson)
        : what === 'incidents'
          ? map(new IncidentStore(db).iterate(), incidentJson)
          : map(new OffenderStore(db).iterate(), (o) => ({ type: 'offender', address: o.address, offences: o.offences, first_seen: iso(o.firstSeenMs), last_seen: iso(o.lastSeenMs), score: o.score }));
    if (options.format === 'csv') io.out(CSV_COLUMNS[what].join(','));
    for (const row of rows) io.out(options.format === 'json' ? JSON.stringify(row) : CSV_COLUMNS[what].map((c) => csvCell(row[c])).join(','));
    return 0;
  });
}

function* map<T, U>(items: Iterable<T>, fn: (t: T) => U): IterableIterator<U> {
  for (const t of items) yield fn(t);
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new PortwardenError('PW_ERR_USAGE', `--limit must be a whole number above 0, got ${text}`);
  return n;
}
