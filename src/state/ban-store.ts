/**
 * The bans table: every ban the daemon decided, with its reason, the incident behind it, when it was
 * made and ends, who decided it and why it is as long as it is. A ban that is lifted early (unban,
 * allow) or replaced by a newer ban of the same target keeps its row with `lifted_ms` set, so history
 * shows it; at most one row per target is live (lifted_ms NULL) at a time.
 */
import type { StateDatabase } from './database.js';

export type BanOrigin = 'detection' | 'operator' | 'config' | 'fleet';

export interface BanRow {
  target: string;
  reason: string;
  /** The incident that led to it (detection); null for operator bans and repairs. */
  incidentId: number | null;
  createdMs: number;
  /** Wall-clock ms when it ends; null: no expiry. */
  expiresMs: number | null;
  origin: BanOrigin;
  /** Why it has this length, e.g. "3rd offence: 600 s × 2^2 = 2400 s, jitter +3 %". */
  durationWhy: string;
  liftedMs: number | null;
}

interface Row {
  target: string;
  reason: string;
  incident_id: number | null;
  created_ms: number;
  expires_ms: number | null;
  origin: BanOrigin;
  duration_why: string;
  lifted_ms: number | null;
}

const COLUMNS = 'target, reason, incident_id, created_ms, expires_ms, origin, duration_why, lifted_ms';

function banFromRow(r: Row): BanRow {
  return {
    target: r.target,
    reason: r.reason,
    incidentId: r.incident_id,
    createdMs: r.created_ms,
    expiresMs: r.expires_ms,
    origin: r.origin,
    durationWhy: r.duration_why,
    liftedMs: r.lifted_ms,
  };
}

export class BanStore {
  readonly #replace;
  readonly #insert;
  readonly #live;
  readonly #forTarget;
  readonly #all;
  readonly #purge;

  constructor(db: StateDatabase) {
    this.#replace = db.prepare('UPDATE bans SET lifted_ms = ? WHERE target = ? AND lifted_ms IS NULL');
    this.#insert = db.prepare(`INSERT INTO bans (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`);
    this.#live = db.prepare(`SELECT ${COLUMNS} FROM bans WHERE lifted_ms IS NULL AND (expires_ms IS NULL OR expires_ms > ?)`).raw(true);
    this.#forTarget = db.prepare(`SELECT ${COLUMNS} FROM bans WHERE target = ? ORDER BY created_ms, id`);
    this.#all = db.prepare(`SELECT ${COLUMNS} FROM bans ORDER BY id`);
    this.#purge = db.prepare('DELETE FROM bans WHERE created_ms < @cutoff AND (lifted_ms IS NOT NULL OR (expires_ms IS NOT NULL AND expires_ms < @cutoff))');
  }

  /** Writes a ban; the target's live ban, if any, is marked replaced. Call inside a transaction. */
  add(ban: Omit<BanRow, 'liftedMs'>): void {
    this.#replace.run(ban.createdMs, ban.target);
    this.#insert.run(ban.target, ban.reason, ban.incidentId, ban.createdMs, ban.expiresMs, ban.origin, ban.durationWhy);
  }

  /** Marks the target's live ban lifted at `atMs`. */
  lift(target: string, atMs: number): void {
    this.#replace.run(atMs, target);
  }

  /** Bans in force at `nowMs`. */
  live(nowMs: number): BanRow[] {
    // Rows as arrays: restore reads every live ban (100,000 at a time), and named rows cost a third more.
    const rows = this.#live.all(nowMs) as unknown[][];
    const out: BanRow[] = new Array<BanRow>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const [target, reason, incidentId, createdMs, expiresMs, origin, durationWhy, liftedMs] = rows[i] as [string, string, number | null, number, number | null, BanOrigin, string, number | null];
      out[i] = { target, reason, incidentId, createdMs, expiresMs, origin, durationWhy, liftedMs };
    }
    return out;
  }

  /** Every ban of one target (address or prefix), oldest first. */
  forTarget(target: string): BanRow[] {
    return (this.#forTarget.all(target) as Row[]).map(banFromRow);
  }

  /** Every ban, streamed (export). */
  *iterate(): IterableIterator<BanRow> {
    for (const r of this.#all.iterate() as IterableIterator<Row>) yield banFromRow(r);
  }

  /** Removes bans that ended before `cutoffMs`; returns how many. */
  purge(cutoffMs: number): number {
    return this.#purge.run({ cutoff: cutoffMs }).changes;
  }
}
