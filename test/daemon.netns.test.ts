/**
 * The live daemon in network namespaces: real nmap against a real daemon with real nftables. The
 * attacker and the protected host are two namespaces (test/support/testkit-netns.ts); nothing touches the
 * initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4, PROTECTED6, systemNamespaces } from './support/testkit-netns.js';
import { controlCli, logged, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';
import { openStateReadOnly } from '../src/state/database.js';
import { OffenderStore } from '../src/state/offender-store.js';

const ALLOWED_SCANNER = '10.77.0.3';
const SSH_PEER = '10.77.0.22';
const FAST_SCANNER = '10.77.0.5';
const STEALTH_SCANNERS: [string, string][] = [
  ['-sF', '10.77.0.6'],
  ['-sX', '10.77.0.7'],
  ['-sN', '10.77.0.8'],
  ['-sU', '10.77.0.9'],
];
const BENIGN_CLIENT = '10.77.0.10';
/** In its own /64 (the protected host's /64 must never be banned whole). */
const REPEAT_OFFENDER6 = '2001:db8:78::66';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let socket: string;
let configPath: string;
const logLines: Record<string, unknown>[] = [];

function config(extra = ''): string {
  return [
    'capture:',
    `  nflogGroup: ${7400 + (process.pid % 500)}`,
    'enforce:',
    '  reconcileEveryMs: 1000',
    'decide:',
    '  banSeconds: { scan: 900 }',
    '  sshPorts: [22, 2222]',
    'allowlist:',
    `  - { value: ${ALLOWED_SCANNER}, reason: our own monitoring }`,
    'control:',
    `  socketPath: ${socket}`,
    'state:',
    `  dir: ${join(dir, 'state')}`,
    extra,
  ].join('\n');
}

const cli = (...args: string[]) => controlCli(socket, ...args);

function allowSet4(): string[] {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'allow4']);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  return (json.nftables.find((e) => e.set !== undefined)?.set?.elem ?? []).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
}

/** Resolves with the first stdout line of `child`. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`exited ${String(code)} before printing`)));
  });
}

function kernelBans(): string[] {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4']);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elems = json.nftables.find((e) => e.set !== undefined)?.set?.elem ?? [];
  return elems.map((e) => (typeof e === 'string' ? e : String((e as { elem: { val: string } }).elem.val)));
}

const until = (what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

function nmap(source: string, args: string[]): string {
  return pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-S', source, '-e', 'veth0', ...args, PROTECTED4]);
}

before(async () => {
  pair = new NetnsPair();
  pair.must(pair.attacker, 'ip', ['-6', 'addr', 'add', `${REPEAT_OFFENDER6}/64`, 'dev', 'veth0', 'nodad']);
  pair.must(pair.protectedNs, 'ip', ['-6', 'route', 'add', '2001:db8:78::/64', 'dev', 'veth1']);
  for (const a of [ALLOWED_SCANNER, FAST_SCANNER, BENIGN_CLIENT, ...STEALTH_SCANNERS.map(([, a]) => a)]) pair.must(pair.attacker, 'ip', ['addr', 'add', `${a}/24`, 'dev', 'veth0']);
  dir = mkdtempSync(join(tmpdir(), 'pw-daemon-'));
  socket = join(dir, 'run', 'control.sock');
  configPath = join(dir, 'portwarden.yaml');
  writeFileSync(configPath, config());
  daemon = await startDaemon(pair, ['--config', configPath], logLines);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('the daemon sets up its own table with the capture rules, and answers status on its root-only socket', () => {
  const table = pair.must(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']);
  assert.match(table, /log group \d+/);
  const status = cli('status', '--json');
  assert.equal(status.status, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as { profile: string }).profile, 'normal');
});

test('a SYN scan is banned in the kernel, after which the scanner sees only filtered ports', async () => {
  nmap(ATTACKER4, ['-sS', '-p', '1-100']);
  await until('the scanner to be banned', () => kernelBans().includes(ATTACKER4));
  const isIncident = (l: Record<string, unknown>) => typeof l['event.action'] === 'string' && l['event.action'].startsWith('incident-');
  await until('the incident in the log', () => logLines.some(isIncident));
  const incident = logLines.find(isIncident)!;
  assert.deepEqual([incident['event.action'], incident['source.ip'], incident.decision], ['incident-scan', ATTACKER4, 'ban'], JSON.stringify(incident));
  const after = nmap(ATTACKER4, ['-sS', '-p', '20-30']);
  assert.doesNotMatch(after, /\b(open|closed)\b/, after);
});

test('nmap -sS -T4 of 1,000 ports learns the state of at most 10 ports before it sees only silence (kernel fast path)', async () => {
  // The rate floor only stops nmap slowing down for minutes once everything goes silent; what it learns
  // before the silence is what the fast path allows (it counts the host's answers, not time).
  const xml = nmap(FAST_SCANNER, ['-sS', '-p', '1-1000', '--min-rate', '2000', '-oX', '-']);
  // Ports nmap learned: listed ones open or closed, and those folded into "extraports" as closed.
  let learned = 0;
  for (const m of xml.matchAll(/<extraports state="(open|closed)" count="(\d+)"/g)) learned += Number(m[2]);
  learned += [...xml.matchAll(/<state state="(open|closed)"/g)].length;
  assert.ok(learned <= 10, `nmap learned ${learned} port states`);
  assert.match(xml, /<extraports state="filtered" count="9\d\d"/, 'the rest is filtered');
  await until('the real ban from detection', () => kernelBans().includes(FAST_SCANNER));
});

for (const [flag, source] of STEALTH_SCANNERS) {
  test(`an nmap ${flag} scan is banned`, async () => {
    nmap(source, [flag, '-p', '1-100', '--min-rate', '500']);
    await until(`${source} (${flag}) to be banned`, () => kernelBans().includes(source), 30_000);
  });
}

test('a busy benign client, 300 short connections to an open port, is never banned', async () => {
  const server = pair.spawn(pair.protectedNs, process.execPath, ['-e', "require('net').createServer((s) => s.end('hello\\n')).listen(8080, () => console.log('up'))"]);
  try {
    await new Promise((resolve) => server.stdout!.once('data', resolve));
    const client = `const net = require('net'); let n = 0; const next = () => { if (n++ === 300) return; const s = net.connect({ host: '${PROTECTED4}', port: 8080, localAddress: '${BENIGN_CLIENT}' }); s.on('data', () => {}); s.on('end', next); s.on('error', (e) => { console.error(e.message); process.exit(1); }); }; next();`;
    pair.must(pair.attacker, process.execPath, ['-e', client]);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.ok(!kernelBans().includes(BENIGN_CLIENT));
    assert.equal(pair.run(pair.protectedNs, 'nft', ['get', 'element', 'inet', 'portwarden', 'fastban4', `{ ${BENIGN_CLIENT} }`]).code === 0, false, 'nor in the fast path');
  } finally {
    server.kill('SIGKILL');
  }
});

test('a ban expires by itself in the kernel', async () => {
  assert.equal(cli('ban', '10.77.0.98', '--for', '2s').status, 0);
  assert.ok(kernelBans().includes('10.77.0.98'));
  await until('the ban to lapse', () => !kernelBans().includes('10.77.0.98'), 10_000);
});

test('an IPv6 scanner is banned by address, and as its whole /64 when it comes back', async () => {
  const bans6 = () => pair.must(pair.protectedNs, 'nft', ['list', 'set', 'inet', 'portwarden', 'ban6']);
  // Slower than the kernel fast path's 5 answers a second: detection, not the fast path, must see each scan (a
  // fast scan is often banned by the fast path after a handful of probes, and then no incident comes).
  const scan6 = () => pair.must(pair.attacker, 'nmap', ['-6', '-Pn', '-n', '--max-retries', '1', '--max-rate', '4', '-S', REPEAT_OFFENDER6, '-e', 'veth0', '-sS', '-p', '1-12', PROTECTED6]);
  scan6();
  await until('the IPv6 scanner to be banned', () => bans6().includes(REPEAT_OFFENDER6));
  assert.equal(cli('unban', REPEAT_OFFENDER6).status, 0);
  pair.run(pair.protectedNs, 'nft', ['flush', 'set', 'inet', 'portwarden', 'fastban6']);
  scan6();
  await until('the /64 ban', () => bans6().includes('2001:db8:78::/64'));
});

test('an allowlisted scanner is never banned', async () => {
  nmap(ALLOWED_SCANNER, ['-sS', '-p', '1-300']);
  await new Promise((r) => setTimeout(r, 1_500));
  assert.ok(!kernelBans().includes(ALLOWED_SCANNER), `bans: ${kernelBans().join(', ')}`);
});

test('ban, bans and unban through the CLI; a protected address is refused', () => {
  const ban = cli('ban', '10.77.0.99', '--for', '10m', '--reason', 'test');
  assert.equal(ban.status, 0, ban.stderr);
  assert.ok(kernelBans().includes('10.77.0.99'));
  const bans = cli('bans', '--json');
  assert.ok(bans.stdout.split('\n').some((l) => l.includes('"10.77.0.99"') && l.includes('"operator"')));
  const unban = cli('unban', '10.77.0.99');
  assert.equal(unban.status, 0, unban.stderr);
  assert.ok(!kernelBans().includes('10.77.0.99'));
  const refused = cli('ban', '127.0.0.1');
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /refusing to ban 127\.0\.0\.1: loopback/);
});

test('allow through the CLI lifts a ban and protects the address from then on', () => {
  assert.equal(cli('ban', '10.77.0.97', '--for', '10m').status, 0);
  assert.ok(kernelBans().includes('10.77.0.97'));
  const allow = cli('allow', '10.77.0.97', '--reason', 'test peer');
  assert.equal(allow.status, 0, allow.stderr);
  assert.ok(!kernelBans().includes('10.77.0.97'), 'the ban is lifted');
  const again = cli('ban', '10.77.0.97');
  assert.equal(again.status, 2);
  assert.match(again.stderr, /refusing to ban 10\.77\.0\.97: allowlist/);
});

test('an SSH peer is in the kernel allow set while its session lasts, and taken out when it ends', async () => {
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${SSH_PEER}/24`, 'dev', 'veth0']);
  const server = pair.spawn(pair.protectedNs, process.execPath, ['-e', `require('net').createServer((s) => s.on('data', () => {})).listen(2222, '${PROTECTED4}', () => console.log('listening'))`]);
  try {
    assert.equal(await firstLine(server), 'listening');
    const session = pair.spawn(pair.attacker, process.execPath, ['-e', `require('net').connect({ host: '${PROTECTED4}', port: 2222, localAddress: '${SSH_PEER}' }, () => console.log('connected')).on('error', () => process.exit(1))`]);
    assert.equal(await firstLine(session), 'connected');
    await until('the SSH peer in the allow set', () => allowSet4().includes(SSH_PEER));
    const ended = new Promise((resolve) => session.once('exit', resolve));
    session.kill('SIGKILL'); // the session's socket closes with its process
    await ended;
    await until('the SSH peer out of the allow set', () => !allowSet4().includes(SSH_PEER));
    // The log line follows the kernel change; it reaches us through the daemon's stdout a moment later.
    await until('the disallow in the log', () => logLines.some((l) => l['event.action'] === 'disallow' && l['source.ip'] === SSH_PEER));
    assert.ok(allowSet4().includes(ALLOWED_SCANNER), 'the allowlist stays');
  } finally {
    server.kill('SIGKILL');
  }
});

test('SIGHUP with a broken config keeps the old one running', async () => {
  writeFileSync(configPath, 'decide:\n  banSeconds: { scan: -5 }\n');
  daemon.kill('SIGHUP');
  await until('the reload to be refused', () => logLines.some((l) => l['event.action'] === 'reload-refused'));
  assert.equal(cli('status').status, 0);
  writeFileSync(configPath, config());
});

test('the reconciler puts back a ban someone deleted from the kernel', async () => {
  assert.equal(cli('ban', '10.77.0.96', '--for', '10m').status, 0);
  pair.must(pair.protectedNs, 'nft', ['delete', 'element', 'inet', 'portwarden', 'ban4', '{ 10.77.0.96 }']);
  assert.ok(!kernelBans().includes('10.77.0.96'));
  await until('the ban to come back', () => kernelBans().includes('10.77.0.96'));
  // The log line may reach us after the kernel shows the ban: wait for it rather than race it.
  await until('the repair to be logged', () => logLines.some((l) => l['event.action'] === 'reconcile-element' && l['source.ip'] === '10.77.0.96'));
});

test('the reconciler restores a deleted table with its bans', async () => {
  assert.ok(kernelBans().includes(ATTACKER4));
  pair.must(pair.protectedNs, 'nft', ['delete', 'table', 'inet', 'portwarden']);
  await until('the table to come back', () => pair.run(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']).code === 0);
  await until('the ban to come back', () => kernelBans().includes(ATTACKER4));
  assert.ok(logLines.some((l) => l['event.action'] === 'reconcile-table'));
});

test('SIGTERM stops cleanly and leaves the bans in the kernel, to expire by themselves', async () => {
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
  daemon.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(kernelBans().includes(ATTACKER4));
});

test('bans survive a restart of the daemon', async () => {
  assert.ok(kernelBans().includes(ATTACKER4));
  const restartLog: LogLine[] = [];
  const restarted = await startDaemon(pair, ['--config', configPath], restartLog);
  try {
    assert.ok(kernelBans().includes(ATTACKER4), 'still banned after the restart');
    // The repeat IPv6 offender is remembered in the state directory.
    const state = openStateReadOnly(join(dir, 'state'));
    assert.ok(new OffenderStore(state).hasIn64('2001:db8:78::/64'), 'offender in the state database');
    state.close();
    // The kept bans are compared with the database in the background, once started.
    await waitUntil('kernel and database compared', () => logged(restartLog, 'bans-restored', (l) => l.kept === true), 15_000, restartLog);
  } finally {
    const exited = new Promise((resolve) => restarted.once('exit', resolve));
    restarted.kill('SIGTERM');
    await exited;
  }
});

test('no namespace is left behind', () => {
  pair.destroy();
  assert.deepEqual(systemNamespaces(pair.attacker), []);
  assert.deepEqual(systemNamespaces(pair.protectedNs), []);
});
