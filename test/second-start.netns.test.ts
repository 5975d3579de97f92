/**
 * One daemon per state directory and control socket: a second `portwarden start` on the same ones, in the same
 * network namespace, exits 2 naming the running pid, and leaves the first one's table, bans, database and socket
 * exactly as they were (issue: a second start used to rewrite the first's table and copy its bans).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsPair } from './support/testkit-netns.js';
import { CLI, controlCli, startDaemon, type LogLine } from './support/daemon-process.js';

let pair: NetnsPair;
let dir: string;
let first: ChildProcess;
let socket: string;
let configPath: string;
const log: LogLine[] = [];

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-second-'));
  socket = join(dir, 'run', 'control.sock');
  configPath = join(dir, 'portwarden.yaml');
  writeFileSync(configPath, [`capture:`, `  nflogGroup: ${7900 + (process.pid % 90)}`, 'control:', `  socketPath: ${socket}`, 'state:', `  dir: ${join(dir, 'state')}`].join('\n'));
  first = await startDaemon(pair, ['--config', configPath], log);
  const ban = controlCli(socket, 'ban', '198.51.100.77', '--for', '2h', '--reason', 'before the second start');
  assert.equal(ban.status, 0, ban.stderr);
});

after(() => {
  first?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** What the first daemon owns: its table (without counters, which move), its database rows, its socket. */
function snapshot(): { table: string; bans: string; incidents: string; socketInode: number } {
  const table = pair.must(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']).replace(/packets \d+ bytes \d+/g, '').replace(/expires [0-9hms.]+/g, '');
  const db = join(dir, 'state', 'state.db');
  const sql = (q: string) => spawnSync('sqlite3', ['-readonly', db, q], { encoding: 'utf8' }).stdout;
  return { table, bans: sql('SELECT target, reason, origin, created_ms, expires_ms, lifted_ms FROM bans ORDER BY id'), incidents: sql('SELECT count(*) FROM incidents'), socketInode: statSync(socket).ino };
}

test('a second start on the same state and socket exits 2 naming the running pid, and changes nothing of the first', () => {
  const before = snapshot();
  assert.match(before.bans, /198\.51\.100\.77\|before the second start\|operator/);
  const pidFile = readFileSync(join(dir, 'state', 'portwarden.pid'), 'utf8').trim();
  const second = spawnSync('ip', ['netns', 'exec', pair.protectedNs, process.execPath, '--import', 'tsx', CLI, 'start', '--config', configPath], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(second.status, 2, second.stderr);
  assert.match(second.stderr, new RegExp(`PW_ERR_RUNNING: another portwarden is running \\(pid ${pidFile},`));
  assert.deepEqual(snapshot(), before);
  // The first one still answers on its socket and still holds its lock.
  const status = controlCli(socket, 'status', '--json');
  assert.equal(status.status, 0, status.stderr);
  assert.equal(readFileSync(join(dir, 'state', 'portwarden.pid'), 'utf8').trim(), pidFile);
  assert.ok(!log.some((l) => l['event.action'] === 'state-repair'), 'the first daemon saw no one touch its bans');
});

test('a second start with another state directory but the same socket is refused too', () => {
  const other = join(dir, 'other.yaml');
  writeFileSync(other, readFileSync(configPath, 'utf8').replace(join(dir, 'state'), join(dir, 'state2')));
  const before = snapshot();
  const second = spawnSync('ip', ['netns', 'exec', pair.protectedNs, process.execPath, '--import', 'tsx', CLI, 'start', '--config', other], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(second.status, 2, second.stderr);
  assert.match(second.stderr, /PW_ERR_RUNNING.*control\.sock\.lock/);
  assert.deepEqual(snapshot(), before);
});
