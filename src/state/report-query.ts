/**
 * The figures of `portwarden report`, read from the state database over one period: incidents by kind, class
 * and day, the sources behind most of them, the bans made and how they ended, escalations, and the database's
 * own health. Every figure is one SQL aggregate over the indexed columns, so a report of a busy month reads no
 * row twice and holds only the aggregates in memory.
 */
import { statSync } from 'node:fs';
import { SCHEMA_VERSION, type StateDatabase } from './database.js';

export interface DayCounts {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  byKind: Record<string, number>;
}

export interface TopSource {
  address: string;
  incidents: number;
  kinds: string[];
  /** Offences and reputation from the offenders table, when it knows the address. */
  offences: number | null;
  score: number | null;
}

export interface Escalation {
  target: string;
  createdMs: number;
  /** Ban length in seconds; null: permanent. */
  seconds: number | null;
  why: string;
  /** The offence number the escalation counted (2 for "2nd offence"). */
  offence: number;
}

export interface ReportData {
  sinceMs: number;
  untilMs: number;
  incidents: { total: number; distinctSources: number; byKind: Record<string, number>; byClass: Record<string, number>; byDecision: Record<string, number>; perDay: DayCounts[] };
  topSources: TopSource[];
  bans: {
    created: number;
    byOrigin: Record<string, number>;
    /** How the bans made in the period ended (as of untilMs). */
    expired: number;
    lifted: number;
    active: number;
    permanent: number;
    escalated: number;
    /** Longest finite ban length made in the period, seconds. */
    longestSeconds: number | null;
  };
  escalations: Escalation[];
  health: { databaseBytes: number; schemaVersion: number; activeBansNow: number; offenders: number; firstIncidentMs: number | null; lastIncidentMs: number | null };
}

const DAY_MS = 86_400_000;
const OFFENCE = /^(\d+)(?:st|nd|rd|th) offence/;

function tally(rows: { key: string; n: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.key] = r.n;
  return out;
}

export function queryReport(db: StateDatabase, file: string, sinceMs: number, untilMs: number, topN = 10): ReportData {
  const inPeriod = 'at_ms >= @since AND at_ms < @until';
  const p = { since: sinceMs, until: untilMs };
  const group = (column: string) => db.prepare(`SELECT ${column} AS key, count(*) AS n FROM incidents WHERE ${inPeriod} GROUP BY ${column} ORDER BY n DESC, key`).all(p) as { key: string; n: number }[];

  const perDayRows = db
    .prepare(`SELECT (at_ms / ${DAY_MS}) AS day, kind, count(*) AS n FROM incidents WHERE ${inPeriod} GROUP BY day, kind ORDER BY day`)
    .all(p) as { day: number; kind: string; n: number }[];
  const perDay = new Map<number, Record<string, number>>();
  // Every day of the period has its row, quiet days too, so a chart's time axis is even.
  for (let d = Math.floor(sinceMs / DAY_MS); d <= Math.floor((untilMs - 1) / DAY_MS); d++) perDay.set(d, {});
  for (const r of perDayRows) (perDay.get(r.day) ?? perDay.set(r.day, {}).get(r.day)!)[r.kind] = r.n;

  const top = db
    .prepare(
      `SELECT s.address AS address, count(*) AS n, group_concat(DISTINCT i.kind) AS kinds
         FROM incident_sources s JOIN incidents i ON i.id = s.incident_id
        WHERE i.at_ms >= @since AND i.at_ms < @until
        GROUP BY s.address ORDER BY n DESC, s.address LIMIT @top`,
    )
    .all({ ...p, top: topN }) as { address: string; n: number; kinds: string }[];
  const offender = db.prepare('SELECT offences, score FROM offenders WHERE address = ?');

  const bansIn = 'created_ms >= @since AND created_ms < @until';
  const banRow = db
    .prepare(
      `SELECT count(*) AS created,
              sum(CASE WHEN lifted_ms IS NOT NULL AND lifted_ms <= @until AND (expires_ms IS NULL OR lifted_ms < expires_ms) THEN 1 ELSE 0 END) AS lifted,
              sum(CASE WHEN expires_ms IS NOT NULL AND expires_ms <= @until AND (lifted_ms IS NULL OR lifted_ms >= expires_ms) THEN 1 ELSE 0 END) AS expired,
              sum(CASE WHEN expires_ms IS NULL THEN 1 ELSE 0 END) AS permanent,
              max(CASE WHEN expires_ms IS NOT NULL THEN expires_ms - created_ms END) AS longest
         FROM bans WHERE ${bansIn}`,
    )
    .get(p) as { created: number; lifted: number | null; expired: number | null; permanent: number | null; longest: number | null };
  const byOrigin = tally(db.prepare(`SELECT origin AS key, count(*) AS n FROM bans WHERE ${bansIn} GROUP BY origin ORDER BY n DESC`).all(p) as { key: string; n: number }[]);

  const escalations: Escalation[] = [];
  let escalated = 0;
  for (const b of db.prepare(`SELECT target, created_ms, expires_ms, duration_why FROM bans WHERE ${bansIn} AND duration_why LIKE '%offence%'`).iterate(p) as Iterable<{ target: string; created_ms: number; expires_ms: number | null; duration_why: string }>) {
    const m = OFFENCE.exec(b.duration_why);
    if (m === null || Number(m[1]) < 2) continue;
    escalated++;
    escalations.push({ target: b.target, createdMs: b.created_ms, seconds: b.expires_ms === null ? null : Math.round((b.expires_ms - b.created_ms) / 1000), why: b.duration_why, offence: Number(m[1]) });
  }
  // The longest (permanent first), then the most recent.
  escalations.sort((a, b) => (b.seconds ?? Infinity) - (a.seconds ?? Infinity) || b.createdMs - a.createdMs);

  const created = banRow.created;
  const lifted = banRow.lifted ?? 0;
  const expired = banRow.expired ?? 0;
  const span = db.prepare('SELECT min(at_ms) AS first, max(at_ms) AS last FROM incidents').get() as { first: number | null; last: number | null };
  let databaseBytes = 0;
  for (const suffix of ['', '-wal']) {
    try {
      databaseBytes += statSync(file + suffix).size;
    } catch {
      // no WAL file at the moment
    }
  }
  return {
    sinceMs,
    untilMs,
    incidents: {
      total: (db.prepare(`SELECT count(*) AS n FROM incidents WHERE ${inPeriod}`).get(p) as { n: number }).n,
      distinctSources: (db.prepare('SELECT count(DISTINCT s.address) AS n FROM incident_sources s JOIN incidents i ON i.id = s.incident_id WHERE i.at_ms >= @since AND i.at_ms < @until').get(p) as { n: number }).n,
      byKind: tally(group('kind')),
      byClass: tally(group('class')),
      byDecision: tally(group('decision')),
      perDay: [...perDay].map(([day, byKind]) => ({ day: new Date(day * DAY_MS).toISOString().slice(0, 10), byKind })),
    },
    topSources: top.map((t) => {
      const o = offender.get(t.address) as { offences: number; score: number } | undefined;
      return { address: t.address, incidents: t.n, kinds: t.kinds.split(',').sort(), offences: o?.offences ?? null, score: o?.score ?? null };
    }),
    bans: { created, byOrigin, expired, lifted, active: created - expired - lifted, permanent: banRow.permanent ?? 0, escalated, longestSeconds: banRow.longest === null ? null : Math.round(banRow.longest / 1000) },
    escalations: escalations.slice(0, topN),
    health: {
      databaseBytes,
      schemaVersion: SCHEMA_VERSION,
      activeBansNow: (db.prepare('SELECT count(*) AS n FROM bans WHERE lifted_ms IS NULL AND (expires_ms IS NULL OR expires_ms > ?)').get(untilMs) as { n: number }).n,
      offenders: (db.prepare('SELECT count(*) AS n FROM offenders').get() as { n: number }).n,
      firstIncidentMs: span.first,
      lastIncidentMs: span.last,
    },
  };
}
