/**
 * What an alert is: one thing an operator should hear about (an incident, a ban, the new-ban cap at
 * work, a kernel that refused a change), with a severity and a flat JSON shape whose field names are
 * the ones the ECS logs use (observe/log.ts), so an alert and its log line read alike.
 *
 * Severity scale, lowest first: info < low < medium < high < critical. How each event maps onto it is
 * the table in `severityOf*` below (documented in README "Alerts"); a channel delivers alerts at or
 * above its `minSeverity`.
 */
import { hostname } from 'node:os';
import type { Decision } from '../model/decision.js';
import type { DecideLogEvent } from '../model/decision.js';
import type { IncidentRecord } from '../model/incident.js';
import { humanDuration, utcMinute } from '../model/duration.js';

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** 0 (info) … 4 (critical): compare severities by rank. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export type AlertAction =
  | `incident-${IncidentRecord['kind']}`
  | 'ban'
  | 'ban-refused'
  | 'ban-capped'
  | 'ban-widened'
  | 'bad-source'
  | 'enforce-failed'
  | 'feed-stale';

/**
 * One alert. Flat, ECS field names where ECS has one; `event.severity` is the numeric rank (ECS wants a
 * number), `portwarden.severity` the word. `incident` carries the whole incident record for incident
 * alerts, so a receiver sees the evidence the log line summarises.
 */
export interface Alert {
  '@timestamp': string;
  'event.kind': 'alert';
  'event.action': AlertAction;
  'event.severity': number;
  'portwarden.severity': Severity;
  'host.hostname': string;
  message: string;
  'rule.name'?: string;
  'source.ip'?: string;
  sources?: string[];
  'destination.ip'?: string;
  'destination.port'?: string;
  /** incident alerts: what decide did (ban, alert, ignore) and the targets it banned. */
  decision?: Decision['action'];
  'ban.targets'?: string[];
  /** ban alerts: the ban's length in seconds (null: no expiry), and who asked for it. */
  'ban.seconds'?: number | null;
  /** When the ban ends (ISO 8601), null: permanent. */
  'ban.expires'?: string | null;
  'ban.origin'?: string;
  incident?: IncidentRecord;
}

let cachedHost: string | undefined;
function host(): string {
  cachedHost ??= hostname();
  return cachedHost;
}

function base(action: AlertAction, severity: Severity, message: string, nowMs: number): Alert {
  return {
    '@timestamp': new Date(nowMs).toISOString(),
    'event.kind': 'alert',
    'event.action': action,
    'event.severity': severityRank(severity),
    'portwarden.severity': severity,
    'host.hostname': host(),
    message,
  };
}

/**
 * An incident's severity: a spoofed flood (the host is under attack and no ban can help) is critical; a
 * distributed scan or a flood high; scans, sweeps and decoy scans medium; an incident decide found
 * already covered (`ignore`: its sources are banned already) only info.
 */
function severityOfIncident(record: IncidentRecord, decision: Decision['action']): Severity {
  if (decision === 'ignore') return 'info';
  switch (record.kind) {
    case 'flood':
      return record['source.ip'] === undefined ? 'critical' : 'high';
    case 'distributed-scan':
      return 'high';
    case 'scan':
    case 'sweep':
    case 'decoy-scan':
      return 'medium';
    default:
      return 'medium';
  }
}

export function incidentAlert(decision: Decision, nowMs = Date.now()): Alert {
  const r = decision.incident;
  const a = base(`incident-${r.kind}`, severityOfIncident(r, decision.action), decision.reason, nowMs);
  a['rule.name'] = `${r.kind}/${r.class}`;
  if (r['source.ip'] !== undefined) a['source.ip'] = r['source.ip'];
  if (r.sources !== undefined) a.sources = r.sources;
  if (r['destination.ip'] !== undefined) a['destination.ip'] = r['destination.ip'];
  if (r['destination.port'] !== undefined) a['destination.port'] = r['destination.port'];
  a.decision = decision.action;
  if (decision.targets.length > 0) a['ban.targets'] = decision.targets;
  a.incident = r;
  return a;
}

/**
 * A ban put into the kernel: low, because the incident alert that caused it already carries the
 * incident's severity (a channel at `low` hears of every ban, operator bans included).
 */
export function banAlert(target: string, seconds: number | null, reason: string, origin: string, nowMs = Date.now()): Alert {
  const length = seconds === null ? 'permanently' : `for ${humanDuration(seconds)}, until ${utcMinute(nowMs + seconds * 1000)}`;
  const a = base('ban', 'low', `ban ${target} ${length}: ${reason}`, nowMs);
  a['source.ip'] = target;
  a['ban.seconds'] = seconds;
  a['ban.expires'] = seconds === null ? null : new Date(nowMs + seconds * 1000).toISOString();
  a['ban.origin'] = origin;
  return a;
}

/**
 * decide's own events: the new-ban cap at work (capped: a scanner went unbanned; widened: a whole prefix
 * was banned) is high, an operator should look; a lockout-guard refusal is low (it protects by design);
 * an incident naming a non-address source is medium.
 */
export function decideAlert(event: DecideLogEvent, nowMs = Date.now()): Alert {
  const severity: Severity = event['event.action'] === 'ban-refused' ? 'low' : event['event.action'] === 'bad-source' ? 'medium' : 'high';
  const a = base(event['event.action'], severity, event.reason, nowMs);
  a['source.ip'] = event['source.ip'];
  a['rule.name'] = event['rule.name'];
  return a;
}

/** The kernel refused a ban or the whole transaction: critical, detection works but nothing is enforced. */
export function enforceFailureAlert(message: string, target: string | undefined, nowMs = Date.now()): Alert {
  const a = base('enforce-failed', 'critical', message, nowMs);
  if (target !== undefined) a['source.ip'] = target;
  return a;
}

/** One line per alert for text channels (email, Slack fallback): `[HIGH] incident-scan 192.0.2.7: reason`. */
export function alertLine(a: Alert): string {
  const who = a['source.ip'] ?? (a.sources !== undefined ? `${a.sources.length} sources` : '');
  return `[${a['portwarden.severity'].toUpperCase()}] ${a['event.action']}${who ? ` ${who}` : ''}: ${a.message}`;
}

/** The highest severity among `alerts` (info for none). */
export function highestSeverity(alerts: readonly Alert[]): Severity {
  let best = 0;
  for (const a of alerts) best = Math.max(best, a['event.severity']);
  return SEVERITIES[best];
}

/**
 * A threat feed whose copy in force is older than 3x its refresh (the source is down, refuses us, or
 * sends what the parser refuses): medium, since the kernel still enforces the last good copy.
 */
export function feedStaleAlert(feed: { name: string; ageSeconds: number | null; refreshSeconds: number; lastError: string | null; entries: number }, nowMs = Date.now()): Alert {
  const age = feed.ageSeconds === null ? 'never fetched' : `last good copy ${humanDuration(feed.ageSeconds)} old`;
  const why = feed.lastError === null ? '' : `; last error: ${feed.lastError}`;
  const a = base('feed-stale', 'medium', `feed ${feed.name} is stale (${age}, refresh ${humanDuration(feed.refreshSeconds)}); the kernel keeps its ${feed.entries} entries${why}`, nowMs);
  a['rule.name'] = `feed/${feed.name}`;
  return a;
}
