/**
 * Debian's real crowdsec-firewall-bouncer (nftables mode, its own tables) pulls portwarden's bans from
 * the daemon's CrowdSec-compatible decision stream on loopback inside the protected namespace. The
 * daemon runs with --dry-run and without its kernel fast path, so it puts no ban into the kernel itself:
 * whatever drops the attacker's packets is the bouncer's table. A ban made by the operator or by
 * detection (a real nmap scan) reaches the bouncer's set and its table drops the address; an unban
 * takes it out again, and the address gets through.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, ATTACKER6, NetnsPair, PROTECTED4, type Driver } from './support/testkit-netns.js';
import { controlCli, logged, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';
import type { LapiStatusView } from '../src/model/control.js';

const LAPI = '127.0.0.1:18081';
const KEY = 'pw-test-bouncer-key-0123456789';
// The bouncer's own names, so nothing here can be taken for a table of another test or of the host.
const TABLE4 = 'pwtest-cs4';
const TABLE6 = 'pwtest-cs6';
const SET4 = 'pwtest-bl4';
const SET6 = 'pwtest-bl6';
const CHAIN4 = 'pwtest-chain4';
const CLOSED_PORT = 4567;

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let bouncer: ChildProcess;
let bouncerConfig: string;
let attacker: Driver;
let socket: string;
const log: LogLine[] = [];
const bouncerLog: string[] = [];

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-crowdsec-'));
  socket = join(dir, 'run', 'control.sock');
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${7700 + (process.pid % 90)}`,
      '  interfaces: [veth1]',
      'enforce:',
      '  fastPath: { enabled: false }',
      'control:',
      `  socketPath: ${socket}`,
      'state:',
      `  dir: ${join(dir, 'state')}`,
      'lapi:',
      `  listen: ${LAPI}`,
      '  keys:',
      // nftables mode keeps only a Range's first address: small IPv4 networks are sent address by address.
      `    - { name: fw-test, keyFile: ${join(dir, 'fw-test.key')}, ranges: addresses }`,
    ].join('\n'),
  );
  writeFileSync(join(dir, 'fw-test.key'), `${KEY}\n`, { mode: 0o600 });
  daemon = await startDaemon(pair, ['--config', configPath, '--dry-run'], log);
  assert.ok(logged(log, 'lapi-listening'), 'the daemon serves the decision stream');

  // The bouncer's config, keys as in Debian's /etc/crowdsec/bouncers/crowdsec-firewall-bouncer.yaml.
  bouncerConfig = join(dir, 'crowdsec-firewall-bouncer.yaml');
  writeFileSync(
    bouncerConfig,
    [
      'mode: nftables',
      `pid_dir: ${dir}`,
      'update_frequency: 1s',
      'daemonize: true',
      'log_mode: stdout',
      'log_level: debug',
      `api_url: http://${LAPI}/`,
      `api_key: ${KEY}`,
      'insecure_skip_verify: false',
      'disable_ipv6: false',
      'deny_action: DROP',
      'deny_log: false',
      'supported_decisions_types:',
      '  - ban',
      `blacklists_ipv4: ${SET4}`,
      `blacklists_ipv6: ${SET6}`,
      'nftables:',
      `  ipv4: { enabled: true, set-only: false, table: ${TABLE4}, chain: ${CHAIN4} }`,
      `  ipv6: { enabled: true, set-only: false, table: ${TABLE6}, chain: pwtest-chain6 }`,
      'prometheus:',
      '  enabled: false',
      '  listen_addr: 127.0.0.1',
      '  listen_port: 60601',
    ].join('\n'),
  );
  startBouncer();
  await until('the bouncer to pull from the daemon', () => logged(log, 'lapi-bouncer-seen', (l) => l['lapi.bouncer'] === 'fw-test'));
  attacker = await pair.driver('attacker');
});

after(() => {
  attacker?.stop();
  bouncer?.kill('SIGKILL');
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function startBouncer(): void {
  bouncer = pair.spawn(pair.protectedNs, '/usr/bin/crowdsec-firewall-bouncer', ['-c', bouncerConfig]);
  for (const stream of [bouncer.stdout!, bouncer.stderr!]) stream.on('data', (chunk: Buffer) => bouncerLog.push(...chunk.toString().split('\n').filter((l) => l !== '')));
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  try {
    await waitUntil(what, check, timeoutMs, log);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nbouncer log:\n${bouncerLog.slice(-15).join('\n')}\nbouncer exit: ${bouncer?.exitCode}`);
  }
}

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return controlCli(socket, ...args);
}

/** The addresses in one of the bouncer's sets, with the timeout nft reports (seconds). */
function bouncerSet(family: 'ip' | 'ip6', table: string, set: string): Map<string, number | null> {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', family, table, set]);
  const s = (JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables.find((e) => e.set !== undefined)?.set;
  const elems = new Map<string, number | null>();
  for (const e of s?.elem ?? []) {
    if (typeof e === 'string') elems.set(e, null);
    else {
      const el = (e as { elem: { val: string; timeout?: number } }).elem;
      elems.set(el.val, el.timeout ?? null);
    }
  }
  return elems;
}

/** Packets the bouncer's drop rule has counted. */
function bouncerDrops(): number {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'chain', 'ip', TABLE4, CHAIN4]);
  let packets = 0;
  for (const e of (JSON.parse(out) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables) for (const x of e.rule?.expr ?? []) packets += x.counter?.packets ?? 0;
  return packets;
}

/** 'refused' (the SYN reached the protected side, which answered RST) or 'timeout' (dropped). */
function knock(from = ATTACKER4): Promise<string> {
  return attacker.connectTcp(from, PROTECTED4, CLOSED_PORT, 1000);
}

function lapiStatus(): LapiStatusView {
  const r = cli('status', '--json');
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { lapi: LapiStatusView }).lapi;
}

test('the bouncer set up its own table and the daemon put no ban into the kernel (dry run)', async () => {
  await until('the bouncer table', () => pair.run(pair.protectedNs, 'nft', ['list', 'table', 'ip', TABLE4]).code === 0);
  assert.equal(bouncerSet('ip', TABLE4, SET4).size, 0);
  assert.equal(await knock(), 'refused', 'nothing blocks the attacker yet');
});

test('an operator ban reaches the bouncer: its set holds the address with the ban\'s time, its table drops it; unban lifts it', async () => {
  const ban = cli('ban', ATTACKER4, '--for', '10m', '--reason', 'operator test');
  assert.equal(ban.status, 0, ban.stderr);
  await until('the ban in the bouncer set', () => bouncerSet('ip', TABLE4, SET4).has(ATTACKER4));
  const timeout = bouncerSet('ip', TABLE4, SET4).get(ATTACKER4);
  assert.ok(timeout !== null && timeout !== undefined && timeout > 540 && timeout <= 600, `the element lasts what the ban has left (${timeout} s)`);
  const dropsBefore = bouncerDrops();
  assert.equal(await knock(), 'timeout', 'the bouncer drops the banned address');
  assert.ok(bouncerDrops() > dropsBefore, 'counted by the bouncer\'s drop rule');
  const kernel = pair.run(pair.protectedNs, 'nft', ['list', 'set', 'inet', 'portwarden', 'ban4']);
  assert.doesNotMatch(kernel.stdout, new RegExp(ATTACKER4.replaceAll('.', '\\.')), 'portwarden itself banned nothing (dry run): the drop is the bouncer\'s');

  // A longer ban of the same address (an escalation) is a new decision: the bouncer's element gets the new time.
  assert.equal(cli('ban', ATTACKER4, '--for', '2h', '--reason', 'operator test, longer').status, 0);
  await until('the longer ban in the bouncer set', () => (bouncerSet('ip', TABLE4, SET4).get(ATTACKER4) ?? 0) > 3600);
  assert.equal(await knock(), 'timeout', 'still dropped: the bouncer replaced the element without letting the address through for long');

  const unban = cli('unban', ATTACKER4);
  assert.equal(unban.status, 0, unban.stderr);
  await until('the unban to leave the bouncer set', () => !bouncerSet('ip', TABLE4, SET4).has(ATTACKER4));
  assert.equal(await knock(), 'refused', 'the address gets through again');
});

test('a permanent IPv6 ban goes to the bouncer\'s IPv6 set for the bouncer\'s cap (default 2147483 s, ipset\'s largest)', async () => {
  assert.equal(cli('ban', ATTACKER6, '--permanent').status, 0);
  await until('the IPv6 ban in the bouncer set', () => bouncerSet('ip6', TABLE6, SET6).has(ATTACKER6));
  const timeout = bouncerSet('ip6', TABLE6, SET6).get(ATTACKER6);
  assert.ok(timeout !== null && timeout !== undefined && timeout > 2_147_483 - 60 && timeout <= 2_147_483, `2147483 s, got ${timeout} s`);
  assert.equal(cli('unban', ATTACKER6).status, 0);
  await until('the IPv6 unban', () => !bouncerSet('ip6', TABLE6, SET6).has(ATTACKER6));
});

test('a real nmap scan banned by detection reaches the bouncer and its table drops the scanner', async () => {
  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-S', ATTACKER4, '-e', 'veth0', '-sS', '-p', '1-200', PROTECTED4]);
  await until('the scan incident', () => logged(log, 'incident-scan', (l) => l['source.ip'] === ATTACKER4));
  await until('the scanner in the bouncer set', () => bouncerSet('ip', TABLE4, SET4).has(ATTACKER4));
  assert.equal(await knock(), 'timeout');
  const s = lapiStatus();
  assert.equal(s.listen, LAPI);
  const b = s.bouncers.find((x) => x.name === 'fw-test')!;
  assert.notEqual(b.lastPullAt, null);
  assert.match(b.userAgent ?? '', /^crowdsec-firewall-bouncer\//);
  assert.ok(b.servedNew >= 3 && b.servedDeleted >= 2, JSON.stringify(b));
  assert.equal(b.holding, 1);
  const text = cli('status').stdout;
  assert.match(text, /CrowdSec decision stream \(lapi\): http:\/\/127\.0\.0\.1:18081\/ for fw-test \(last pull \d+s ago, holds 1/);
  // The metrics say the same (observe listens on its default address, inside the namespace).
  const metrics = pair.must(pair.protectedNs, 'curl', ['-s', 'http://127.0.0.1:9717/metrics']);
  assert.match(metrics, /^portwarden_lapi_bouncers_seen 1$/m);
  assert.match(metrics, /^portwarden_lapi_last_pull_timestamp_seconds\{bouncer="fw-test"\} \d+/m);
});

test('a network ban reaches the nftables-mode bouncer address by address (ranges: addresses), and its table drops them', async () => {
  const neighbour = '10.77.0.9';
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${neighbour}/24`, 'dev', 'veth0']);
  assert.equal(await knock(neighbour), 'refused');
  assert.equal(cli('ban', '10.77.0.8/30', '--for', '10m').status, 0);
  const network = ['10.77.0.8', '10.77.0.9', '10.77.0.10', '10.77.0.11'];
  await until('the network\'s addresses in the bouncer set', () => network.every((a) => bouncerSet('ip', TABLE4, SET4).has(a)));
  assert.equal(await knock(neighbour), 'timeout');
  assert.equal(cli('unban', '10.77.0.8/30').status, 0);
  await until('the network\'s addresses out of the bouncer set', () => network.every((a) => !bouncerSet('ip', TABLE4, SET4).has(a)));
  assert.equal(await knock(neighbour), 'refused');
});

test('a bouncer restarted (its table removed at stop) gets every ban in force again at its startup pull', async () => {
  const pulls = (): number => lapiStatus().bouncers.find((x) => x.name === 'fw-test')!.pulls;
  const stopped = new Promise((resolve) => bouncer.once('exit', resolve));
  bouncer.kill('SIGTERM');
  await stopped;
  await until('the bouncer to remove its table at stop', () => pair.run(pair.protectedNs, 'nft', ['list', 'table', 'ip', TABLE4]).code !== 0);
  assert.equal(await knock(), 'refused', 'without the bouncer nothing drops the scanner (the daemon runs dry)');
  const before = pulls();
  startBouncer();
  await until('a pull by the new bouncer', () => pulls() > before);
  await until('the scanner back in the new bouncer set', () => pair.run(pair.protectedNs, 'nft', ['list', 'table', 'ip', TABLE4]).code === 0 && bouncerSet('ip', TABLE4, SET4).has(ATTACKER4));
  assert.equal(await knock(), 'timeout');
});
