/**
 * A fleet of three real daemons on a real nats-server (Debian's 2.9.10), each in its own namespaces:
 * NATS in one namespace, hosts a, b and c each a NetnsPair (its protected host and an attacker), each
 * host's namespace joined to the NATS namespace by its own veth pair. Real nmap scans, real nftables:
 * a ban on one host reaches the others' kernels; forged messages are refused; NATS down at start,
 * killed and restarted mid-run loses nothing; a fleet ban of a host's own address is refused there.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsPair, type LabPlan } from './support/testkit-netns.js';
import { CLI, controlCli, logged, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';
import { generateKey } from '../src/fleet/signing.js';
import type { FleetStatusView } from '../src/model/fleet.js';

const NATS_PORT = 4222;
const HOSTS = ['a', 'b', 'c'] as const;
type HostName = (typeof HOSTS)[number];
const FORGE = new URL('./support/fleet-client.ts', import.meta.url).pathname;

interface Host {
  name: HostName;
  pair: NetnsPair;
  /** The protected host's own address and its scanner's. */
  own: string;
  scanner: string;
  natsUrl: string;
  socket: string;
  config: string;
  log: LogLine[];
  daemon?: ChildProcess;
}

let dir: string;
let natsPair: NetnsPair;
let nats: ChildProcess | undefined;
const natsLog: string[] = [];
const hosts = {} as Record<HostName, Host>;

function plan(i: number): LabPlan {
  return { tag: `pwfl${i}`, protectedDev: 'pw0', attackerDev: 'pw1', protected4: `10.8${i}.0.1`, protected6: `2001:db8:8${i}::1`, attacker4: [`10.8${i}.0.5`], attacker6: [], prefix4: 24, prefix6: 64 };
}

function startNats(): void {
  nats = natsPair.spawn(natsPair.protectedNs, 'nats-server', ['-a', '0.0.0.0', '-p', String(NATS_PORT), '-js', '-sd', join(dir, 'nats')]);
  nats.stderr!.on('data', (c: Buffer) => natsLog.push(c.toString()));
}

function kernelBans(h: Host): string[] {
  const out = h.pair.must(h.pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4']);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elems = json.nftables.find((e) => e.set !== undefined)?.set?.elem ?? [];
  return elems.map((e) => (typeof e === 'string' ? e : String((e as { elem: { val: unknown } }).elem.val)));
}

function fleetStatus(h: Host): FleetStatusView {
  const r = controlCli(h.socket, 'fleet', 'status', '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as FleetStatusView;
}

const until = (h: Host, what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => waitUntil(`${h.name}: ${what}`, check, timeoutMs, h.log);

async function natsClient(...args: string[]): Promise<string> {
  return natsPair.must(natsPair.protectedNs, process.execPath, ['--import', 'tsx', FORGE, args[0], `nats://127.0.0.1:${NATS_PORT}`, ...args.slice(1)]);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pw-fleet-'));
  natsPair = new NetnsPair({ ...plan(0), tag: 'pwfln' });
  const keys = Object.fromEntries(HOSTS.map((n) => [n, generateKey()]));
  const trusted = HOSTS.map((n) => `    ${n}: "${keys[n].key.publicKey}"`);
  HOSTS.forEach((name, i) => {
    const pair = new NetnsPair(plan(i + 1));
    // The host's own link to NATS: 10.9i.0.1 on the NATS side, 10.9i.0.2 on the host's.
    natsPair.must(natsPair.protectedNs, 'ip', ['link', 'add', `fl${i}`, 'type', 'veth', 'peer', 'name', 'fleet0', 'netns', pair.protectedNs]);
    natsPair.must(natsPair.protectedNs, 'ip', ['addr', 'add', `10.9${i}.0.1/24`, 'dev', `fl${i}`]);
    natsPair.must(natsPair.protectedNs, 'ip', ['link', 'set', `fl${i}`, 'up']);
    pair.must(pair.protectedNs, 'ip', ['addr', 'add', `10.9${i}.0.2/24`, 'dev', 'fleet0']);
    pair.must(pair.protectedNs, 'ip', ['link', 'set', 'fleet0', 'up']);
    const hdir = join(dir, name);
    mkdirSync(hdir);
    const keyFile = join(hdir, 'fleet.key');
    writeFileSync(keyFile, keys[name].fileText, { mode: 0o600 });
    const h: Host = { name, pair, own: pair.plan.protected4, scanner: pair.plan.attacker4[0], natsUrl: `nats://10.9${i}.0.1:${NATS_PORT}`, socket: join(hdir, 'control.sock'), config: join(hdir, 'portwarden.yaml'), log: [] };
    writeFileSync(
      h.config,
      [
        'capture:',
        `  nflogGroup: ${7000 + (process.pid % 300) * 3 + i}`,
        'enforce:',
        '  reconcileEveryMs: 1000',
        'decide:',
        '  banSeconds: { scan: 900 }',
        'control:',
        `  socketPath: ${h.socket}`,
        'state:',
        `  dir: ${join(hdir, 'state')}`,
        'observe:',
        `  listen: 127.0.0.1:${9800 + i}`,
        'fleet:',
        `  servers: [${h.natsUrl}]`,
        `  host: ${name}`,
        `  keyFile: ${keyFile}`,
        '  trustedKeys:',
        ...trusted,
        '  siemSubject: fleet.siem',
      ].join('\n'),
    );
    hosts[name] = h;
  });
});

after(() => {
  for (const h of Object.values(hosts)) {
    h.daemon?.kill('SIGKILL');
    h.pair.destroy();
  }
  nats?.kill('SIGKILL');
  natsPair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('NATS down at start: the daemons start, enforce locally and say fleet: disconnected; they connect when NATS comes', async () => {
  for (const n of ['a', 'b'] as const) hosts[n].daemon = await startDaemon(hosts[n].pair, ['--config', hosts[n].config], hosts[n].log);
  const a = hosts.a;
  const status = controlCli(a.socket, 'status', '--json');
  assert.equal(status.status, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as { fleet?: string }).fleet, 'disconnected');
  assert.equal(fleetStatus(a).state, 'disconnected');
  const health = JSON.parse(a.pair.must(a.pair.protectedNs, 'curl', ['-s', 'http://127.0.0.1:9800/health/ready'])) as { status: string; checks: { fleet?: { state: string } } };
  assert.equal(health.checks.fleet?.state, 'disconnected');
  assert.equal(health.status, 'ready', 'a host cut off from its fleet still protects itself');
  assert.match(a.pair.must(a.pair.protectedNs, 'curl', ['-s', 'http://127.0.0.1:9800/metrics']), /^portwarden_fleet_connected 0$/m);
  // Local enforcement goes on: an operator ban reaches a's own kernel.
  const ban = controlCli(a.socket, 'ban', '203.0.113.50', '--for', '1h');
  assert.equal(ban.status, 0, ban.stderr);
  assert.ok(kernelBans(a).includes('203.0.113.50'), 'the ban is in a\'s kernel');
  startNats();
  for (const n of ['a', 'b'] as const) await until(hosts[n], 'the fleet to connect', () => logged(hosts[n].log, 'fleet-connected'));
  assert.equal(fleetStatus(a).state, 'connected');
  assert.match(a.pair.must(a.pair.protectedNs, 'curl', ['-s', 'http://127.0.0.1:9800/metrics']), /^portwarden_fleet_connected 1$/m);
  // What a decided while NATS was away is published after it came.
  await until(hosts.b, 'a\'s ban made while NATS was down', () => kernelBans(hosts.b).includes('203.0.113.50'));
});

test('an nmap scan of host a is banned in the kernels of b and of c, which joins late', async () => {
  const { a, b, c } = hosts;
  a.pair.must(a.pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-sS', '-p', '1-200', '-S', a.scanner, '-e', 'pw1', a.own]);
  await until(a, 'the scanner banned on a', () => kernelBans(a).includes(a.scanner));
  await until(b, 'a\'s scanner banned on b', () => kernelBans(b).includes(a.scanner));
  // A short ban that ends before c joins: c gets every ban still in force and not this one.
  assert.equal(controlCli(a.socket, 'ban', '203.0.113.60', '--for', '2s').status, 0);
  await until(b, 'the short ban on b', () => logged(b.log, 'ban', (l) => l['source.ip'] === '203.0.113.60'));
  await new Promise((r) => setTimeout(r, 2_500)); // the short ban's own length, not a race: c must start after it ended
  c.daemon = await startDaemon(c.pair, ['--config', c.config], c.log);
  await until(c, 'a\'s scanner banned on c', () => kernelBans(c).includes(a.scanner));
  await until(c, 'a\'s ban made while NATS was down, on c', () => kernelBans(c).includes('203.0.113.50'));
  assert.ok(!kernelBans(c).includes('203.0.113.60'), 'an ended ban is not applied');
  const onA = a.log.find((l) => l['event.action'] === 'ban' && l['source.ip'] === a.scanner)!;
  const onC = c.log.find((l) => l['event.action'] === 'ban' && l['source.ip'] === a.scanner)!;
  assert.equal(onC.origin, 'fleet');
  // c's kernel timeout is the time a's ban had left: both end at the same second.
  const drift = Math.abs(Date.parse(String(onC['event.end'])) - Date.parse(String(onA['event.end'])));
  assert.ok(drift <= 1000, `c's ban ends when a's does: ${String(onC['event.end'])} vs ${String(onA['event.end'])}`);
  assert.ok((onC['event.duration'] as number) < 900, `c's ban is shorter than a's 900 s by the time gone: ${String(onC['event.duration'])}`);
  const view = fleetStatus(b).peers.find((p) => p.host === 'a')!;
  assert.ok(view.bansApplied >= 2, JSON.stringify(view));
  assert.match(view.fingerprint ?? '', /^[0-9a-f]{16}$/);
  assert.notEqual(view.lastSeen, null);
});

test('forged and unsigned messages are dropped and counted, never applied', async () => {
  const { b, c } = hosts;
  assert.equal((await natsClient('forge', 'portwarden-bans', 'a', '192.0.2.66')).trim(), 'ok');
  for (const h of [b, c]) {
    await until(h, 'the forged message counted', () => {
      const n = fleetStatus(h).counters;
      return n['fleet.dropped.badSignature'] >= 1 && n['fleet.dropped.unsigned'] >= 1;
    });
    await until(h, 'the drop logged', () => logged(h.log, 'fleet-dropped', (l) => l['event.reason'] === 'bad-signature'));
    assert.ok(!kernelBans(h).includes('192.0.2.66'), 'the forged ban is not applied');
    assert.ok(!kernelBans(h).includes('192.0.2.99'), 'the unsigned ban is not applied');
  }
});

test('a fleet ban of b\'s own address is refused on b (lockout guard) and applied on c', async () => {
  const { a, b, c } = hosts;
  const r = controlCli(a.socket, 'ban', b.own, '--for', '1h');
  assert.equal(r.status, 0, r.stderr);
  await until(c, 'b\'s address banned on c', () => kernelBans(c).includes(b.own));
  await until(b, 'the refusal logged on b', () => logged(b.log, 'fleet-ban-refused', (l) => l['source.ip'] === b.own));
  assert.ok(!kernelBans(b).includes(b.own), 'b\'s own address is not banned on b');
  assert.ok(fleetStatus(b).counters['fleet.refused'] >= 1, 'the refusal is counted');
});

test('NATS killed and restarted mid-run: bans and unbans made meanwhile reach every host', async () => {
  const { a, b, c } = hosts;
  nats!.kill('SIGKILL');
  for (const h of [a, b, c]) await until(h, 'the fleet to notice', () => fleetStatus(h).state === 'disconnected');
  assert.equal(controlCli(a.socket, 'ban', '198.51.100.7', '--for', '1h').status, 0);
  assert.equal(controlCli(a.socket, 'unban', a.scanner).status, 0);
  assert.equal(controlCli(c.socket, 'ban', '198.51.100.8', '--for', '1h').status, 0);
  assert.ok(fleetStatus(a).outbox >= 2, 'a\'s ban and unban wait in its outbox');
  startNats();
  await until(b, 'a\'s ban made during the outage', () => kernelBans(b).includes('198.51.100.7'));
  await until(b, 'c\'s ban made during the outage', () => kernelBans(b).includes('198.51.100.8'));
  await until(c, 'a\'s ban on c', () => kernelBans(c).includes('198.51.100.7'));
  await until(a, 'c\'s ban on a', () => kernelBans(a).includes('198.51.100.8'));
  await until(b, 'a\'s unban made during the outage', () => !kernelBans(b).includes(a.scanner));
  await until(c, 'a\'s unban on c', () => !kernelBans(c).includes(a.scanner));
  assert.equal(fleetStatus(a).outbox, 0);
});

test('incidents and decisions of every host are in one JetStream stream as ECS JSON (a real consumer reads them)', async () => {
  const c = hosts.c;
  const before = fleetStatus(c).counters['fleet.siemPublished'];
  assert.equal(controlCli(c.socket, 'ban', '198.51.100.9', '--for', '1h').status, 0);
  await until(c, 'c\'s decision published', () => fleetStatus(c).counters['fleet.siemPublished'] > before);
  const lines = (await natsClient('siem', 'PORTWARDEN_SIEM')).trim().split('\n').map((l) => JSON.parse(l) as { host: string; signature: string; doc: Record<string, unknown> });
  const incident = lines.find((l) => l.doc['event.action'] === 'incident-scan');
  assert.ok(incident, 'the scan incident');
  assert.equal(incident.host, 'a');
  assert.equal(incident.doc['observer.hostname'], 'a');
  assert.equal(incident.doc['source.ip'], hosts.a.scanner);
  assert.equal(incident.doc['event.kind'], 'alert');
  assert.ok(lines.some((l) => l.doc['event.action'] === 'ban' && l.doc['observer.hostname'] === 'a' && l.doc['source.ip'] === hosts.a.scanner), 'a\'s ban decision');
  assert.ok(lines.some((l) => l.doc['event.action'] === 'ban' && l.doc['observer.hostname'] === 'c'), 'c\'s decisions in the same stream');
  assert.ok(lines.every((l) => typeof l.signature === 'string' && l.signature.length === 88), 'every document is signed');
});

void CLI;
