/**
 * The state database on real SQLite files in a temporary directory: schema and migrations, bans and
 * incidents written in one transaction, history by address, restore planning, retention and
 * compaction, the offenders.json import, and a corrupt or locked file (both produced for real).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { IncidentRecord } from '../src/model/incident.js';
import { PortwardenError } from '../src/errors.js';
import { openStateDatabase, openStateReadOnly, SCHEMA_VERSION, STATE_FILE } from '../src/state/database.js';
import { IncidentStore } from '../src/state/incident-store.js';
import { BanStore } from '../src/state/ban-store.js';
import { planRestore } from '../src/state/restore.js';
import { openState, type StateStore } from '../src/state/state-store.js';

const root = mkdtempSync(join(tmpdir(), 'pw-state-'));
let n = 0;
const fresh = () => join(root, String(n++));
after(() => rmSync(root, { recursive: true, force: true }));

function mustOpen(dir: string): StateStore {
  return openState(dir, (err) => assert.fail(err.message));
}

function scan(source: string, extra: Partial<IncidentRecord> = {}): IncidentRecord {
  return { kind: 'scan', class: 'syn', 'source.ip': source, 'destination.ip': '192.0.2.1', probes: 10, first_seen: '2026-01-01T00:00:00.000Z', last_seen: '2026-01-01T00:00:01.000Z', confidence: 0.99, evidence: {}, ...extra };
}

function stateError(file: string, pattern: RegExp) {
  return (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_STATE' && err.message.startsWith(file) && pattern.test(err.message);
}

test('a new state directory gets the current schema in WAL mode; reopening migrates nothing; a newer schema is refused', () => {
  const dir = fresh();
  const db = openStateDatabase(dir);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('auto_vacuum', { simple: true }), 2, 'incremental');
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
  assert.deepEqual(tables, ['bans', 'baseline_clock', 'baseline_metrics', 'incident_sources', 'incidents', 'offenders']);
  db.close();
  openStateDatabase(dir).close();
  const raw = new Database(join(dir, STATE_FILE));
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  assert.throws(() => openStateDatabase(dir), stateError(join(dir, STATE_FILE), /newer than this portwarden knows/));
});

test('incidents and bans are written in one transaction, bans pointing at their incident; history finds group members', () => {
  const dir = fresh();
  const s = mustOpen(dir);
  const h = s.addIncident({ atMs: 1_000, record: scan('192.0.2.7'), decision: 'ban', reason: 'a scan' });
  s.addBan({ target: '192.0.2.7', reason: 'a scan', createdMs: 1_000, expiresMs: 3_601_000, origin: 'detection', durationWhy: '1st offence' }, h);
  s.addIncident({ atMs: 2_000, record: { ...scan('x'), 'source.ip': undefined, kind: 'distributed-scan', sources: ['198.51.100.1', '192.0.2.7'] }, decision: 'ban', reason: 'distributed' });
  assert.equal(h.id, null, 'nothing written before flush');
  s.flush();
  assert.equal(typeof h.id, 'number');
  const live = s.liveBans(2_000);
  assert.deepEqual(live.map((b) => [b.target, b.incidentId, b.expiresMs, b.durationWhy]), [['192.0.2.7', h.id, 3_601_000, '1st offence']]);
  assert.deepEqual(s.liveBans(3_601_000), [], 'expired');
  // A second ban of the same target replaces the first; lifting ends it.
  s.addBan({ target: '192.0.2.7', reason: 'again', createdMs: 5_000, expiresMs: 9_000_000, origin: 'operator', durationWhy: '' }, null);
  s.flush();
  assert.deepEqual(s.liveBans(6_000).map((b) => b.reason), ['again']);
  s.liftBan('192.0.2.7', 7_000);
  s.flush();
  assert.deepEqual(s.liveBans(8_000), []);
  s.close();

  const ro = openStateReadOnly(dir);
  const history = new IncidentStore(ro).forAddress('192.0.2.7', 100);
  assert.deepEqual(history.map((i) => i.record.kind), ['distributed-scan', 'scan'], 'newest first, the group member included');
  assert.deepEqual(new BanStore(ro).forTarget('192.0.2.7').map((b) => [b.reason, b.liftedMs]), [['a scan', 5_000], ['again', 7_000]]);
  ro.close();
});

test('offenders: read-your-writes before flush, /64 lookup, kept across reopen', () => {
  const dir = fresh();
  const s = mustOpen(dir);
  s.put({ address: '2001:db8:5::66', offences: 1, firstSeenMs: 1, lastSeenMs: 1, score: 1 });
  assert.equal(s.get('2001:db8:5::66')?.offences, 1);
  assert.equal(s.hasOffenderIn64('2001:db8:5::/64'), true);
  s.close();
  const again = mustOpen(dir);
  assert.equal(again.hasOffenderIn64('2001:db8:5::/64'), true);
  assert.equal(again.hasOffenderIn64('2001:db8:6::/64'), false);
  assert.equal(again.get('2001:db8:5::66')?.score, 1);
  again.close();
});

test('offenders.json of older versions is imported once, then renamed', () => {
  const dir = fresh();
  const json = join(dir, 'offenders.json');
  rmSync(dir, { recursive: true, force: true });
  openStateDatabase(dir).close();
  writeFileSync(json, JSON.stringify({ ipv6Prefixes: ['2001:db8:78:0::/64', 'junk'] }));
  const imported: number[] = [];
  const s = openState(dir, (e) => assert.fail(e.message), (count) => imported.push(count));
  assert.deepEqual(imported, [1]);
  assert.equal(s.hasOffenderIn64('2001:db8:78::/64'), true);
  assert.ok(!existsSync(json) && existsSync(`${json}.imported`));
  s.close();
});

test('restore plan: the database is the record; bans in one but not the other are repaired', () => {
  const now = 1_000_000;
  const row = (target: string, expiresMs: number | null) => ({ target, reason: 'r', incidentId: null, createdMs: 0, expiresMs, origin: 'detection' as const, durationWhy: '', liftedMs: null });
  const stored = [row('192.0.2.1', now + 100_500), row('192.0.2.2', null), row('192.0.2.3', now + 500)];
  const kernel = [
    { target: '192.0.2.1', expiresInSeconds: 50 },
    { target: '192.0.2.9', expiresInSeconds: 30 },
  ];
  const plan = planRestore(stored, kernel, true, now);
  assert.deepEqual(plan.restore.map((b) => [b.target, b.seconds]), [['192.0.2.1', 101], ['192.0.2.2', null], ['192.0.2.3', 1], ['192.0.2.9', 30]]);
  assert.deepEqual(plan.record.map((b) => b.target), ['192.0.2.9']);
  assert.deepEqual(plan.repairs, [
    { target: '192.0.2.2', kind: 'missing-from-kernel' },
    { target: '192.0.2.3', kind: 'missing-from-kernel' },
    { target: '192.0.2.9', kind: 'missing-from-database' },
  ]);
  // No table at all (reboot): everything restored, nothing called a repair but the kernel-only ones.
  assert.deepEqual(planRestore(stored, [], false, now).repairs, []);
});

test('restore plan: rows of older versions are read canonically: a /32 is the address (no duplicate), a ban inside a wider live ban is retired', () => {
  const now = 1_000_000;
  const row = (target: string, expiresMs: number | null, createdMs = 0) => ({ target, reason: 'r', incidentId: null, createdMs, expiresMs, origin: 'operator' as const, durationWhy: '', liftedMs: null });
  const stored = [row('10.77.0.51/32', now + 60_000), row('10.77.0.64/28', now + 60_000), row('10.77.0.66', now + 120_000), row('10.77.1.0/24', now + 60_000), row('10.77.1.7', now + 30_000)];
  const kernel = [
    { target: '10.77.0.51', expiresInSeconds: 60 },
    { target: '10.77.0.64/28', expiresInSeconds: 60 },
    { target: '10.77.1.0/24', expiresInSeconds: 60 },
  ];
  const plan = planRestore(stored, kernel, true, now);
  assert.deepEqual(plan.restore.map((b) => [b.target, b.seconds]).sort(), [['10.77.0.51', 60], ['10.77.0.64/28', 120], ['10.77.1.0/24', 60]]);
  assert.deepEqual(plan.repairs, [], 'the kernel holds what the record holds');
  assert.deepEqual(plan.retire.sort((a, b) => a.target.localeCompare(b.target)), [
    { target: '10.77.0.51/32', by: '10.77.0.51' },
    { target: '10.77.0.66', by: '10.77.0.64/28' },
    { target: '10.77.1.7', by: '10.77.1.0/24' },
  ]);
  // Rewritten so spelled, or lengthened to the longest ban inside them.
  assert.deepEqual(plan.record.map((b) => [b.target, b.expiresMs]).sort(), [['10.77.0.51', now + 60_000], ['10.77.0.64/28', now + 120_000]]);
});

test('retention purges old incidents (and their sources), ended bans and forgotten offenders, and compacts the file', async () => {
  const dir = fresh();
  const s = mustOpen(dir);
  const day = 86_400_000;
  const now = 100 * day;
  // 30,000 old incidents (95 days) and 10 recent ones, with a distributed one naming 3 sources.
  for (let i = 0; i < 30_000; i++) s.addIncident({ atMs: 5 * day + i, record: scan(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, { evidence: { padding: 'x'.repeat(200) } }), decision: 'alert', reason: 'old' });
  for (let i = 0; i < 10; i++) s.addIncident({ atMs: now - day + i, record: scan('192.0.2.50'), decision: 'alert', reason: 'recent' });
  s.addBan({ target: '192.0.2.60', reason: 'ended long ago', createdMs: 5 * day, expiresMs: 5 * day + 3_600_000, origin: 'detection', durationWhy: '' }, null);
  s.addBan({ target: '192.0.2.61', reason: 'live', createdMs: 5 * day, expiresMs: null, origin: 'operator', durationWhy: '' }, null);
  s.put({ address: '192.0.2.70', offences: 1, firstSeenMs: 0, lastSeenMs: 0, score: 1 });
  s.put({ address: '192.0.2.71', offences: 1, firstSeenMs: now, lastSeenMs: now, score: 1 });
  s.flush();
  const file = join(dir, STATE_FILE);
  const pagesBefore = (() => {
    const db = openStateReadOnly(dir);
    const p = db.pragma('page_count', { simple: true }) as number;
    db.close();
    return p;
  })();
  const r = await s.purge(now, { incidentRetentionSeconds: 90 * 86_400, banRetentionSeconds: 90 * 86_400, offenderRetentionSeconds: 365 * 86_400 - 1 });
  assert.deepEqual([r.incidents, r.bans, r.offenders], [30_000, 1, 0]);
  assert.ok(r.vacuumedPages > 0, 'pages given back');
  const r2 = await s.purge(now + 365 * 86_400_000, { incidentRetentionSeconds: 365 * 86_400 * 2, banRetentionSeconds: 365 * 86_400 * 2, offenderRetentionSeconds: 365 * 86_400 });
  assert.equal(r2.offenders, 1, 'the offender unseen for a year is forgotten');
  s.close();
  const db = openStateReadOnly(dir);
  assert.equal((db.prepare('SELECT count(*) n FROM incidents').get() as { n: number }).n, 10);
  assert.equal((db.prepare('SELECT count(*) n FROM incident_sources').get() as { n: number }).n, 10, 'source rows went with their incidents');
  assert.deepEqual((db.prepare('SELECT target FROM bans').all() as { target: string }[]).map((b) => b.target), ['192.0.2.61']);
  const pagesAfter = db.pragma('page_count', { simple: true }) as number;
  db.close();
  assert.ok(pagesAfter * 4 < pagesBefore, `file compacted: ${pagesBefore} -> ${pagesAfter} pages`);
  assert.ok(statSync(file).size < pagesBefore * 4096 / 4);
});

test('history, incidents-since, restore and purge read through indexes, never a table scan', () => {
  const dir = fresh();
  openStateDatabase(dir).close();
  const db = openStateReadOnly(dir);
  const plan = (sql: string, ...args: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
  const queries: [string, unknown[]][] = [
    ['SELECT i.id FROM incident_sources s JOIN incidents i ON i.id = s.incident_id WHERE s.address = ? ORDER BY s.incident_id DESC LIMIT 100', ['x']],
    ['SELECT id FROM incidents WHERE at_ms >= ? ORDER BY at_ms DESC, id DESC LIMIT 100', [0]],
    ['SELECT target FROM bans WHERE lifted_ms IS NULL AND (expires_ms IS NULL OR expires_ms > ?)', [0]],
    ['SELECT min(id), max(id) FROM incidents WHERE at_ms < ?', [0]],
    ['DELETE FROM incident_sources WHERE incident_id >= ? AND incident_id < ?', [0, 1]],
    ['SELECT * FROM bans WHERE target = ? ORDER BY created_ms, id', ['x']],
  ];
  for (const [sql, args] of queries) {
    const p = plan(sql, ...args);
    assert.doesNotMatch(p, /^SCAN (incidents|incident_sources|bans)$|; SCAN (incidents|incident_sources|bans)(;|$)|^SCAN (incidents|incident_sources|bans);/, `${sql}: ${p}`);
  }
  db.close();
});

test('a corrupt state file is PW_ERR_STATE naming the file; openState goes on in memory', () => {
  const dir = fresh();
  openStateDatabase(dir).close();
  const file = join(dir, STATE_FILE);
  writeFileSync(file, Buffer.concat([Buffer.from('this is not a database at all '), Buffer.alloc(8192, 0x5a)]));
  rmSync(`${file}-wal`, { force: true });
  rmSync(`${file}-shm`, { force: true });
  assert.throws(() => openStateDatabase(dir), stateError(file, /corrupt, or not a SQLite database/));
  const errors: PortwardenError[] = [];
  const s = openState(dir, (e) => errors.push(e));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'PW_ERR_STATE');
  assert.equal(s.persistent, false);
  s.addBan({ target: '192.0.2.8', reason: 'r', createdMs: 0, expiresMs: null, origin: 'operator', durationWhy: '' }, null);
  assert.deepEqual(s.liveBans(1).map((b) => b.target), ['192.0.2.8'], 'memory still keeps this run’s bans');
});

test('a state file another process holds locked is PW_ERR_STATE naming the file, saying it is locked', async () => {
  const dir = fresh();
  openStateDatabase(dir).close();
  const file = join(dir, STATE_FILE);
  // A real second process holding the write lock (as a stuck second daemon or a sqlite3 shell would).
  const holder = spawn(
    process.execPath,
    ['--input-type=module', '-e', `import D from 'better-sqlite3'; const db = new D(${JSON.stringify(file)}); db.exec('BEGIN IMMEDIATE'); db.exec("INSERT INTO offenders VALUES ('l', NULL, 1, 0, 0, 1)"); console.log('locked'); setInterval(() => {}, 1000);`],
    { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`lock holder exited ${String(code)}`)));
    });
    assert.throws(() => openStateDatabase(dir), stateError(file, /locked by another process/));
  } finally {
    holder.kill('SIGKILL');
  }
});

test('state.db and its WAL and SHM files are readable by their owner only (0600), also when an older version left them 0644', () => {
  const dir = fresh();
  const old = process.umask(0o022);
  try {
    const db = openStateDatabase(dir);
    db.prepare('CREATE TABLE IF NOT EXISTS t (x)').run();
    for (const name of [STATE_FILE, `${STATE_FILE}-wal`, `${STATE_FILE}-shm`]) assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
    db.close();
    chmodSync(join(dir, STATE_FILE), 0o644);
    openStateDatabase(dir).close();
    assert.equal(statSync(join(dir, STATE_FILE)).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});
