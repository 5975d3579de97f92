/**
 * Inline DNS filtering end to end, in network namespaces: a real dnsmasq serves lab.test on the
 * protected host, the real daemon queues DNS there (NFQUEUE through iptables-nft), and real dig
 * queries from the attacker namespace. Nothing touches the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4, PROTECTED6 } from './support/testkit-netns.js';
import { controlCli, startDaemon as startPortwarden, statusCounters, waitUntil } from './support/daemon-process.js';
import { dig as labDig, startDnsmasq, stopDnsmasq, type DigOptions } from './support/dns-lab.js';

const ANSWER4 = '192.0.2.10';
const QUEUE = 7400 + (process.pid % 500);

let pair: NetnsPair;
let dir: string;
let socket: string;
let configPath: string;
let daemon: ChildProcess | null = null;
let dnsmasq: ChildProcess;
let logLines: Record<string, unknown>[] = [];
const lists: Record<'plain' | 'hosts' | 'adblock', string> = { plain: '', hosts: '', adblock: '' };

function config(dns: string[]): string {
  return [
    'capture:',
    `  nflogGroup: ${7900 + (process.pid % 500)}`,
    'control:',
    `  socketPath: ${socket}`,
    'state:',
    `  dir: ${join(dir, 'state')}`,
    'observe:',
    '  listen: null',
    'inline:',
    '  enabled: true',
    `  queue: ${QUEUE}`,
    '  watchdogMs: 250',
    'dns:',
    `  blocklists: [${lists.plain}, ${lists.hosts}, ${lists.adblock}]`,
    ...dns.map((l) => `  ${l}`),
    '',
  ].join('\n');
}

const until = (what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

async function startDaemon(): Promise<void> {
  logLines = [];
  daemon = await startPortwarden(pair, ['--config', configPath], logLines);
}

async function stopDaemon(signal: NodeJS.Signals): Promise<void> {
  const d = daemon;
  if (d === null) return;
  daemon = null;
  if (d.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    d.once('exit', () => resolve());
    d.kill(signal);
  });
}

/** dig from the attacker namespace; one try, short timeout. */
const dig = (name: string, opts: DigOptions = {}) => labDig(pair, name, opts);
const cli = (...args: string[]) => controlCli(socket, ...args);
const counters = () => statusCounters(socket);

function inlineChains(): string {
  return pair.run(pair.protectedNs, 'iptables-nft', ['-S']).stdout;
}

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-inline-'));
  socket = join(dir, 'run', 'control.sock');
  configPath = join(dir, 'portwarden.yaml');
  lists.plain = join(dir, 'plain.txt');
  lists.hosts = join(dir, 'hosts.txt');
  lists.adblock = join(dir, 'adblock.txt');
  writeFileSync(lists.plain, '# plain list\nplain.lab.test\n\nthis is not a name\n');
  writeFileSync(lists.hosts, '# hosts file\n127.0.0.1 localhost\n0.0.0.0 hosts.lab.test\n');
  writeFileSync(lists.adblock, '[Adblock Plus 2.0]\n! comment\n||ads.lab.test^\n');
  writeFileSync(configPath, config(['action: nxdomain']));
  // dnsmasq answers before the daemon starts: the lab itself works.
  dnsmasq = await startDnsmasq(pair, dir, [ANSWER4, '2001:db8:10::10']);
  await startDaemon();
});

after(async () => {
  await stopDaemon('SIGKILL');
  stopDnsmasq(dnsmasq, dir);
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('inline mode queues DNS through chains of its own (iptables-nft, bypass), and says so', () => {
  const started = logLines.find((l) => l['event.action'] === 'inline-started');
  assert.ok(started !== undefined, 'inline-started logged');
  assert.equal(started['inline.backend'], 'iptables', 'this kernel has no nft queue statement');
  const rules = inlineChains();
  assert.match(rules, /-A INPUT -j PORTWARDEN-INLINE-IN/);
  assert.match(rules, new RegExp(`-A PORTWARDEN-INLINE-IN -p udp -m udp --dport 53 -j NFQUEUE --queue-num ${QUEUE} --queue-bypass`));
  const loaded = logLines.find((l) => l['event.action'] === 'dns-blocklist-loaded');
  assert.equal(loaded?.['dns.blocklist.size'], 3);
  const bad = logLines.find((l) => l['event.action'] === 'dns-blocklist-bad-line');
  assert.equal(bad?.file, lists.plain);
  assert.equal(bad?.line, 4);
});

test('an allowed name resolves; blocked names (all three list formats, subdomains of subtree entries) get NXDOMAIN', () => {
  assert.deepEqual(dig('www.lab.test').answers, [ANSWER4]);
  for (const name of ['plain.lab.test', 'deep.sub.plain.lab.test', 'hosts.lab.test', 'ads.lab.test', 'x.ads.lab.test']) {
    const r = dig(name);
    assert.equal(r.status, 'NXDOMAIN', `${name}: ${r.output}`);
    assert.deepEqual(r.answers, [], name);
  }
  // A hosts-file entry is exact: the names under it resolve.
  assert.deepEqual(dig('sub.hosts.lab.test').answers, [ANSWER4]);
  // IPv6 transport.
  assert.equal(dig('ads.lab.test', { server: PROTECTED6 }).status, 'NXDOMAIN');
  assert.deepEqual(dig('ok.lab.test', { server: PROTECTED6 }).answers, [ANSWER4]);
});

test('every query is logged as ECS JSON: name, type, client, outcome', async () => {
  dig('logged.lab.test', { type: 'AAAA' });
  dig('logged.ads.lab.test');
  await until('both queries in the log', () => logLines.some((l) => l['dns.question.name'] === 'logged.ads.lab.test'));
  const allowed = logLines.find((l) => l['dns.question.name'] === 'logged.lab.test')!;
  assert.deepEqual([allowed['event.action'], allowed['dns.question.type'], allowed['source.ip'], allowed['network.transport']], ['dns-query', 'AAAA', ATTACKER4, 'udp']);
  const blocked = logLines.find((l) => l['dns.question.name'] === 'logged.ads.lab.test')!;
  assert.deepEqual([blocked['event.action'], blocked['event.kind'], blocked['rule.name'], blocked['source.ip']], ['dns-block', 'alert', 'dns-blocklist/ads.lab.test', ATTACKER4]);
});

test('DNS over TCP: an allowed query resolves, a blocked one is reset', () => {
  assert.deepEqual(dig('tcp.lab.test', { tcp: true }).answers, [ANSWER4]);
  const r = dig('tcp.ads.lab.test', { tcp: true });
  assert.equal(r.status, null, r.output);
  assert.deepEqual(r.answers, []);
  assert.match(r.output, /reset|refused|end of file|communications error/i);
  assert.ok(counters()['dns.reset'] >= 1);
});

test('a malformed DNS packet is counted and accepted; the daemon and DNS keep working', () => {
  const before = counters()['dns.malformed'] ?? 0;
  const script = `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(bytes([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f]) + b'abc', ('${PROTECTED4}', 53))`;
  pair.must(pair.attacker, 'python3', ['-c', script]);
  // A header cut short (3 of 12 bytes).
  pair.must(pair.attacker, 'python3', ['-c', script.replace(/bytes\(\[.*'abc'/, "b'\\x00\\x01\\x02'")]);
  const deadline = Date.now() + 5000;
  let now = before;
  while (Date.now() < deadline && now < before + 2) now = counters()['dns.malformed'] ?? 0;
  assert.ok(now >= before + 2, `dns.malformed ${before} -> ${now}`);
  assert.equal(daemon?.exitCode, null, 'the daemon is still running');
  assert.deepEqual(dig('after-malformed.lab.test').answers, [ANSWER4]);
});

test('reload re-reads a changed list and takes a new action: sinkhole answers A with 0.0.0.0 and AAAA with ::', async () => {
  writeFileSync(lists.plain, 'plain.lab.test\nnew.lab.test\n');
  writeFileSync(configPath, config(['action: sinkhole']));
  const r = cli('reload');
  assert.equal(r.status, 0, r.stderr);
  await until('the new list', () => logLines.filter((l) => l['event.action'] === 'dns-blocklist-loaded').length >= 2);
  const a = dig('www.new.lab.test');
  assert.equal(a.status, 'NOERROR', a.output);
  assert.deepEqual(a.answers, ['0.0.0.0']);
  assert.deepEqual(dig('ads.lab.test', { type: 'AAAA' }).answers, ['::']);
  assert.deepEqual(dig('www.lab.test').answers, [ANSWER4]);
});

test('action drop: a blocked query gets no answer at all', () => {
  writeFileSync(configPath, config(['action: drop']));
  assert.equal(cli('reload').status, 0);
  const r = dig('ads.lab.test');
  assert.ok(r.timedOut, r.output);
  assert.deepEqual(dig('www.lab.test').answers, [ANSWER4]);
});

test('with the daemon killed, the rules stay but bypass lets DNS flow (unfiltered); SIGTERM removes our rules and only ours', async () => {
  await stopDaemon('SIGKILL');
  assert.match(inlineChains(), /PORTWARDEN-INLINE-IN/, 'a killed daemon leaves its rules');
  assert.deepEqual(dig('www.lab.test').answers, [ANSWER4]);
  assert.deepEqual(dig('ads.lab.test').answers, [ANSWER4], 'nobody bound: the kernel accepts');
  // A new daemon replaces the stale rules (no duplicate jumps) and filters again.
  pair.must(pair.protectedNs, 'iptables-nft', ['-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'ACCEPT']);
  await startDaemon();
  assert.equal((inlineChains().match(/-A INPUT -j PORTWARDEN-INLINE-IN/g) ?? []).length, 1);
  assert.ok(dig('ads.lab.test').timedOut);
  await stopDaemon('SIGTERM');
  const rules = inlineChains();
  assert.doesNotMatch(rules, /PORTWARDEN-INLINE/);
  assert.match(rules, /-A INPUT -p tcp -m tcp --dport 9 -j ACCEPT/, 'a rule that is not ours stays');
  assert.deepEqual(dig('ads.lab.test').answers, [ANSWER4]);
});
