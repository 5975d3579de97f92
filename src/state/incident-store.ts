/**
 * The incidents table: every incident the daemon decided on, with the decision and its reason, and the
 * full record (as `analyze --json` prints it). `incident_sources` lists every source an incident names,
 * so `portwarden history ADDR` finds the members of distributed and decoy scans too.
 *
 * Reads never load the table: queries are bounded by an index (time or address) and a limit, and export
 * streams row by row. Retention deletes old rows in chunks (each its own short transaction), so the
 * daemon's writes never wait long behind a purge of a million rows.
 */
import type { IncidentRecord } from '../model/incident.js';
import type { StateDatabase } from './database.js';

export interface IncidentEntry {
  /** Wall-clock ms the daemon decided on it. */
  atMs: number;
  record: IncidentRecord;
  /** The decision's action: ban, alert, ignore. */
  decision: string;
  reason: string;
}

export interface StoredIncident extends IncidentEntry {
  id: number;
}

interface Row {
  id: number;
  at_ms: number;
  decision: string;
  reason: string;
  record: string;
}

function fromRow(r: Row): StoredIncident {
  return { id: r.id, atMs: r.at_ms, decision: r.decision, reason: r.reason, record: JSON.parse(r.record) as IncidentRecord };
}

/** Every source an incident names, once each. */
function incidentSources(record: IncidentRecord): string[] {
  const all = record['source.ip'] !== undefined ? [record['source.ip'], ...(record.sources ?? [])] : (record.sources ?? []);
  return [...new Set(all)];
}

/** Rows deleted per purge transaction. */
export const PURGE_CHUNK = 10_000;

export class IncidentStore {
  readonly #insert;
  readonly #insertSource;
  readonly #since;
  readonly #forAddress;
  readonly #byId;
  readonly #all;
  readonly #purgeBound;
  readonly #purgeIncidents;
  readonly #purgeSources;
  readonly #count;
  readonly #update;

  constructor(db: StateDatabase) {
    this.#insert = db.prepare('INSERT INTO incidents (at_ms, kind, class, source, destination, decision, reason, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.#insertSource = db.prepare('INSERT OR IGNORE INTO incident_sources (address, incident_id) VALUES (?, ?)');
    this.#since = db.prepare('SELECT id, at_ms, decision, reason, record FROM incidents WHERE at_ms >= ? ORDER BY at_ms DESC, id DESC LIMIT ?');
    this.#forAddress = db.prepare(
      'SELECT i.id, i.at_ms, i.decision, i.reason, i.record FROM incident_sources s JOIN incidents i ON i.id = s.incident_id WHERE s.address = ? ORDER BY s.incident_id DESC LIMIT ?',
    );
    this.#byId = db.prepare('SELECT id, at_ms, decision, reason, record FROM incidents WHERE id = ?');
    this.#all = db.prepare('SELECT id, at_ms, decision, reason, record FROM incidents ORDER BY id');
    // Incidents are written in time order, so ids grow with at_ms: everything up to the newest id
    // older than the cutoff goes, in id ranges.
    this.#purgeBound = db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM incidents WHERE at_ms < ?');
    this.#purgeIncidents = db.prepare('DELETE FROM incidents WHERE id >= ? AND id < ?');
    this.#purgeSources = db.prepare('DELETE FROM incident_sources WHERE incident_id >= ? AND incident_id < ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM incidents');
    this.#update = db.prepare('UPDATE incidents SET record = ? WHERE id = ?');
  }

  /** Replaces incident `id`'s record (playbook outcomes added after it was written). Call inside a transaction. */
  updateRecord(id: number, record: IncidentRecord): void {
    this.#update.run(JSON.stringify(record), id);
  }

  /** Writes one incident and its sources; returns its id. Call inside a transaction. */
  add(entry: IncidentEntry): number {
    const r = entry.record;
    const id = Number(
      this.#insert.run(entry.atMs, r.kind, r.class, r['source.ip'] ?? null, r['destination.ip'] ?? null, entry.decision, entry.reason, JSON.stringify(r)).lastInsertRowid,
    );
    for (const address of incidentSources(r)) this.#insertSource.run(address, id);
    return id;
  }

  /** The newest `limit` incidents from `sinceMs` on, newest first. */
  since(sinceMs: number, limit: number): StoredIncident[] {
    return (this.#since.all(sinceMs, limit) as Row[]).map(fromRow);
  }

  /** The newest `limit` incidents naming `address` as a source, newest first. */
  forAddress(address: string, limit: number): StoredIncident[] {
    return (this.#forAddress.all(address, limit) as Row[]).map(fromRow);
  }

  /** Incident `id`, or undefined when there is none (never written, or purged). */
  byId(id: number): StoredIncident | undefined {
    const r = this.#byId.get(id) as Row | undefined;
    return r === undefined ? undefined : fromRow(r);
  }

  /** Every incident, streamed, oldest first (export). */
  *iterate(): IterableIterator<StoredIncident> {
    for (const r of this.#all.iterate() as IterableIterator<Row>) yield fromRow(r);
  }

  count(): number {
    return (this.#count.get() as { n: number }).n;
  }

  /** The id range [lo, hi] of incidents older than `cutoffMs`, or null when there are none. */
  purgeRange(cutoffMs: number): { lo: number; hi: number } | null {
    const r = this.#purgeBound.get(cutoffMs) as { lo: number | null; hi: number | null };
    return r.lo === null || r.hi === null ? null : { lo: r.lo, hi: r.hi };
  }

  /** Deletes incidents (and their source rows) with ids in [from, to); returns how many incidents. */
  purgeIds(from: number, to: number): number {
    this.#purgeSources.run(from, to);
    return this.#purgeIncidents.run(from, to).changes;
  }
}
