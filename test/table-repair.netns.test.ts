/**
 * Event-driven repair (issue 12, item 4), with a real daemon and real nft in a namespace: after `nft
 * flush ruleset` or `nft delete table inet portwarden` the daemon hears the deletion (nf_tables
 * notifications) and puts its table, its bans with their remaining time and its allow sets back,
 * logging `table-restored`; its own bans, unbans, reloads and restores set nothing off. The reconcile
 * round is set to 10 minutes here, so whatever comes back within the test came back by the event.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsPair } from './support/testkit-netns.js';
import { controlCli, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let socket: string;
const log: LogLine[] = [];

const BANNED4 = '198.51.100.77';
const BANNED6 = '2001:db8:5::1';
const ALLOWED4 = '192.0.2.0/24';
const ALLOWED6 = '2001:db8:99::/48';

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-repair-'));
  socket = join(dir, 'control.sock');
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${7800 + (process.pid % 90)}`,
      'enforce:',
      '  reconcileEveryMs: 600000',
      'allowlist:',
      `  - ${ALLOWED4}`,
      `  - "${ALLOWED6}"`,
      'control:',
      `  socketPath: ${socket}`,
      'state:',
      `  dir: ${join(dir, 'state')}`,
    ].join('\n'),
  );
  daemon = await startDaemon(pair, ['--config', configPath], log);
  for (const [target, span] of [[BANNED4, '2h'], [BANNED6, '1h']]) {
    const r = controlCli(socket, 'ban', target, '--for', span, '--reason', 'repair test');
    assert.equal(r.status, 0, r.stderr);
  }
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

interface Elem {
  val: string;
  timeout?: number;
}

/** A set's elements: addresses as text, prefixes as `a/len`, with the timeout when there is one. */
function setElements(set: string): Elem[] {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', set]);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  const text = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const p = (v as { prefix?: { addr: string; len: number } }).prefix;
    return p !== undefined ? `${p.addr}/${p.len}` : JSON.stringify(v);
  };
  return (json.nftables.find((e) => e.set !== undefined)?.set?.elem ?? []).map((e) => {
    const inner = (e as { elem?: { val: unknown; timeout?: number } }).elem;
    return inner !== undefined ? { val: text(inner.val), timeout: inner.timeout } : { val: text(e) };
  });
}

const tablePresent = (): boolean => pair.run(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']).code === 0;
const restoredLines = (): LogLine[] => log.filter((l) => l['event.action'] === 'table-restored');

/** Deletes the table with `args`, waits for the daemon's restore and checks what came back. */
async function deleteAndExpectRestore(args: string[]): Promise<void> {
  assert.ok(tablePresent());
  const before = restoredLines().length;
  pair.must(pair.protectedNs, 'nft', args);
  await waitUntil('table-restored', () => restoredLines().length > before, 20_000, log);
  const line = restoredLines()[before];
  assert.equal(line['event.trigger'], 'nf_tables event', JSON.stringify(line));
  // The daemon's own measure, from hearing the deletion to the table, bans and allow sets being back.
  assert.ok(typeof line['restore.delay_ms'] === 'number' && line['restore.delay_ms'] < 1000, JSON.stringify(line));
  assert.equal(line['deleted.by.process'], 'nft', JSON.stringify(line));
  assert.equal(line['restored.bans'], 2, JSON.stringify(line));
  assert.ok((line['restored.allow'] as number) >= 2, JSON.stringify(line));

  assert.ok(tablePresent(), 'the table is back');
  const ban4 = setElements('ban4').find((e) => e.val === BANNED4);
  const ban6 = setElements('ban6').find((e) => e.val === BANNED6);
  assert.ok(ban4 !== undefined && ban6 !== undefined, 'both bans are back');
  // With the time they had left, not a fresh full length.
  assert.ok(ban4.timeout! <= 7200 && ban4.timeout! > 7000, JSON.stringify(ban4));
  assert.ok(ban6.timeout! <= 3600 && ban6.timeout! > 3400, JSON.stringify(ban6));
  assert.ok(setElements('allow4').some((e) => e.val === ALLOWED4), JSON.stringify(setElements('allow4')));
  assert.ok(setElements('allow6').some((e) => e.val === ALLOWED6), JSON.stringify(setElements('allow6')));
  // The restore replaced the table with `nft -f` (a delete and create in one transaction): that
  // deletion is heard too and must not start a second restore.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(restoredLines().length, before + 1, 'one restore per deletion');
}

test('nft flush ruleset: table, bans (with their time left) and allow sets are back within a second', async () => {
  await deleteAndExpectRestore(['flush', 'ruleset']);
});

test('nft delete table inet portwarden: likewise', async () => {
  await deleteAndExpectRestore(['delete', 'table', 'inet', 'portwarden']);
});

test("the daemon's own bans, unbans and reloads set off no restore", async () => {
  const before = log.length;
  for (let i = 1; i <= 8; i++) assert.equal(controlCli(socket, 'ban', `203.0.113.${i}`, '--for', '10m').status, 0);
  for (let i = 1; i <= 4; i++) assert.equal(controlCli(socket, 'unban', `203.0.113.${i}`).status, 0);
  assert.equal(controlCli(socket, 'reload').status, 0);
  assert.equal(setElements('ban4').filter((e) => e.val.startsWith('203.0.113.')).length, 4);
  await new Promise((r) => setTimeout(r, 1000));
  const since = log.slice(before);
  assert.ok(!since.some((l) => l['event.action'] === 'table-restored' || l['event.action'] === 'reconcile-table'), JSON.stringify(since.filter((l) => String(l['event.action']).includes('table'))));
  assert.ok(tablePresent());
});
