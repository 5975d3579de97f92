/**
 * The state database: one SQLite file (`state.db` in the state directory) in WAL mode, so the CLI can
 * read it while the daemon writes. The schema is versioned with `PRAGMA user_version`; every migration
 * below runs once, in order, in one transaction each, when the daemon opens the file.
 *
 * Durability: `synchronous = FULL` makes every commit reach the disk (an fsync of the WAL) before it
 * returns, so a ban written here survives kill -9 and a power cut alike. The daemon writes a batch of
 * bans in one transaction per kernel commit (5 ms), so that fsync is paid per batch, not per ban.
 *
 * Every failure (corrupt file, another process holding a lock, a newer schema) is a PortwardenError
 * PW_ERR_STATE naming the file.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { PortwardenError } from '../errors.js';

export type StateDatabase = Database.Database;

export const STATE_FILE = 'state.db';

/** How long opening waits for another connection's lock before it reports the file as locked. */
const BUSY_TIMEOUT_MS = 2_000;

/**
 * Schema versions, oldest first: index i brings the file from version i to i + 1. Never edit a
 * migration that has shipped; add one.
 */
const MIGRATIONS: readonly string[] = [
  // 1: bans, incidents (with their member sources, for history by address), offenders.
  `
  CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    class TEXT NOT NULL,
    source TEXT,
    destination TEXT,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    record TEXT NOT NULL
  );
  CREATE INDEX incidents_at ON incidents (at_ms);
  -- Every source an incident names (one for a scan, all members of a distributed or decoy scan).
  CREATE TABLE incident_sources (
    address TEXT NOT NULL,
    incident_id INTEGER NOT NULL,
    PRIMARY KEY (address, incident_id)
  ) WITHOUT ROWID;
  CREATE INDEX incident_sources_incident ON incident_sources (incident_id);
  CREATE TABLE bans (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    incident_id INTEGER,
    created_ms INTEGER NOT NULL,
    -- NULL: no expiry.
    expires_ms INTEGER,
    origin TEXT NOT NULL,
    -- Why the ban has the length it has (escalation).
    duration_why TEXT NOT NULL DEFAULT '',
    -- Set when the ban is lifted early (unban, allow) or replaced by a newer ban of the same target.
    lifted_ms INTEGER
  );
  CREATE INDEX bans_target ON bans (target, created_ms);
  CREATE INDEX bans_live ON bans (expires_ms) WHERE lifted_ms IS NULL;
  CREATE INDEX bans_created ON bans (created_ms);
  CREATE TABLE offenders (
    address TEXT PRIMARY KEY,
    -- The IPv6 /64 the address or prefix lies in (NULL for IPv4): repeat offenders are banned as it.
    net64 TEXT,
    offences INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    -- Reputation at last_seen_ms; it decays from there (decide/escalation.ts).
    score REAL NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX offenders_net64 ON offenders (net64) WHERE net64 IS NOT NULL;
  CREATE INDEX offenders_last_seen ON offenders (last_seen_ms);
  `,
  // 2: behavioural baselines (detect/baseline/): each tracked place's learned series, and the hour being counted.
  `
  CREATE TABLE baseline_metrics (
    name TEXT PRIMARY KEY,
    -- Order the daemon tracks them in (the cap keeps the first).
    position INTEGER NOT NULL,
    scope TEXT NOT NULL,
    map_key REAL NOT NULL,
    address TEXT,
    port TEXT,
    state BLOB NOT NULL,
    updated_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE baseline_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hour_start_ms INTEGER NOT NULL,
    packets_this_hour INTEGER NOT NULL
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function stateError(file: string, what: string, cause: unknown): PortwardenError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as { code?: unknown } | null)?.code;
  const hint =
    code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
      ? ' (locked by another process)'
      : code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT'
        ? ' (corrupt, or not a SQLite database: move it aside to start afresh)'
        : '';
  return new PortwardenError('PW_ERR_STATE', `${file}: ${what}: ${detail}${hint}`, { cause });
}

/**
 * The database holds who was banned and why: readable by root only. SQLite gives its -wal and -shm files the
 * mode of the database file, so creating that one 0600 (whatever the umask) covers all three; files of an
 * older version, made 0644, are narrowed at the next start.
 */
function keepPrivate(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(path)) chmodSync(path, 0o600);
}

/**
 * Opens (creating it if need be) the state database of `dir` for the daemon: WAL, FULL sync,
 * incremental auto-vacuum, migrations applied. Throws PW_ERR_STATE naming the file.
 */
export function openStateDatabase(dir: string): StateDatabase {
  const file = join(dir, STATE_FILE);
  let db: StateDatabase | undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    keepPrivate(file);
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    // Must precede the first table: it decides the file's layout. Lets retention give pages back
    // (PRAGMA incremental_vacuum) without a full VACUUM that rewrites the whole file.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = OFF');
    // A file that is not SQLite fails here, on its first read.
    migrate(db, file);
    // The daemon must be able to write: a file another process holds a write lock on fails here
    // (after BUSY_TIMEOUT_MS), at start, not at the first ban.
    db.transaction(() => undefined).immediate();
    // No integrity check here: it reads the whole file (seconds at a million rows) and delays the
    // restore; a damaged page is reported as SQLITE_CORRUPT (PW_ERR_STATE) when it is read.
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof PortwardenError) throw err;
    throw stateError(file, 'cannot open the state database', err);
  }
}

/**
 * Opens the state database read-only (the CLI's history, incidents and export): works beside a running
 * daemon thanks to WAL. Throws PW_ERR_STATE when the file is missing, corrupt or of another version.
 */
export function openStateReadOnly(dir: string): StateDatabase {
  const file = join(dir, STATE_FILE);
  let db: StateDatabase | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 0) throw new Error('no portwarden schema in it (has the daemon ever run with this state directory?)');
    if (version > SCHEMA_VERSION) throw new Error(`schema version ${version} is newer than this portwarden knows (${SCHEMA_VERSION})`);
    return db;
  } catch (err) {
    db?.close();
    throw stateError(file, 'cannot read the state database', err);
  }
}

function migrate(db: StateDatabase, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new PortwardenError('PW_ERR_STATE', `${file}: schema version ${version} is newer than this portwarden knows (${SCHEMA_VERSION}); refusing to touch it`);
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      // user_version inside the same transaction: a crash leaves the file at v or v + 1, never between.
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
