/**
 * Metrics and health of a real daemon in network namespaces: a real nmap scan, then a scrape checked by
 * Debian's promtool and compared with what the kernel and the daemon's status say; readiness falls when
 * the kernel table is deleted and comes back when the reconciler restores it. The listener is on the
 * protected namespace's loopback, reached with curl inside that namespace; nothing touches the initial
 * namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { CLI, startDaemon, waitUntil } from './support/daemon-process.js';

const BASE = 'http://127.0.0.1:9717';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let socket: string;
const logLines: Record<string, unknown>[] = [];

function http(ns: string, url: string, timeoutSeconds = 5): { status: number; body: string } {
  const r = pair.run(ns, 'curl', ['-s', '-m', String(timeoutSeconds), '-o', '-', '-w', '\n%{http_code}', url]);
  const nl = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, Math.max(0, nl)) };
}

function get(path: string): { status: number; body: string } {
  return http(pair.protectedNs, `${BASE}${path}`);
}

/** Every sample of the exposition text: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function value(all: Map<string, number>, key: string): number {
  const v = all.get(key);
  assert.notEqual(v, undefined, `no sample ${key}`);
  return v!;
}

function kernelBans4(): string[] {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4']);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elems = json.nftables.find((e) => e.set !== undefined)?.set?.elem ?? [];
  return elems.map((e) => (typeof e === 'string' ? e : String((e as { elem: { val: string } }).elem.val)));
}

function status(): { counters: Record<string, number> } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'status', '--json', '--socket', socket], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { counters: Record<string, number> };
}

const until = (what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-observe-'));
  socket = join(dir, 'run', 'control.sock');
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${8100 + (process.pid % 500)}`,
      'enforce:',
      // Long enough that a deleted table stays missing while the test looks.
      '  reconcileEveryMs: 4000',
      'decide:',
      '  banSeconds: { scan: 900 }',
      'control:',
      `  socketPath: ${socket}`,
      'state:',
      `  dir: ${join(dir, 'state')}`,
      'observe:',
      '  listen: 127.0.0.1:1',
    ].join('\n'),
  );
  // --metrics-listen overrides the config's observe.listen.
  daemon = await startDaemon(pair, ['--config', configPath, '--metrics-listen', '127.0.0.1:9717'], logLines);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('the listener logs where it is, and the token file is created with mode 0600', () => {
  const line = logLines.find((l) => l['event.action'] === 'observe-listening');
  assert.ok(line !== undefined, 'observe-listening logged');
  assert.equal(line['url.full'], BASE);
  const tokenFile = join(dir, 'state', 'dashboard.token');
  assert.equal(line['token.file'], tokenFile);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
});

test('liveness is 200, and readiness is 200 with every check passing', () => {
  assert.equal(get('/health/live').status, 200);
  const ready = get('/health/ready');
  assert.equal(ready.status, 200, ready.body);
  const body = JSON.parse(ready.body) as { status: string; checks: Record<string, { ok: boolean }> };
  assert.equal(body.status, 'ready');
  assert.deepEqual(Object.keys(body.checks).sort(), ['capture', 'reconcile', 'table']);
  for (const [name, check] of Object.entries(body.checks)) assert.equal(check.ok, true, name);
});

test('the listener is on the protected host\'s loopback only: the attacker cannot reach it', () => {
  const r = http(pair.attacker, `http://${PROTECTED4}:9717/metrics`, 2);
  assert.equal(r.status, 0, 'no HTTP answer');
});

test('after a real nmap scan, promtool accepts the scrape and the series match the kernel and the daemon', async () => {
  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-e', 'veth0', '-sS', '-p', '1-100', PROTECTED4]);
  await until('the scanner to be banned', () => kernelBans4().includes(ATTACKER4));
  // Let the last answers and timeouts land, so the daemon's counters are still while they are compared.
  await new Promise((r) => setTimeout(r, 1_500));

  const scrape = get('/metrics');
  assert.equal(scrape.status, 200);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: scrape.body, encoding: 'utf8' });
  assert.equal(promtool.status, 0, `promtool: ${promtool.stdout}${promtool.stderr}`);

  const m = samples(scrape.body);
  const incidentLines = logLines.filter((l) => l['event.action'] === 'incident-scan').length;
  assert.ok(incidentLines >= 1);
  assert.equal(value(m, 'portwarden_incidents_total{kind="scan"}'), incidentLines);
  assert.equal(value(m, 'portwarden_incidents_total{kind="flood"}'), 0);
  const detectionBans = logLines.filter((l) => l['event.action'] === 'ban' && l.origin === 'detection').length;
  assert.equal(value(m, 'portwarden_bans_total{origin="detection"}'), detectionBans);
  assert.equal(value(m, 'portwarden_bans_active{family="ipv4"}'), kernelBans4().length);
  assert.equal(value(m, 'portwarden_bans_active{family="ipv6"}'), 0);
  assert.equal(value(m, 'portwarden_unbans_total'), 0);

  // Pulled from the daemon's own counters: the same numbers its status reports.
  const counters = status().counters;
  assert.ok(counters['packets.seen'] > 0);
  assert.equal(value(m, 'portwarden_detection_events_total{counter="packets.seen"}'), counters['packets.seen']);
  assert.equal(value(m, 'portwarden_detection_events_total{counter="probes.first_contact"}'), counters['probes.first_contact']);
  assert.equal(value(m, 'portwarden_capture_drops_total'), counters['capture.lost']);
  assert.equal(value(m, 'portwarden_capture_received_total'), counters['capture.delivered']);
  assert.equal(value(m, 'portwarden_packets_seen_total'), counters['capture.delivered']);
  assert.equal(value(m, 'portwarden_packets_decoded_total'), counters['capture.delivered'], 'every logged packet decodes');
  assert.equal(value(m, 'portwarden_packets_malformed_total{reason="ipv4.truncated"}'), 0);
  // A SYN scan: its probes are SYN probes, at least one per distinct port nmap learned before the ban.
  assert.ok(value(m, 'portwarden_probes_total{class="syn"}') >= counters['probes.first_contact'] - value(m, 'portwarden_probes_total{class="icmp"}'));
  assert.equal(value(m, 'portwarden_probes_total{class="fin"}'), 0);

  // Every ban was committed: one latency observation each, all within the histogram's last bucket.
  const observations = value(m, 'portwarden_decision_to_kernel_seconds_count');
  assert.ok(observations >= detectionBans, `${observations} latencies for ${detectionBans} bans`);
  assert.equal(value(m, 'portwarden_decision_to_kernel_seconds_bucket{le="+Inf"}'), observations);
  assert.ok(value(m, 'portwarden_decision_to_kernel_seconds_sum') > 0);

  assert.equal(value(m, 'portwarden_reconcile_repairs_total'), counters['reconcile.repairs']);
  assert.ok(value(m, 'process_cpu_seconds_total') > 0);
  assert.ok(value(m, 'process_resident_memory_bytes') > 0);
  assert.ok([...m.keys()].some((k) => k.startsWith('portwarden_build_info{version=')));
});

test('readiness goes 503 while the kernel table is missing, and 200 again once the reconciler restored it', async () => {
  const repairsBefore = value(samples(get('/metrics').body), 'portwarden_reconcile_repairs_total');
  let sawUnready = false;
  // The table watch puts the table back within milliseconds, and the daemon may answer a probe before or
  // after it hears of the deletion: probe until readiness says "unready" or the table is back, and try
  // again if the repair won the race.
  for (let attempt = 0; attempt < 10 && !sawUnready; attempt++) {
    pair.must(pair.protectedNs, 'nft', ['delete', 'table', 'inet', 'portwarden']);
    for (;;) {
      const r = get('/health/ready');
      if (r.status === 503) {
        const body = JSON.parse(r.body) as { status: string; checks: { table: { ok: boolean }; capture: { ok: boolean } } };
        assert.equal(body.status, 'unready');
        assert.equal(body.checks.table.ok, false);
        assert.equal(body.checks.capture.ok, true);
        sawUnready = true;
        break;
      }
      assert.equal(r.status, 200, r.body);
      if (pair.run(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']).code === 0) break;
    }
    await until('the reconciler to restore the table', () => pair.run(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']).code === 0);
  }
  assert.ok(sawUnready, 'readiness never reported the missing table');
  await until('readiness again', () => get('/health/ready').status === 200);
  const after = samples(get('/metrics').body);
  assert.ok(value(after, 'portwarden_reconcile_repairs_total') > repairsBefore);
  assert.ok(Math.abs(value(after, 'portwarden_reconcile_last_timestamp_seconds') - Date.now() / 1000) < 60);
});

test('a bad --metrics-listen is refused before the daemon starts', () => {
  // Inside the namespace all the same: were the option accepted, this daemon must not touch the host.
  const r = pair.run(pair.protectedNs, process.execPath, ['--import', 'tsx', CLI, 'start', '--metrics-listen', 'localhost', '--socket', join(dir, 'x.sock'), '--state', join(dir, 'x')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--metrics-listen "localhost": expected host:port/);
});
