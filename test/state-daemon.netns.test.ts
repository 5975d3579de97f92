/**
 * Persistent state with the real daemon in a network namespace (test/support/testkit-netns.ts), real
 * nftables and a real SQLite file in a temporary state directory: restart restores bans with the time
 * they have left, kill -9 in the middle of 1,000 ban requests loses no acknowledged ban, restart
 * repairs bans present in only one of kernel and database, and a corrupt database, or one another
 * process holds locked, still leaves a daemon that enforces. Nothing touches the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from '../src/control/client.js';
import { openStateReadOnly, STATE_FILE } from '../src/state/database.js';
import { BanStore } from '../src/state/ban-store.js';
import { NetnsPair, PROTECTED4, systemNamespaces } from './support/testkit-netns.js';
import { spawnPortwarden, waitUntil } from './support/daemon-process.js';


let pair: NetnsPair;
let dir: string;
let stateDir: string;
let socket: string;
let configPath: string;
/** A scanner for the locked-database test (added to the attacker's veth). */
const SCANNER = '10.77.0.20';

interface Running {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}
let daemon: Running | undefined;

function start(): Running {
  const logs: Record<string, unknown>[] = [];
  const child = spawnPortwarden(pair, pair.protectedNs, ['start', '--config', configPath], logs);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, logs, exited };
}

const until = (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => waitUntil(what, check, timeoutMs, daemon?.logs ?? []);

async function startAndWait(): Promise<Running> {
  daemon = start();
  const d = daemon;
  await until('the daemon to start', () => d.logs.some((l) => l['event.action'] === 'started') || d.child.exitCode !== null);
  assert.equal(d.child.exitCode, null, `the daemon exited: ${JSON.stringify(d.logs.slice(-5))}`);
  return d;
}

async function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (daemon === undefined) return;
  daemon.child.kill(signal);
  await daemon.exited;
  daemon = undefined;
}

/** ban4 of the kernel: address → seconds left (null: no timeout). */
function kernelBans(): Map<string, number | null> {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4']);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elems = json.nftables.find((e) => e.set !== undefined)?.set?.elem ?? [];
  const bans = new Map<string, number | null>();
  for (const e of elems) {
    if (typeof e === 'string') bans.set(e, null);
    else {
      const el = (e as { elem: { val: string; expires?: number } }).elem;
      bans.set(String(el.val), el.expires ?? null);
    }
  }
  return bans;
}

function databaseBans(): Map<string, number | null> {
  const db = openStateReadOnly(stateDir);
  try {
    return new Map(new BanStore(db).live(Date.now()).map((b) => [b.target, b.expiresMs]));
  } finally {
    db.close();
  }
}

before(() => {
  pair = new NetnsPair();
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${SCANNER}/24`, 'dev', 'veth0']);
  dir = mkdtempSync(join(tmpdir(), 'pw-state-daemon-'));
  stateDir = join(dir, 'state');
  socket = join(dir, 'control.sock');
  configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${8100 + (process.pid % 300)}`,
      '  interfaces: [veth1]',
      'enforce:',
      '  reconcileEveryMs: 600000',
      'control:',
      `  socketPath: ${socket}`,
      'state:',
      `  dir: ${stateDir}`,
    ].join('\n'),
  );
});

after(async () => {
  daemon?.child.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('a restart restores bans from the database with the time they have left, even with the table gone', async () => {
  await startAndWait();
  await request(socket, { command: 'ban', target: '10.77.0.50', seconds: 3600, reason: 'test' });
  assert.ok(kernelBans().has('10.77.0.50'));
  await stop();
  // As after a reboot: the kernel holds nothing, only the database remembers.
  pair.must(pair.protectedNs, 'nft', ['delete', 'table', 'inet', 'portwarden']);
  await new Promise((r) => setTimeout(r, 2_500));
  const d = await startAndWait();
  const left = kernelBans().get('10.77.0.50');
  assert.ok(typeof left === 'number' && left <= 3598 && left > 3500, `seconds left after the restart: ${String(left)}`);
  const restored = d.logs.find((l) => l['event.action'] === 'bans-restored');
  assert.equal(restored?.['from.database'], 1, JSON.stringify(restored));
  assert.ok(!d.logs.some((l) => l['event.action'] === 'state-repair'), 'a missing table is no repair');
});

test('restart reconciles kernel and database: a ban in only one of them is repaired and logged', async () => {
  await stop();
  // While the daemon is down: someone deletes a ban from the kernel and adds one by hand.
  pair.must(pair.protectedNs, 'nft', ['delete', 'element', 'inet', 'portwarden', 'ban4', '{ 10.77.0.50 }']);
  pair.must(pair.protectedNs, 'nft', ['add', 'element', 'inet', 'portwarden', 'ban4', '{ 10.77.0.51 timeout 10m }']);
  const d = await startAndWait();
  // The table survived, so the comparison runs in the background after 'started' and ends with 'bans-restored'.
  await until('the comparison to end', () => d.logs.some((l) => l['event.action'] === 'bans-restored'));
  const repairs = d.logs.filter((l) => l['event.action'] === 'state-repair').map((l) => [l['source.ip'], l['event.reason']]);
  assert.deepEqual(repairs.sort(), [
    ['10.77.0.50', 'missing-from-kernel'],
    ['10.77.0.51', 'missing-from-database'],
  ]);
  const kernel = kernelBans();
  assert.ok(kernel.has('10.77.0.50') && kernel.has('10.77.0.51'));
  const db = databaseBans();
  assert.ok(db.has('10.77.0.51'), 'the kernel-only ban is now recorded');
  const expires = db.get('10.77.0.51')!;
  assert.ok(expires !== null && expires - Date.now() <= 600_000 && expires - Date.now() > 500_000, 'with the time the kernel had left');
});

test('kill -9 in the middle of 1,000 ban requests loses no acknowledged ban: in the database, and in the kernel after a restart', async () => {
  const d = daemon!;
  const acked = new Set<string>();
  const target = (i: number) => `10.${100 + (i >> 8)}.${i & 255}.7`;
  let next = 0;
  let killed = false;
  const worker = async () => {
    while (next < 1_000) {
      const t = target(next++);
      try {
        await request(socket, { command: 'ban', target: t, seconds: 3600, reason: 'burst' }, 5_000);
        acked.add(t);
      } catch {
        // Refused or cut off by the kill: not acknowledged, so nothing is promised about it.
      }
      if (!killed && acked.size >= 300) {
        killed = true;
        d.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await d.exited;
  daemon = undefined;
  assert.ok(killed && acked.size >= 300 && acked.size < 1_000, `acknowledged ${acked.size}: the kill came mid-burst`);
  const db = databaseBans();
  const missingInDb = [...acked].filter((t) => !db.has(t));
  assert.deepEqual(missingInDb, [], 'every acknowledged ban is in the database');
  // Lose the kernel's copy too, so what comes back is the database's doing.
  pair.must(pair.protectedNs, 'nft', ['delete', 'table', 'inet', 'portwarden']);
  await startAndWait();
  const kernel = kernelBans();
  const missingInKernel = [...acked].filter((t) => !kernel.has(t));
  assert.deepEqual(missingInKernel, [], 'every acknowledged ban is back in the kernel');
});

test('a corrupt database is reported as PW_ERR_STATE naming the file, and the daemon still enforces in memory', async () => {
  await stop();
  const file = join(stateDir, STATE_FILE);
  writeFileSync(file, Buffer.concat([Buffer.from('garbage, not SQLite '), Buffer.alloc(16_384, 0xa5)]));
  rmSync(`${file}-wal`, { force: true });
  rmSync(`${file}-shm`, { force: true });
  const d = await startAndWait();
  const err = d.logs.find((l) => l['event.action'] === 'state-unavailable');
  assert.ok(err !== undefined, 'the state error is logged');
  assert.equal(err.code, 'PW_ERR_STATE');
  assert.ok(String(err.message).startsWith(file), String(err.message));
  await request(socket, { command: 'ban', target: '10.77.0.60', seconds: 600, reason: 'in memory' });
  assert.ok(kernelBans().has('10.77.0.60'), 'bans still reach the kernel');
  await stop();
});

test('a database another process holds the write lock on is reported as PW_ERR_STATE naming the file, and a real scanner is still banned', async () => {
  await stop();
  const file = join(stateDir, STATE_FILE);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  // A fresh, healthy database with the daemon's schema, then closed: only the lock stands in the way.
  await startAndWait();
  await stop();
  // Another real process (better-sqlite3, like the daemon) takes the write lock and keeps it.
  const script = `const db = new (require('better-sqlite3'))(${JSON.stringify(file)}); db.exec('BEGIN IMMEDIATE'); console.log('locked'); setInterval(() => {}, 60000);`;
  const locker = pair.spawn(pair.protectedNs, process.execPath, ['-e', script]);
  const lockerExited = new Promise((resolve) => locker.once('exit', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: locker.stdout! }).once('line', (line) => (line === 'locked' ? resolve() : reject(new Error(`locker: ${line}`))));
      locker.once('exit', (code) => reject(new Error(`the locker exited (${String(code)})`)));
    });
    const d = await startAndWait();
    const err = d.logs.find((l) => l['event.action'] === 'state-unavailable');
    assert.ok(err !== undefined, `the state error is logged: ${JSON.stringify(d.logs.slice(0, 10))}`);
    assert.equal(err.code, 'PW_ERR_STATE');
    assert.ok(String(err.message).startsWith(file), String(err.message));
    assert.match(String(err.message), /locked by another process/);
    assert.match(String(err.message), /in-memory state/);
    // Detection and the kernel work without the database: a real SYN scan is banned.
    pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-S', SCANNER, '-e', 'veth0', '-sS', '-p', '1-100', '--min-rate', '500', PROTECTED4]);
    await until('the scanner to be banned in the kernel', () => kernelBans().has(SCANNER));
    await until('the ban in the log', () => d.logs.some((l) => l['event.action'] === 'ban' && l['source.ip'] === SCANNER && l.origin === 'detection'));
    // And so is an operator's ban through the control socket.
    await request(socket, { command: 'ban', target: '10.77.0.61', seconds: 600, reason: 'locked database' });
    assert.ok(kernelBans().has('10.77.0.61'));
    await stop();
  } finally {
    locker.kill('SIGKILL');
    await lockerExited;
  }
  // The daemon kept its hands off the locked file: neither ban is in it.
  const bans = databaseBans();
  assert.ok(!bans.has(SCANNER) && !bans.has('10.77.0.61'), `bans in the database: ${[...bans.keys()].join(', ')}`);
});

test('no namespace is left behind', () => {
  pair.destroy();
  assert.deepEqual(systemNamespaces(pair.attacker), []);
  assert.deepEqual(systemNamespaces(pair.protectedNs), []);
});
