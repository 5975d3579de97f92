import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecodeEvent, DecodeStats } from '../decode/events.js';
import type { IncidentRecord } from '../model/incident.js';
import { PROBE_CLASS_NAMES, ProbeClass } from '../model/probe.js';
import { CounterReader, CounterRegistry } from '../model/counters.js';
import { decodeCounterGroup } from '../decode/counters.js';
import { DetectionCounterDoc } from '../detect/counters.js';
import { PortwardenError } from '../errors.js';
import { ObserveHttpServer, type ObserveApi } from './http-server.js';
import { parseListen, splitListen } from './listen-address.js';
import { DaemonMetrics, METRICS, queueVerdicts, type MetricsSource } from './metrics.js';
import { RecentIncidents } from './recent-incidents.js';
import { dashboardToken } from './token.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A registry as the stages fill it: detection's decoder, detection, probes by class, a capture source, the reconciler. */
function registry(): CounterRegistry {
  const decode = new DecodeStats();
  decode.record(0);
  decode.record(0);
  decode.record(DecodeEvent['ipv4.truncated']);
  decode.note(DecodeEvent['tcp.bad_options']);
  const byClass = new Float64Array(11);
  byClass[ProbeClass.syn] = 40;
  byClass[ProbeClass.udp] = 2;
  const r = new CounterRegistry();
  r.add(decodeCounterGroup(decode));
  const detect = r.table('detect', DetectionCounterDoc);
  detect.values[detect.id['packets.seen']] = 3;
  detect.values[detect.id['limit.flows']] = 1;
  r.table('probes', Object.fromEntries(PROBE_CLASS_NAMES.map((n) => [n, n])), { prefix: 'probes.class', values: byClass });
  r.add(new CounterReader('capture', {}, () => ({ 'capture.received': 3, 'capture.delivered': 3, 'capture.lost': 4 })));
  r.add(new CounterReader('reconcile', {}, () => ({ 'reconcile.repairs': 5 })));
  return r;
}

function source(overrides: Partial<MetricsSource> = {}): MetricsSource {
  return {
    version: '9.9.9',
    counters: registry(),
    bans: () => new Map([['192.0.2.1', { expiresAtMs: Date.now() + 60_000 }], ['192.0.2.2', { expiresAtMs: Date.now() - 1 }], ['2001:db8::1', { expiresAtMs: null }]]),
    lastReconcileMs: () => 1_700_000_000_000,
    ...overrides,
  };
}

function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

test('every metric in the METRICS table is exported, and nothing of ours outside it', async () => {
  const m = new DaemonMetrics(source());
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
  const ours = names.filter((n) => n.startsWith('portwarden_')).sort();
  assert.deepEqual(ours, Object.keys(METRICS).sort());
  assert.ok(names.includes('process_cpu_seconds_total'), 'process metrics');
});

test('scrape values come from the daemon\'s counters; pushed series count what the daemon told', async () => {
  const m = new DaemonMetrics(source());
  m.incident('scan');
  m.incident('scan');
  m.ban('detection');
  m.unban();
  m.committed([10, 12], 14);
  m.alertDelivery('webhook-1', 'sent', 3);
  m.alertDelivery('webhook-1', 'failed');
  const off = m.registerQueueVerdicts(() => ({ accept: 7, drop: 2 }));
  const text = await m.text();
  const s = samples(text);
  const expect: [string, number][] = [
    ['portwarden_packets_seen_total', 3],
    ['portwarden_packets_decoded_total', 2],
    ['portwarden_packets_malformed_total{reason="ipv4.truncated"}', 1],
    ['portwarden_packets_malformed_total{reason="tcp.truncated"}', 0],
    ['portwarden_decoder_notices_total{event="tcp.bad_options"}', 1],
    ['portwarden_detection_events_total{counter="packets.seen"}', 3],
    ['portwarden_detection_events_total{counter="limit.flows"}', 1],
    ['portwarden_probes_total{class="syn"}', 40],
    ['portwarden_probes_total{class="udp"}', 2],
    ['portwarden_incidents_total{kind="scan"}', 2],
    ['portwarden_incidents_total{kind="flood"}', 0],
    ['portwarden_bans_active{family="ipv4"}', 1],
    ['portwarden_bans_active{family="ipv6"}', 1],
    ['portwarden_bans_total{origin="detection"}', 1],
    ['portwarden_unbans_total', 1],
    ['portwarden_decision_to_kernel_seconds_count', 2],
    ['portwarden_decision_to_kernel_seconds_bucket{le="0.0025"}', 1],
    ['portwarden_decision_to_kernel_seconds_bucket{le="0.005"}', 2],
    ['portwarden_capture_received_total', 3],
    ['portwarden_capture_drops_total', 4],
    ['portwarden_reconcile_repairs_total', 5],
    ['portwarden_reconcile_last_timestamp_seconds', 1_700_000_000],
    ['portwarden_queue_verdicts_total{verdict="accept"}', 7],
    ['portwarden_queue_verdicts_total{verdict="drop"}', 2],
    ['portwarden_alert_deliveries_total{channel="webhook-1",outcome="sent"}', 3],
    ['portwarden_alert_deliveries_total{channel="webhook-1",outcome="failed"}', 1],
    ['portwarden_build_info{version="9.9.9"}', 1],
  ];
  for (const [key, value] of expect) assert.equal(s.get(key), value, key);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(promtool.status, 0, promtool.stdout + promtool.stderr);
  off();
  assert.deepEqual(queueVerdicts({ 'inline.accepted': 5, 'inline.dropped': 1, 'inline.packets': 6 }), { accept: 5, drop: 1 });
  assert.deepEqual(queueVerdicts({}), {}, 'inline mode off: no series');
  assert.equal(samples(await m.text()).get('portwarden_queue_verdicts_total{verdict="accept"}'), undefined, 'unregistered');
});

test('before the pipeline exists, a scrape shows zeros, not an error', async () => {
  const m = new DaemonMetrics(source({ counters: new CounterRegistry(), lastReconcileMs: () => null }), { processMetrics: false });
  const s = samples(await m.text());
  assert.equal(s.get('portwarden_packets_seen_total'), 0);
  assert.equal(s.get('portwarden_probes_total{class="syn"}'), 0);
});

test('the Grafana dashboard only queries metrics the daemon exports', async () => {
  const m = new DaemonMetrics(source());
  const series = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    series.add(metric.name);
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) series.add(metric.name + suffix);
  }
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'contrib/grafana/portwarden.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  let exprs = 0;
  const used = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets) {
      exprs++;
      for (const name of expr.match(/\b(portwarden|process|nodejs)_[a-z0-9_]+\b/g) ?? []) {
        assert.ok(series.has(name), `panel "${panel.title}": ${name} is not exported`);
        used.add(name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
  }
  assert.ok(exprs >= 15);
  for (const name of Object.keys(METRICS).filter((n) => n !== 'portwarden_build_info')) assert.ok(used.has(name), `${name} is on no panel`);
});

test('the systemd unit passes systemd-analyze verify, keeps only CAP_NET_ADMIN and CAP_NET_RAW, and starts the real bin', () => {
  const text = readFileSync(join(ROOT, 'contrib/systemd/portwarden.service'), 'utf8');
  const keys = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m !== null) keys.set(m[1], m[2]);
  }
  const expected: [string, string][] = [
    ['CapabilityBoundingSet', 'CAP_NET_ADMIN CAP_NET_RAW'],
    ['AmbientCapabilities', 'CAP_NET_ADMIN CAP_NET_RAW'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['StateDirectory', 'portwarden'],
    ['RuntimeDirectory', 'portwarden'],
    ['Restart', 'on-failure'],
  ];
  for (const [key, value] of expected) assert.equal(keys.get(key), value, key);
  // The bin package.json installs, running `start` with the config in /etc.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const [program, ...args] = keys.get('ExecStart')!.split(' ');
  assert.ok(program.endsWith(`/${Object.keys(pkg.bin)[0]}`), program);
  assert.deepEqual(args, ['start', '--config', '/etc/portwarden/portwarden.yaml']);
  // Verify a copy that points at this checkout's bin (systemd checks that the program exists).
  const dir = mkdtempSync(join(tmpdir(), 'pw-unit-'));
  try {
    const unit = join(dir, 'portwarden.service');
    writeFileSync(unit, text.replace(program, join(ROOT, pkg.bin.portwarden)));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings (an unknown or misspelled key is one)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('listen addresses: IPv4 and bracketed IPv6 with a port; anything else refused by --metrics-listen', () => {
  assert.deepEqual(splitListen('127.0.0.1:9717'), { host: '127.0.0.1', port: 9717 });
  assert.deepEqual(splitListen('[::1]:9717'), { host: '::1', port: 9717 });
  for (const bad of ['localhost:9717', '127.0.0.1', '127.0.0.1:70000', '::1:9717']) assert.equal(splitListen(bad), null, bad);
  assert.equal(parseListen('off'), null);
  assert.throws(() => parseListen('9717'), (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_USAGE');
});

test('the dashboard token is generated once into the state dir (0600) and kept; a configured one wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-token-'));
  try {
    const a = dashboardToken(null, dir);
    assert.ok(a.token.length >= 40);
    assert.equal(a.file, join(dir, 'dashboard.token'));
    assert.equal(statSync(a.file).mode & 0o777, 0o600);
    assert.equal(dashboardToken(null, dir).token, a.token, 'same token after a restart');
    assert.deepEqual(dashboardToken('configured-token-1234', dir), { token: 'configured-token-1234', file: null });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function record(source: string, kind: IncidentRecord['kind'] = 'scan'): IncidentRecord {
  return { kind, class: 'syn', 'source.ip': source, probes: 10, first_seen: '', last_seen: '', confidence: 1, evidence: {} };
}

test('recent incidents: a bounded ring, newest first, with per-minute counts and top offenders', () => {
  const r = new RecentIncidents(3);
  const t0 = Date.UTC(2024, 0, 1, 12, 0, 30);
  r.add(record('192.0.2.1'), 'ban', 'x', t0);
  r.add(record('192.0.2.2'), 'ban', 'x', t0 + 60_000);
  r.add(record('192.0.2.2'), 'ban', 'x', t0 + 60_000);
  r.add({ ...record('192.0.2.3', 'distributed-scan'), 'source.ip': undefined, sources: ['192.0.2.2', '192.0.2.4'] }, 'alert', 'x', t0 + 120_000);
  const list = r.list();
  assert.equal(list.length, 3, 'the oldest fell out');
  assert.deepEqual(list.map((e) => e.id), [4, 3, 2]);
  assert.deepEqual(r.perMinute(3, t0 + 120_000).map((m) => m.count), [1, 2, 1]);
  assert.deepEqual(r.topOffenders(2).map((o) => [o.source, o.incidents]), [['192.0.2.2', 3], ['192.0.2.4', 1]]);
  assert.deepEqual(r.breakdown().kinds, { scan: 2, 'distributed-scan': 1 });
});

test('the HTTP listener refuses foreign Host names, and actions without the right token', async () => {
  const unbanned: string[] = [];
  const banned: unknown[] = [];
  const api: ObserveApi = {
    token: 'the-right-token-0123456789',
    publicRead: true,
    timeline: () => ({}),
    address: async (address) => ({ address }),
    ban: async (action) => {
      banned.push(action);
      return { target: action.target, expiresInSeconds: action.seconds };
    },
    allow: async (action) => {
      banned.push(action);
      return { target: action.target };
    },
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', text: 'x 1\n' }),
    readiness: async () => ({ status: 'unready', checks: { capture: { ok: false, detail: '' }, table: { ok: true, detail: '' }, reconcile: { ok: true, detail: '', ageSeconds: 0, maxAgeSeconds: 1 } } }),
    summary: async () => ({}),
    incidents: () => [],
    bans: async () => [],
    unban: async (target) => {
      if (target === 'nonsense') throw new PortwardenError('PW_ERR_USAGE', 'nonsense is not an address or network');
      unbanned.push(target);
      return { target, removed: true };
    },
    subscribe: () => () => undefined,
  };
  const server = await ObserveHttpServer.listen({ host: '127.0.0.1', port: 0 }, api);
  const base = `http://127.0.0.1:${server.address.port}`;
  const post = (body: string, headers: Record<string, string>) => fetch(`${base}/api/unban`, { method: 'POST', headers, body });
  const json = { 'content-type': 'application/json' };
  const auth = { ...json, authorization: `Bearer ${api.token}` };
  try {
    assert.equal((await fetch(`${base}/health/live`)).status, 200);
    assert.equal((await fetch(`${base}/health/ready`)).status, 503);
    assert.equal((await fetch(`${base}/metrics`)).status, 200);
    // observe.publicRead: true here, so reads need no token.
    for (const path of ['/api/bans', '/api/incidents', '/api/summary', '/api/timeline', '/api/address?address=192.0.2.1']) assert.equal((await fetch(base + path)).status, 200, path);
    const page = await fetch(`${base}/`);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await page.text(), /<script src="\/dashboard.js"/);
    // DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends Host: evil.example.
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      get(`${base}/api/bans`, { headers: { host: 'evil.example:9717' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    assert.equal(rebound, 403);
    assert.equal((await post('{"target":"192.0.2.1"}', json)).status, 401);
    assert.equal((await post('{"target":"192.0.2.1"}', { ...json, authorization: 'Bearer the-wrong-token-012345678' })).status, 401);
    assert.equal((await post('{"target":"192.0.2.1"}', { authorization: auth.authorization, 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post('{"target":"nonsense"}', auth)).status, 400);
    assert.equal((await post('x'.repeat(5000), auth)).status, 413);
    assert.deepEqual(unbanned, []);
    const ok = await post('{"target":"192.0.2.1"}', auth);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { target: '192.0.2.1', removed: true });
    assert.deepEqual(unbanned, ['192.0.2.1']);
    // ban and allow: the same token and body checks, then the action as sent.
    const action = (path: string, body: string, headers: Record<string, string>) => fetch(`${base}${path}`, { method: 'POST', headers, body });
    assert.equal((await action('/api/ban', '{"target":"192.0.2.9","seconds":60}', json)).status, 401);
    assert.equal((await action('/api/allow', '{"target":"192.0.2.9"}', json)).status, 401);
    assert.equal((await action('/api/ban', '{"target":"192.0.2.9","seconds":-5}', auth)).status, 400);
    assert.equal((await action('/api/ban', '{"target":"192.0.2.9","seconds":"1h"}', auth)).status, 400);
    assert.equal((await action('/api/ban', '[1]', auth)).status, 400);
    assert.deepEqual(banned, []);
    assert.equal((await action('/api/ban', '{"target":"192.0.2.9","seconds":null,"reason":"by hand"}', auth)).status, 200);
    assert.equal((await action('/api/allow', '{"target":"192.0.2.10","reason":"office"}', auth)).status, 200);
    assert.deepEqual(banned, [{ target: '192.0.2.9', seconds: null, reason: 'by hand' }, { target: '192.0.2.10', reason: 'office' }]);
  } finally {
    await server.close();
  }
});

test('an event stream whose client stopped reading is ended once its unsent bytes pass the cap; a reading one stays', async () => {
  const listeners = new Set<(event: string, data: unknown) => void>();
  const api: ObserveApi = {
    token: 'the-right-token-0123456789',
    publicRead: true,
    timeline: () => ({}),
    address: async (address) => ({ address }),
    ban: async () => ({}),
    allow: async () => ({}),
    metrics: async () => ({ contentType: 'text/plain', text: '' }),
    readiness: async () => ({ status: 'ready', checks: { capture: { ok: true, detail: '' }, table: { ok: true, detail: '' }, reconcile: { ok: true, detail: '', ageSeconds: 0, maxAgeSeconds: 1 } } }),
    summary: async () => ({}),
    incidents: () => [],
    bans: async () => [],
    unban: async (target) => ({ target, removed: false }),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const server = await ObserveHttpServer.listen({ host: '127.0.0.1', port: 0 }, api);
  const url = `http://127.0.0.1:${server.address.port}/api/events`;
  const emit = (event: string, data: unknown): void => {
    for (const l of [...listeners]) l(event, data);
  };
  try {
    // A client that reads the headers, then nothing more.
    const stalled = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => get(url, resolve).on('error', reject));
    assert.equal(stalled.statusCode, 200);
    stalled.pause();
    const closed = new Promise<void>((resolve) => stalled.socket.once('close', () => resolve()));
    stalled.on('error', () => undefined); // the server cutting it off is the point
    assert.equal(listeners.size, 1);
    // A burst of bans, 64 KiB each: far more than socket buffers and the 1 MiB cap hold together.
    const big = { target: '192.0.2.1', reason: 'x'.repeat(64 * 1024) };
    let sent = 0;
    for (; sent < 2000 && server.slowStreamsEnded === 0; sent++) {
      emit('ban', big);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(server.slowStreamsEnded, 1, `still open after ${sent} events`);
    assert.ok(sent > 16, `ended after ${sent} events: before 1 MiB was held`);
    assert.equal(listeners.size, 0, 'the ended stream no longer listens');
    // Read again: the client takes what got through, then finds the connection closed by the server.
    stalled.resume();
    await closed;

    // A client that reads keeps its stream and gets every event.
    const reading = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => get(url, resolve).on('error', reject));
    reading.setEncoding('utf8');
    let text = '';
    const got = new Promise<void>((resolve) =>
      reading.on('data', (chunk: string) => {
        text += chunk;
        if ((text.match(/^event: ban$/gm) ?? []).length === 20) resolve();
      }),
    );
    for (let i = 0; i < 20; i++) emit('ban', { target: `192.0.2.${i}` });
    await got;
    assert.equal(server.slowStreamsEnded, 1);
    assert.equal(listeners.size, 1);
    reading.destroy();
  } finally {
    await server.close();
  }
});

test('without observe.publicRead the API reads need the token, the page and health do not, and events lose their data', async () => {
  const listeners = new Set<(event: string, data: unknown) => void>();
  const api: ObserveApi = {
    token: 'the-right-token-0123456789',
    publicRead: false,
    metrics: async () => ({ contentType: 'text/plain', text: '' }),
    readiness: async () => ({ status: 'ready', checks: { capture: { ok: true, detail: '' }, table: { ok: true, detail: '' }, reconcile: { ok: true, detail: '', ageSeconds: 0, maxAgeSeconds: 1 } } }),
    summary: async () => ({ topOffenders: ['192.0.2.1'] }),
    incidents: () => [{ source: '192.0.2.1' }],
    bans: async () => ({ bans: [{ target: '192.0.2.1' }] }),
    timeline: () => ({ kinds: ['scan'] }),
    address: async (address) => ({ address }),
    unban: async (target) => ({ target, removed: false }),
    ban: async () => ({}),
    allow: async () => ({}),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const server = await ObserveHttpServer.listen({ host: '127.0.0.1', port: 0 }, api);
  const base = `http://127.0.0.1:${server.address.port}`;
  const reads = ['/api/summary', '/api/incidents', '/api/bans', '/api/timeline', '/api/address?address=192.0.2.1'];
  const authorization = `Bearer ${api.token}`;
  try {
    for (const path of reads) {
      assert.equal((await fetch(base + path)).status, 401, path);
      assert.equal((await fetch(base + path, { headers: { authorization: 'Bearer the-wrong-token-012345678' } })).status, 401, path);
      const ok = await fetch(base + path, { headers: { authorization } });
      assert.equal(ok.status, 200, path);
      assert.match(await ok.text(), /192\.0\.2\.1|scan/, path);
    }
    for (const path of ['/', '/dashboard.js', '/dashboard.css', '/health/live', '/health/ready', '/metrics']) assert.equal((await fetch(base + path)).status, 200, path);
    // The stream of a page without the token: event names only.
    const anonymous = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => get(`${base}/api/events`, resolve).on('error', reject));
    const withToken = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => get(`${base}/api/events`, { headers: { authorization } }, resolve).on('error', reject));
    const collect = (res: import('node:http').IncomingMessage) =>
      new Promise<string>((resolve) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('event: ban')) resolve(text);
        });
      });
    const [a, b] = [collect(anonymous), collect(withToken)];
    for (const l of listeners) l('ban', { target: '192.0.2.1' });
    assert.match(await a, /event: ban\ndata: \{\}\n/);
    assert.match(await b, /event: ban\ndata: \{"target":"192\.0\.2\.1"\}\n/);
    anonymous.destroy();
    withToken.destroy();
  } finally {
    await server.close();
  }
});

test('the CrowdSec decision stream series: per bouncer served and pulls, last pull, bouncers seen, refusals', async () => {
  const counters = new CounterRegistry();
  counters.table('lapi', { 'lapi.refused': 'refused' }).inc(0, 4);
  const seen = { name: 'fw-1', lastPullAt: '2026-12-06T10:00:00.000Z', pulls: 7, servedNew: 12, servedDeleted: 3, holding: 9, userAgent: 'crowdsec-firewall-bouncer/v0.0.25', address: '127.0.0.1' };
  const unseen = { ...seen, name: 'fw-2', lastPullAt: null, pulls: 0, servedNew: 0, servedDeleted: 0, holding: 0 };
  const m = new DaemonMetrics(source({ counters, lapi: () => ({ listen: '127.0.0.1:8081', bouncers: [seen, unseen] }) }), { processMetrics: false });
  const s = samples(await m.text());
  assert.equal(s.get('portwarden_lapi_decisions_served_total{bouncer="fw-1",kind="new"}'), 12);
  assert.equal(s.get('portwarden_lapi_decisions_served_total{bouncer="fw-1",kind="deleted"}'), 3);
  assert.equal(s.get('portwarden_lapi_pulls_total{bouncer="fw-1"}'), 7);
  assert.equal(s.get('portwarden_lapi_bouncers_seen'), 1);
  assert.equal(s.get('portwarden_lapi_last_pull_timestamp_seconds{bouncer="fw-1"}'), Date.parse(seen.lastPullAt) / 1000);
  assert.equal(s.get('portwarden_lapi_last_pull_timestamp_seconds{bouncer="fw-2"}'), undefined, 'a bouncer not seen has no last pull');
  assert.equal(s.get('portwarden_lapi_refused_total'), 4);
  const off = samples(await new DaemonMetrics(source(), { processMetrics: false }).text());
  assert.equal(off.get('portwarden_lapi_bouncers_seen'), 0, 'not serving: no bouncer');
});
