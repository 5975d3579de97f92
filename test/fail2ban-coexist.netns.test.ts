/**
 * portwarden beside fail2ban (Debian's package, its `nftables-multiport` action) and a Debian
 * nftables.service ruleset, all in one namespace (README: "Running beside other firewalls"):
 *   - both tables live side by side, and a fail2ban ban and a portwarden ban both block: ours drops
 *     at priority -150, fail2ban's `inet f2b-table` rejects at priority -1;
 *   - portwarden's allowlist accepts only in its own chain: an address fail2ban banned stays blocked;
 *   - restarting either one leaves the other's table exactly as it was;
 *   - `nft -f` of Debian's default nftables.conf (what nftables.service's start and reload run; it
 *     begins with `flush ruleset`) deletes both; portwarden is back within a second by itself, and
 *     fail2ban's bans come back when fail2ban restarts (from its database).
 * fail2ban-server runs in the foreground with its config, socket, pid file, database and log under a
 * temp dir: nothing of the host's fail2ban or firewall is touched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, ATTACKER6, NetnsPair, PROTECTED4, PROTECTED6 } from './support/testkit-netns.js';
import { controlCli, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';

let pair: NetnsPair;
let dir: string;
let configPath: string;
let socket: string;
let daemon: ChildProcess;
let log: LogLine[] = [];
let f2b: ChildProcess | null = null;
const f2bConf = (): string => join(dir, 'f2b');
const appLog = (): string => join(dir, 'app.log');

/** Debian 12's /etc/nftables.conf as shipped (what nftables.service loads). */
const DEBIAN_NFTABLES_CONF = `#!/usr/sbin/nft -f

flush ruleset

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter;
\t}
\tchain forward {
\t\ttype filter hook forward priority filter;
\t}
\tchain output {
\t\ttype filter hook output priority filter;
\t}
}
`;

/** fail2ban's own config tree from the Debian package, with one jail of ours instead of Debian's sshd default. */
function writeFail2banConfig(): void {
  cpSync('/etc/fail2ban', f2bConf(), { recursive: true });
  rmSync(join(f2bConf(), 'jail.d'), { recursive: true, force: true });
  mkdirSync(join(f2bConf(), 'jail.d'));
  writeFileSync(
    join(f2bConf(), 'fail2ban.local'),
    ['[Definition]', 'loglevel = INFO', `logtarget = ${join(dir, 'fail2ban.log')}`, `socket = ${join(dir, 'f2b.sock')}`, `pidfile = ${join(dir, 'f2b.pid')}`, `dbfile = ${join(dir, 'f2b.sqlite3')}`, ''].join('\n'),
  );
  writeFileSync(join(f2bConf(), 'filter.d', 'pwtest.conf'), '[Definition]\nfailregex = ^\\s*pwtest auth failure from <HOST>$\n');
  writeFileSync(
    join(f2bConf(), 'jail.local'),
    ['[DEFAULT]', 'banaction = nftables-multiport', 'banaction_allports = nftables-allports', 'backend = polling', '', '[pwtest]', 'enabled = true', 'filter = pwtest', `logpath = ${appLog()}`, 'port = 80', 'maxretry = 2', 'findtime = 600', 'bantime = 3600', ''].join('\n'),
  );
  writeFileSync(appLog(), '');
}

function f2bClient(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', pair.protectedNs, 'fail2ban-client', '-c', f2bConf(), ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function startFail2ban(): Promise<void> {
  f2b = pair.spawn(pair.protectedNs, 'fail2ban-server', ['-f', '-x', '-c', f2bConf()]);
  const out: LogLine[] = [];
  f2b.stderr!.on('data', (d: Buffer) => out.push({ stderr: d.toString() }));
  await waitUntil('fail2ban to answer', () => f2bClient('ping').status === 0, 30_000, out);
}

async function stopFail2ban(): Promise<void> {
  const server = f2b!;
  const exited = new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
  assert.equal(f2bClient('stop').status, 0);
  await exited;
  f2b = null;
}

/** A failed login as the app would log it; fail2ban bans at the second within findtime. */
function failLogin(address: string): void {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
  appendFileSync(appLog(), `${stamp} pwtest auth failure from ${address}\n`);
}

/** A table's text without what moves by itself (counters, expiry countdowns, handles). */
/**
 * The table as `nft list` shows it, without what changes by itself: counters, expiry countdowns, and the
 * elements of dynamic sets (the kernel's per-source answer meters come and go with traffic and time).
 */
function tableText(family: string, name: string): string {
  const text = pair.must(pair.protectedNs, 'nft', ['list', 'table', family, name]).replace(/packets \d+ bytes \d+/g, '').replace(/expires [0-9hmsd.]+/g, '');
  return text.replace(/(\tset \w+ \{\n(?:(?!\t\}\n)[^\n]*\n)*?\t\tflags [^\n]*dynamic[^\n]*\n(?:(?!\t\}\n)[^\n]*\n)*?)\t\telements = \{[^}]*\}\n/g, '$1');
}

const tables = (): string[] => pair.must(pair.protectedNs, 'nft', ['list', 'tables']).trim().split('\n').sort();
const f2bHas = (address: string): boolean => pair.run(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'f2b-table']).stdout.includes(address);

/** A TCP connection from the attacker to the protected host's port 80: 'open', 'refused' (fail2ban's reject) or 'timeout' (a drop). */
function connect(to: string): string {
  const script = `const s = require('net').connect({ host: ${JSON.stringify(to)}, port: 80, timeout: 1500 });
s.on('connect', () => { console.log('open'); s.destroy(); });
s.on('timeout', () => { console.log('timeout'); s.destroy(); });
s.on('error', (e) => console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code));`;
  return pair.must(pair.attacker, process.execPath, ['-e', script]).trim();
}

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-f2b-'));
  socket = join(dir, 'control.sock');
  configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    ['capture:', `  nflogGroup: ${7700 + (process.pid % 90)}`, 'enforce:', '  reconcileEveryMs: 600000', 'control:', `  socketPath: ${socket}`, 'state:', `  dir: ${join(dir, 'state')}`].join('\n'),
  );
  // A service on port 80 for both families.
  const server = pair.spawn(pair.protectedNs, process.execPath, ['-e', "require('net').createServer((s) => { s.on('error', () => {}); s.end('hi\\n'); }).listen(80, '::', () => console.log('listening'))"]);
  await new Promise((resolve) => server.stdout!.once('data', resolve));
  writeFail2banConfig();
  await startFail2ban();
  daemon = await startDaemon(pair, ['--config', configPath], log);
});

after(() => {
  if (f2b !== null) f2bClient('stop');
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('both tables side by side: a portwarden ban and a fail2ban ban both block, and our allowlist does not lift theirs', async () => {
  assert.deepEqual([connect(PROTECTED4), connect(PROTECTED6)], ['open', 'open']);
  assert.equal(controlCli(socket, 'ban', ATTACKER4, '--for', '1h').status, 0);
  failLogin(ATTACKER6);
  failLogin(ATTACKER6);
  await waitUntil('fail2ban to ban the IPv6 attacker', () => f2bHas(ATTACKER6), 30_000, log);
  assert.deepEqual(tables(), ['table inet f2b-table', 'table inet portwarden']);
  assert.equal(connect(PROTECTED4), 'timeout', 'portwarden drops');
  assert.equal(connect(PROTECTED6), 'refused', "fail2ban's reject");
  // An accept ends only the chain it is in: fail2ban's chain still sees the packet and rejects it.
  assert.equal(controlCli(socket, 'allow', ATTACKER6).status, 0);
  assert.equal(connect(PROTECTED6), 'refused', 'fail2ban still blocks an address portwarden allows');
});

test("restarting fail2ban leaves portwarden's table as it was; fail2ban's ban comes back from its database", async () => {
  const ours = tableText('inet', 'portwarden');
  const mark = log.length;
  await stopFail2ban();
  assert.deepEqual(tables(), ['table inet portwarden'], 'fail2ban removed its table on stop');
  await startFail2ban();
  await waitUntil("fail2ban's ban to come back", () => f2bHas(ATTACKER6), 30_000, log);
  assert.equal(tableText('inet', 'portwarden'), ours);
  assert.ok(!log.slice(mark).some((l) => l['event.action'] === 'table-restored' || l['event.action'] === 'reconcile-table'));
  assert.equal(connect(PROTECTED4), 'timeout');
  assert.equal(connect(PROTECTED6), 'refused');
});

test("restarting portwarden leaves fail2ban's table as it was", async () => {
  const theirs = tableText('inet', 'f2b-table');
  const exited = new Promise((r) => daemon.once('exit', r));
  daemon.kill('SIGTERM');
  await exited;
  assert.equal(tableText('inet', 'f2b-table'), theirs);
  log = [];
  daemon = await startDaemon(pair, ['--config', configPath], log);
  assert.equal(tableText('inet', 'f2b-table'), theirs);
  assert.equal(connect(PROTECTED4), 'timeout', 'our ban survived our restart');
  assert.equal(connect(PROTECTED6), 'refused');
});

test('nftables.service (Debian nftables.conf, flush ruleset first): portwarden is back within a second, fail2ban at its restart', async () => {
  const conf = join(dir, 'nftables.conf');
  writeFileSync(conf, DEBIAN_NFTABLES_CONF);
  const mark = log.length;
  pair.must(pair.protectedNs, 'nft', ['-f', conf]);
  await waitUntil('table-restored', () => log.slice(mark).some((l) => l['event.action'] === 'table-restored'), 20_000, log);
  const restored = log.slice(mark).find((l) => l['event.action'] === 'table-restored')!;
  assert.ok((restored['restore.delay_ms'] as number) < 1000, JSON.stringify(restored));
  assert.equal(restored['event.trigger'], 'nf_tables event');
  // The service's own table stays; fail2ban's is gone until fail2ban acts again.
  assert.deepEqual(tables(), ['table inet filter', 'table inet portwarden']);
  assert.equal(connect(PROTECTED4), 'timeout', 'our ban is back');
  assert.equal(connect(PROTECTED6), 'open', "fail2ban's ban went with the flush");
  await stopFail2ban();
  await startFail2ban();
  await waitUntil("fail2ban's ban to come back at its restart", () => f2bHas(ATTACKER6), 30_000, log);
  assert.equal(connect(PROTECTED6), 'refused');
  assert.deepEqual(tables(), ['table inet f2b-table', 'table inet filter', 'table inet portwarden']);
});
