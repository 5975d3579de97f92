/**
 * What the daemon keeps beyond its own lifetime, behind one small interface: incidents, bans and
 * offenders. Two implementations:
 *
 *   - SqliteState: the state database (database.ts). Writes are queued and written by `flush()` in one
 *     transaction, which the daemon calls right before each kernel commit: a ban is on disk (fsynced)
 *     before the kernel has it and before anyone is told it is applied, so kill -9 at any moment loses
 *     no acknowledged ban. Reads of offenders see queued writes too.
 *   - MemoryState: the fallback when the database cannot be opened (corrupt, locked): the daemon keeps
 *     enforcing, escalating and restoring within its own run, with bounded maps, and says so in its log.
 *
 * Ownership: the daemon owns the store and is its only writer; the CLI reads the file on its own.
 */
import type { Transaction } from 'better-sqlite3';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { OffenderBook, OffenderRecord } from '../model/offender.js';
import { PortwardenError } from '../errors.js';
import { BanStore, type BanRow } from './ban-store.js';
import { openStateDatabase, stateError, STATE_FILE, type StateDatabase } from './database.js';
import { IncidentStore, PURGE_CHUNK, type IncidentEntry } from './incident-store.js';
import { net64, OffenderStore } from './offender-store.js';
import { BaselineStore } from './baseline-store.js';
import type { BaselineSnapshot } from '../detect/baseline/tracker.js';

/** A queued incident; `id` is set once it is written (bans refer to it). */
export interface IncidentHandle {
  id: number | null;
}

export type NewBan = Omit<BanRow, 'liftedMs' | 'incidentId'>;

export interface RetentionSettings {
  incidentRetentionSeconds: number;
  banRetentionSeconds: number;
  offenderRetentionSeconds: number;
}

export interface PurgeResult {
  incidents: number;
  bans: number;
  offenders: number;
  /** Pages given back to the file system by incremental vacuum. */
  vacuumedPages: number;
}

export interface StateStore extends OffenderBook {
  /** Whether what is written outlives the daemon. */
  readonly persistent: boolean;
  /** The database file (for logs), even when it could not be opened. */
  readonly file: string;
  addIncident(entry: IncidentEntry): IncidentHandle;
  addBan(ban: NewBan, incident: IncidentHandle | null): void;
  liftBan(target: string, atMs: number): void;
  /** Writes everything queued, in one durable transaction. Throws PW_ERR_STATE (the queue is dropped). */
  flush(): void;
  /** Replaces a recorded incident's record (playbook outcomes); written with the next flush. */
  annotateIncident(handle: IncidentHandle, record: IncidentEntry['record']): void;
  /** Bans in force at `nowMs`, one per target. */
  liveBans(nowMs: number): BanRow[];
  /** Whether an offender lies in this IPv6 /64. */
  hasOffenderIn64(prefix: string): boolean;
  /** Writes the baselines' learned state (replacing what was there), durably. Throws PW_ERR_STATE. */
  saveBaseline(snapshot: BaselineSnapshot, nowMs: number): void;
  /** The baselines' saved state, or null when none was saved. Throws PW_ERR_STATE. */
  loadBaseline(): BaselineSnapshot | null;
  /** Deletes what retention no longer keeps and compacts the file; yields between chunks. */
  purge(nowMs: number, retention: RetentionSettings): Promise<PurgeResult>;
  close(): void;
}

const OFFENDERS_JSON = 'offenders.json';

/**
 * Opens the state of `dir`. A database that cannot be opened is reported through `onError` (a
 * PW_ERR_STATE naming the file) and replaced by memory, so the daemon still enforces.
 * An `offenders.json` of older versions is imported once and renamed `offenders.json.imported`.
 */
export function openState(dir: string, onError: (err: PortwardenError) => void, onImport?: (count: number, file: string) => void): StateStore {
  let store: StateStore;
  try {
    store = new SqliteState(openStateDatabase(dir), join(dir, STATE_FILE));
  } catch (err) {
    onError(err instanceof PortwardenError ? err : stateError(join(dir, STATE_FILE), 'cannot open the state database', err));
    store = new MemoryState(join(dir, STATE_FILE));
  }
  const imported = importOffendersJson(dir, store, onError);
  if (imported > 0) onImport?.(imported, join(dir, OFFENDERS_JSON));
  return store;
}

/** The IPv6 /64s the daemon kept in offenders.json before the database; each becomes an offender. */
function importOffendersJson(dir: string, store: StateStore, onError: (err: PortwardenError) => void): number {
  const path = join(dir, OFFENDERS_JSON);
  if (!existsSync(path)) return 0;
  let prefixes: string[];
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { ipv6Prefixes?: unknown };
    if (!Array.isArray(parsed.ipv6Prefixes)) throw new Error('no ipv6Prefixes list');
    prefixes = parsed.ipv6Prefixes.filter((p): p is string => typeof p === 'string' && net64(p) !== null);
  } catch (err) {
    renameSync(path, `${path}.damaged`);
    onError(stateError(path, 'damaged, moved aside', err));
    return 0;
  }
  const now = Date.now();
  for (const p of prefixes) {
    const prefix = net64(p)!;
    if (store.get(prefix) === undefined) store.put({ address: prefix, offences: 1, firstSeenMs: now, lastSeenMs: now, score: 1 });
  }
  store.flush();
  // Only once it is in the database; kept for the next start when it only went to memory.
  if (store.persistent) renameSync(path, `${path}.imported`);
  return prefixes.length;
}

class SqliteState implements StateStore {
  readonly persistent = true;
  readonly file: string;
  readonly #db: StateDatabase;
  readonly #bans: BanStore;
  readonly #incidents: IncidentStore;
  readonly #offenders: OffenderStore;
  readonly #baseline: BaselineStore;
  #queuedIncidents: { entry: IncidentEntry; handle: IncidentHandle }[] = [];
  #queuedBans: { ban: NewBan; incident: IncidentHandle | null }[] = [];
  #queuedLifts: { target: string; atMs: number }[] = [];
  #queuedAnnotations: { handle: IncidentHandle; record: IncidentEntry['record'] }[] = [];
  /** Offenders written since the last flush: read before the table, so escalation sees its own writes. */
  #queuedOffenders = new Map<string, OffenderRecord>();
  readonly #write: Transaction<() => void>;

  constructor(db: StateDatabase, file: string) {
    this.#db = db;
    this.file = file;
    this.#bans = new BanStore(db);
    this.#incidents = new IncidentStore(db);
    this.#offenders = new OffenderStore(db);
    this.#baseline = new BaselineStore(db);
    // Order matters: incidents first (bans take their ids), lifts before bans (a lift then a new ban
    // of the same target in one batch leaves the new ban live).
    this.#write = db.transaction(() => {
      for (const q of this.#queuedIncidents) q.handle.id = this.#incidents.add(q.entry);
      for (const l of this.#queuedLifts) this.#bans.lift(l.target, l.atMs);
      for (const q of this.#queuedBans) this.#bans.add({ ...q.ban, incidentId: q.incident?.id ?? null });
      for (const o of this.#queuedOffenders.values()) this.#offenders.put(o);
      for (const u of this.#queuedAnnotations) if (u.handle.id !== null) this.#incidents.updateRecord(u.handle.id, u.record);
    });
  }

  annotateIncident(handle: IncidentHandle, record: IncidentEntry['record']): void {
    const queued = this.#queuedIncidents.find((q) => q.handle === handle);
    if (queued !== undefined) queued.entry = { ...queued.entry, record };
    else this.#queuedAnnotations.push({ handle, record });
  }

  addIncident(entry: IncidentEntry): IncidentHandle {
    const handle: IncidentHandle = { id: null };
    this.#queuedIncidents.push({ entry, handle });
    return handle;
  }

  addBan(ban: NewBan, incident: IncidentHandle | null): void {
    this.#queuedBans.push({ ban, incident });
  }

  liftBan(target: string, atMs: number): void {
    // A ban queued in this same batch is lifted by writing the lift after it: flush writes lifts
    // first, so write the pending ban now.
    if (this.#queuedBans.some((q) => q.ban.target === target)) this.flush();
    this.#queuedLifts.push({ target, atMs });
  }

  get(address: string): OffenderRecord | undefined {
    return this.#queuedOffenders.get(address) ?? this.#guard('read an offender', () => this.#offenders.get(address));
  }

  put(record: OffenderRecord): void {
    this.#queuedOffenders.set(record.address, record);
  }

  hasOffenderIn64(prefix: string): boolean {
    for (const o of this.#queuedOffenders.values()) if (net64(o.address) === prefix) return true;
    return this.#guard('read offenders', () => this.#offenders.hasIn64(prefix));
  }

  saveBaseline(snapshot: BaselineSnapshot, nowMs: number): void {
    this.#guard('write baselines', () => this.#baseline.save(snapshot, nowMs));
  }

  loadBaseline(): BaselineSnapshot | null {
    return this.#guard('read baselines', () => this.#baseline.load());
  }

  flush(): void {
    if (this.#queuedIncidents.length === 0 && this.#queuedBans.length === 0 && this.#queuedLifts.length === 0 && this.#queuedOffenders.size === 0 && this.#queuedAnnotations.length === 0) return;
    try {
      this.#guard('write', () => this.#write.immediate());
    } finally {
      this.#queuedIncidents = [];
      this.#queuedBans = [];
      this.#queuedLifts = [];
      this.#queuedAnnotations = [];
      this.#queuedOffenders = new Map();
    }
  }

  liveBans(nowMs: number): BanRow[] {
    return this.#guard('read the bans', () => this.#bans.live(nowMs));
  }

  async purge(nowMs: number, r: RetentionSettings): Promise<PurgeResult> {
    const result: PurgeResult = { incidents: 0, bans: 0, offenders: 0, vacuumedPages: 0 };
    const range = this.#guard('purge', () => this.#incidents.purgeRange(nowMs - r.incidentRetentionSeconds * 1000));
    if (range !== null) {
      for (let from = range.lo; from <= range.hi; from += PURGE_CHUNK) {
        const to = Math.min(from + PURGE_CHUNK, range.hi + 1);
        result.incidents += this.#guard('purge', () => this.#db.transaction(() => this.#incidents.purgeIds(from, to)).immediate());
        // Let commits and control requests in between chunks.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    result.bans = this.#guard('purge', () => this.#bans.purge(nowMs - r.banRetentionSeconds * 1000));
    result.offenders = this.#guard('purge', () => this.#offenders.purge(nowMs - r.offenderRetentionSeconds * 1000));
    result.vacuumedPages = this.#guard('compact', () => this.#compact());
    return result;
  }

  /**
   * Gives free pages back to the file system when they are worth it (a tenth of the file or 1,000
   * pages), and truncates the WAL. Incremental: no full rewrite of the file.
   */
  #compact(): number {
    const free = this.#db.pragma('freelist_count', { simple: true }) as number;
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    let vacuumed = 0;
    if (free > 0 && (free >= 1_000 || free * 10 >= pages)) {
      this.#db.pragma('incremental_vacuum');
      vacuumed = free - (this.#db.pragma('freelist_count', { simple: true }) as number);
    }
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    return vacuumed;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.#db.close();
    }
  }

  #guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw stateError(this.file, `cannot ${what}`, err);
    }
  }
}

/** Offenders remembered in memory at most; the least recently seen go first. */
const MEMORY_OFFENDERS = 100_000;

/** The fallback: this run's bans and offenders, bounded, gone at exit. */
export class MemoryState implements StateStore {
  readonly persistent = false;
  readonly file: string;
  readonly #bans = new Map<string, BanRow>();
  readonly #offenders = new Map<string, OffenderRecord>();
  readonly #nets = new Map<string, number>();
  #baseline: BaselineSnapshot | null = null;

  constructor(file: string) {
    this.file = file;
  }

  addIncident(): IncidentHandle {
    return { id: null };
  }

  annotateIncident(): void {}

  addBan(ban: NewBan): void {
    this.#bans.set(ban.target, { ...ban, incidentId: null, liftedMs: null });
  }

  liftBan(target: string): void {
    this.#bans.delete(target);
  }

  get(address: string): OffenderRecord | undefined {
    return this.#offenders.get(address);
  }

  put(record: OffenderRecord): void {
    if (!this.#offenders.delete(record.address)) this.#count(record.address, 1);
    this.#offenders.set(record.address, record);
    if (this.#offenders.size > MEMORY_OFFENDERS) {
      const oldest = this.#offenders.keys().next().value as string;
      this.#offenders.delete(oldest);
      this.#count(oldest, -1);
    }
  }

  hasOffenderIn64(prefix: string): boolean {
    return (this.#nets.get(prefix) ?? 0) > 0;
  }

  flush(): void {}

  saveBaseline(snapshot: BaselineSnapshot): void {
    this.#baseline = snapshot;
  }

  loadBaseline(): BaselineSnapshot | null {
    return this.#baseline;
  }

  liveBans(nowMs: number): BanRow[] {
    const out: BanRow[] = [];
    for (const [target, b] of this.#bans) {
      if (b.expiresMs !== null && b.expiresMs <= nowMs) this.#bans.delete(target);
      else out.push(b);
    }
    return out;
  }

  async purge(): Promise<PurgeResult> {
    this.liveBans(Date.now());
    return { incidents: 0, bans: 0, offenders: 0, vacuumedPages: 0 };
  }

  close(): void {}

  #count(address: string, delta: number): void {
    const net = net64(address);
    if (net === null) return;
    const n = (this.#nets.get(net) ?? 0) + delta;
    if (n > 0) this.#nets.set(net, n);
    else this.#nets.delete(net);
  }
}

/** Log events of the state, by `event.action` (docs/reference.md). */
export const StateEvent = {
  'state-unavailable': 'the state database could not be opened (PW_ERR_STATE naming the file: corrupt, locked, newer schema); the daemon goes on with in-memory state',
  'state-write-failed': 'writing to or reading from the state database failed (PW_ERR_STATE); the kernel still gets the bans',
  'state-imported': 'repeat IPv6 offenders of an older offenders.json were imported into the database (once; the file is renamed .imported)',
  'bans-restored': 'at start, the database\'s unexpired bans (and kernel bans it lacked) went back into the kernel in one transaction',
  'state-repair': 'at start, a ban was in the database but missing from the kernel (put back) or in the kernel but missing from the database (recorded)',
  'baselines-restored': 'at start, the baselines learned by earlier runs were read from the database (metrics, and the packet-time hour being counted)',
  'state-purged': 'retention deleted old incidents, ended bans and forgotten offenders, and compacted the file',
} as const;
