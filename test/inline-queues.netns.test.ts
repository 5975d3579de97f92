/**
 * Inline mode with several NFQUEUE queues, end to end in network namespaces: a real dnsmasq on the
 * protected host, the real daemon bound to two queues (iptables-nft `--queue-balance`), and real dig
 * from many source addresses and ports in the attacker namespace. Every query must get the right
 * answer whichever queue it went through, and both queues must have carried traffic (the daemon's
 * per-queue counters in `status --json`). Nothing touches the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsPair, PROTECTED4, PROTECTED6, systemNamespaces } from './support/testkit-netns.js';
import { controlCli, logged, startDaemon, statusCounters, waitUntil, type LogLine } from './support/daemon-process.js';
import { dig as labDig, startDnsmasq, stopDnsmasq } from './support/dns-lab.js';

const ANSWER4 = '192.0.2.10';
/** Away from inline-dns.test.ts's queue numbers, in case both ever run at once. */
const QUEUE = 8400 + 2 * (process.pid % 250);
/** Clients: the kernel balances the queues by a hash of the addresses (not the ports), so many addresses. */
const SOURCES4 = Array.from({ length: 24 }, (_, i) => `10.77.0.${100 + i}`);
const SOURCES6 = Array.from({ length: 8 }, (_, i) => `2001:db8:77::${(0x100 + i).toString(16)}`);

let pair: NetnsPair;
let dir: string;
let socket: string;
let configPath: string;
let blocklist: string;
let daemon: ChildProcess | null = null;
let dnsmasq: ChildProcess | null = null;
const logLines: LogLine[] = [];

function config(cpuFanout: boolean, queue = QUEUE): string {
  return [
    'capture:',
    `  nflogGroup: ${8700 + (process.pid % 300)}`,
    'control:',
    `  socketPath: ${socket}`,
    'state:',
    `  dir: ${join(dir, 'state')}`,
    'observe:',
    '  listen: null',
    'inline:',
    '  enabled: true',
    '  backend: iptables',
    `  queue: ${queue}`,
    '  queues: 2',
    `  cpuFanout: ${cpuFanout}`,
    '  watchdogMs: 250',
    'dns:',
    `  blocklists: [${blocklist}]`,
    '  action: nxdomain',
    '',
  ].join('\n');
}

/** One dig from the attacker namespace, from `source` (address#port), optionally pinned to a CPU. */
const dig = (name: string, source: string, opts: { server?: string; cpu?: number } = {}) => labDig(pair, name, { ...opts, source });
const cli = (...args: string[]) => controlCli(socket, ...args);
const counters = () => statusCounters(socket);

/** Packets each of our two queues received, per the daemon. */
function perQueue(): [number, number] {
  const c = counters();
  const q0 = c[`inline.queue.${QUEUE}.received`];
  const q1 = c[`inline.queue.${QUEUE + 1}.received`];
  assert.ok(typeof q0 === 'number' && typeof q1 === 'number', `per-queue counters in status: ${JSON.stringify(Object.keys(c).filter((k) => k.startsWith('inline.queue')))}`);
  assert.equal(q0 + q1, c['inline.queue.received'], 'the per-queue counts add up to the total');
  return [q0, q1];
}

before(async () => {
  pair = new NetnsPair();
  for (const a of SOURCES4) pair.must(pair.attacker, 'ip', ['addr', 'add', `${a}/24`, 'dev', 'veth0']);
  for (const a of SOURCES6) pair.must(pair.attacker, 'ip', ['-6', 'addr', 'add', `${a}/64`, 'dev', 'veth0', 'nodad']);
  dir = mkdtempSync(join(tmpdir(), 'pw-inline-queues-'));
  socket = join(dir, 'run', 'control.sock');
  configPath = join(dir, 'portwarden.yaml');
  blocklist = join(dir, 'blocklist.txt');
  writeFileSync(blocklist, 'ads.lab.test\n');
  writeFileSync(configPath, config(false));
  dnsmasq = await startDnsmasq(pair, dir, [ANSWER4]);
  daemon = await startDaemon(pair, ['--config', configPath], logLines);
});

after(async () => {
  const d = daemon;
  daemon = null;
  if (d !== null && d.exitCode === null) {
    await new Promise<void>((resolve) => {
      d.once('exit', () => resolve());
      d.kill('SIGKILL');
    });
  }
  stopDnsmasq(dnsmasq, dir);
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('with queues: 2 the rules balance over both queues (--queue-balance N:N+1, IPv4 and IPv6), and the daemon says so', () => {
  const started = logLines.find((l) => l['event.action'] === 'inline-started');
  assert.equal(started?.['inline.queues'], `${QUEUE}-${QUEUE + 1}`, JSON.stringify(started));
  for (const bin of ['iptables-nft', 'ip6tables-nft']) {
    const rules = pair.must(pair.protectedNs, bin, ['-S']);
    const queued = rules.split('\n').filter((l) => l.startsWith('-A PORTWARDEN-INLINE-'));
    assert.ok(queued.length >= 4, `${bin}: ${rules}`);
    for (const rule of queued) {
      assert.match(rule, new RegExp(`-j NFQUEUE --queue-balance ${QUEUE}:${QUEUE + 1} --queue-bypass$`), `${bin}: ${rule}`);
    }
    assert.doesNotMatch(rules, /--queue-num|--queue-cpu-fanout/, bin);
    assert.match(rules, /-A PORTWARDEN-INLINE-IN -p udp -m udp --dport 53 /, bin);
  }
});

test('queries from many source addresses and ports are all answered or blocked correctly, and both queues carried them', async () => {
  const [q0Before, q1Before] = perQueue();
  const blockedBefore = counters()['dns.blocked'] ?? 0;
  const sources = [...SOURCES4.map((a) => ({ address: a, server: PROTECTED4 })), ...SOURCES6.map((a) => ({ address: a, server: PROTECTED6 }))];
  for (const [i, { address, server }] of sources.entries()) {
    const port = 20_000 + i * 37;
    const allowed = dig(`q${i}.lab.test`, `${address}#${port}`, { server });
    assert.equal(allowed.status, 'NOERROR', `${address}#${port}: ${allowed.output}`);
    assert.deepEqual(allowed.answers, [ANSWER4], `${address}#${port}`);
    const blocked = dig(`q${i}.ads.lab.test`, `${address}#${port + 1}`, { server });
    assert.equal(blocked.status, 'NXDOMAIN', `${address}#${port + 1}: ${blocked.output}`);
    assert.deepEqual(blocked.answers, [], `${address}#${port + 1}`);
  }
  // Each blocked query is logged with the client it came from, whichever queue it went through.
  await waitUntil('every blocked query in the log', () => logLines.filter((l) => l['event.action'] === 'dns-block').length >= sources.length, 15_000, logLines);
  for (const [i, { address }] of sources.entries()) {
    assert.ok(logged(logLines, 'dns-block', (l) => l['dns.question.name'] === `q${i}.ads.lab.test` && l['source.ip'] === address), `q${i}.ads.lab.test from ${address}`);
  }
  const c = counters();
  assert.equal((c['dns.blocked'] ?? 0) - blockedBefore, sources.length);
  const [q0, q1] = perQueue();
  assert.ok(q0 + q1 - q0Before - q1Before >= 2 * sources.length, `queued ${q0 + q1 - q0Before - q1Before} of ${2 * sources.length} queries`);
  // The kernel hashes source and destination addresses: 32 clients all landing on one queue is a
  // 2^-31 chance, so an idle queue means the balance is broken, not bad luck.
  assert.ok(q0 > q0Before, `queue ${QUEUE} received nothing (${QUEUE + 1}: ${q1 - q1Before})`);
  assert.ok(q1 > q1Before, `queue ${QUEUE + 1} received nothing (${QUEUE}: ${q0 - q0Before})`);
});

test('cpuFanout (on reload): the queue is chosen by the CPU, so a client pinned to CPU c lands on queue N + c % 2', async () => {
  writeFileSync(configPath, config(true));
  const startedBefore = logLines.filter((l) => l['event.action'] === 'inline-started').length;
  const r = cli('reload');
  assert.equal(r.status, 0, r.stderr);
  await waitUntil('inline mode to restart with the new settings', () => logLines.filter((l) => l['event.action'] === 'inline-started').length > startedBefore, 15_000, logLines);
  const rules = pair.must(pair.protectedNs, 'iptables-nft', ['-S']);
  assert.match(rules, new RegExp(`-A PORTWARDEN-INLINE-IN -p udp -m udp --dport 53 -j NFQUEUE --queue-balance ${QUEUE}:${QUEUE + 1} --queue-bypass --queue-cpu-fanout`));
  // veth delivers on the sending CPU (no RPS in a fresh namespace), so pinning dig pins the queue.
  const cpus = Math.min(availableParallelism(), 4);
  for (let cpu = 0; cpu < cpus; cpu++) {
    const queue = cpu % 2;
    const before = perQueue();
    for (let i = 0; i < 5; i++) {
      const source = SOURCES4[i];
      assert.deepEqual(dig(`cpu${cpu}-${i}.lab.test`, `${source}#${30_000 + cpu * 10 + i}`, { cpu }).answers, [ANSWER4]);
      assert.equal(dig(`cpu${cpu}-${i}.ads.lab.test`, `${source}#${31_000 + cpu * 10 + i}`, { cpu }).status, 'NXDOMAIN');
    }
    const now = perQueue();
    assert.ok(now[queue] - before[queue] >= 10, `CPU ${cpu}: queue ${QUEUE + queue} got ${now[queue] - before[queue]} of 10`);
    assert.equal(now[1 - queue] - before[1 - queue], 0, `CPU ${cpu}: queue ${QUEUE + 1 - queue} got packets too`);
  }
});

test('a reload naming queues past NFQUEUE 65535 is refused before anything changes: DNS stays filtered on the running queues', async () => {
  // queue 65535 with queues: 2 would need NFQUEUE 65536, which does not exist: the config parser refuses it (the
  // same check \`portwarden config check\` makes), so the running filter, its queues and rules stay as they are.
  const startedBefore = logLines.filter((l) => l['event.action'] === 'inline-started').length;
  const rulesBefore = pair.must(pair.protectedNs, 'iptables-nft', ['-S']);
  writeFileSync(configPath, config(true, 65535));
  try {
    const r = cli('reload');
    assert.equal(r.status, 2, r.stdout);
    assert.match(r.stderr, /inline\.queue.*65535|65535.*queue/i, r.stderr);
    assert.equal(logLines.filter((l) => l['event.action'] === 'inline-started').length, startedBefore, 'inline mode was not restarted');
    assert.equal(pair.must(pair.protectedNs, 'iptables-nft', ['-S']), rulesBefore, 'the queue rules are unchanged');
    assert.equal(dig('after-failed-reload.ads.lab.test', `${SOURCES4[7]}#32000`).status, 'NXDOMAIN', 'blocked names are still blocked');
    assert.deepEqual(dig('after-failed-reload.lab.test', `${SOURCES4[7]}#32001`).answers, [ANSWER4]);
    assert.deepEqual(Object.keys(counters()).filter((k) => /^inline\.queue\.\d+\.received$/.test(k)).sort(), [`inline.queue.${QUEUE}.received`, `inline.queue.${QUEUE + 1}.received`]);
  } finally {
    writeFileSync(configPath, config(true));
  }
});

test('SIGTERM removes the balanced rules; no namespace is left behind', async () => {
  const d = daemon!;
  daemon = null;
  const exited = new Promise<number | null>((resolve) => d.once('exit', (code) => resolve(code)));
  d.kill('SIGTERM');
  assert.equal(await exited, 0);
  for (const bin of ['iptables-nft', 'ip6tables-nft']) assert.doesNotMatch(pair.must(pair.protectedNs, bin, ['-S']), /PORTWARDEN-INLINE|NFQUEUE/, bin);
  dnsmasq?.kill('SIGKILL');
  pair.destroy();
  assert.deepEqual(systemNamespaces(pair.attacker), []);
  assert.deepEqual(systemNamespaces(pair.protectedNs), []);
});
