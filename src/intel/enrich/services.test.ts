/**
 * The on-demand reputation services against a real HTTP server on loopback that answers as AbuseIPDB
 * `GET /api/v2/check` and VirusTotal `GET /api/v3/ip_addresses/{ip}` document: the key goes in the
 * documented header, answers are cached, the free tier's budget holds (then `limited`, with the
 * cached answer when there is one), and failures say why without being cached.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { enrichSettings, type EnrichSettings } from './settings.js';
import { enrichAll, reputationServices } from './services.js';

let server: Server;
let base: string;
const seen: { path: string; headers: IncomingMessage['headers'] }[] = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v2/check') {
      if (req.headers.key !== 'abuse-key') return void res.writeHead(401).end('{"errors":[{"detail":"Authentication failed"}]}');
      const ip = url.searchParams.get('ipAddress');
      if (ip === '192.0.2.99') return void res.writeHead(500).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ data: { ipAddress: ip, isPublic: true, ipVersion: 4, isWhitelisted: false, abuseConfidenceScore: 87, countryCode: 'RU', usageType: 'Data Center/Web Hosting/Transit', isp: 'Lab Hosting', domain: 'example.net', hostnames: [], isTor: false, totalReports: 412, numDistinctUsers: 61, lastReportedAt: '2026-12-05T21:10:04+00:00' } }),
      );
      return;
    }
    const vt = /^\/api\/v3\/ip_addresses\/(.+)$/.exec(url.pathname);
    if (vt !== null) {
      if (req.headers['x-apikey'] !== 'vt-key') return void res.writeHead(401).end();
      if (vt[1] === '192.0.2.98') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"error":{"code":"NotFoundError"}}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ data: { id: decodeURIComponent(vt[1]), type: 'ip_address', attributes: { as_owner: 'Lab Hosting', asn: 64506, country: 'RU', reputation: -12, last_analysis_stats: { harmless: 60, malicious: 5, suspicious: 1, undetected: 24, timeout: 0 } } } }),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

function settings(over: { dailyLimit?: number; perMinute?: number } = {}): EnrichSettings {
  const s = enrichSettings.defaults('normal');
  return {
    abuseipdb: { ...s.abuseipdb, enabled: true, baseUrl: `${base}/api/v2`, ...over },
    virustotal: { ...s.virustotal, enabled: true, baseUrl: `${base}/api/v3`, ...over },
  };
}

const env = { ABUSEIPDB_KEY: 'abuse-key', VT_API_KEY: 'vt-key' };
const log = pino({ level: 'silent' });

test('both services: the documented request, the documented fields, then the cache', async () => {
  let now = Date.parse('2026-12-06T10:00:00Z');
  const services = reputationServices(settings(), log, env, () => now);
  seen.length = 0;
  const [abuse, vt] = await enrichAll(services, '198.51.100.7');
  assert.deepEqual(seen.map((s) => s.path).sort(), ['/api/v2/check?ipAddress=198.51.100.7&maxAgeInDays=90', '/api/v3/ip_addresses/198.51.100.7']);
  assert.equal(seen.find((s) => s.path.startsWith('/api/v2'))?.headers.accept, 'application/json');
  assert.deepEqual(abuse, {
    service: 'abuseipdb',
    status: 'ok',
    cached: false,
    fetchedAt: '2026-12-06T10:00:00.000Z',
    summary: { abuseConfidenceScore: 87, totalReports: 412, numDistinctUsers: 61, lastReportedAt: '2026-12-05T21:10:04+00:00', countryCode: 'RU', isp: 'Lab Hosting', usageType: 'Data Center/Web Hosting/Transit', isTor: false, isWhitelisted: false },
  });
  assert.deepEqual(vt.summary, { malicious: 5, suspicious: 1, harmless: 60, undetected: 24, reputation: -12, asOwner: 'Lab Hosting', country: 'RU' });
  now += 60_000;
  const again = await enrichAll(services, '198.51.100.7');
  assert.equal(seen.length, 2, 'answered from the cache');
  assert.deepEqual(again.map((e) => [e.status, e.cached, e.fetchedAt]), [['ok', true, '2026-12-06T10:00:00.000Z'], ['ok', true, '2026-12-06T10:00:00.000Z']]);
  // Past cacheSeconds it is asked again.
  now += 86_400_000;
  await enrichAll(services, '198.51.100.7');
  assert.equal(seen.length, 4);
});

test('the free tier holds: past the day\'s budget a service says limited (and shows a cached answer), the next UTC day it asks again', async () => {
  let now = Date.parse('2026-12-06T10:00:00Z');
  const [abuse] = reputationServices({ ...settings({ dailyLimit: 2 }), virustotal: { ...settings().virustotal, enabled: false } }, log, env, () => now);
  assert.equal((await abuse.check('198.51.100.1')).status, 'ok');
  now += 1000;
  assert.equal((await abuse.check('198.51.100.2')).status, 'ok');
  now += 1000;
  const third = await abuse.check('198.51.100.3');
  assert.equal(third.status, 'limited');
  assert.equal(third.summary, undefined);
  assert.equal(abuse.requests, 2);
  now = Date.parse('2026-12-07T00:00:01Z');
  assert.equal((await abuse.check('198.51.100.3')).status, 'ok');
  // VirusTotal's public API: 4 a minute.
  const [vt] = reputationServices({ ...settings(), abuseipdb: { ...settings().abuseipdb, enabled: false } }, log, env, () => now);
  const statuses: string[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await vt.check(`198.51.100.${10 + i}`)).status);
  assert.deepEqual(statuses, ['ok', 'ok', 'ok', 'ok', 'limited', 'limited']);
  now += 15_000; // one token back
  assert.equal((await vt.check('198.51.100.20')).status, 'ok');
});

test('failures say why and are not cached: HTTP 500, wrong key, wrong shape, no key in the environment, nothing listening', async () => {
  const services = reputationServices(settings(), log, env);
  const [abuse500] = await enrichAll(services.slice(0, 1), '192.0.2.99');
  assert.deepEqual(abuse500, { service: 'abuseipdb', status: 'error', error: 'HTTP 500 Internal Server Error' });
  const [, vtShape] = await enrichAll(services, '192.0.2.98');
  assert.deepEqual(vtShape, { service: 'virustotal', status: 'error', error: 'the answer has no data.attributes.last_analysis_stats' });
  const wrongKey = reputationServices(settings(), log, { ABUSEIPDB_KEY: 'nope', VT_API_KEY: 'nope' });
  assert.deepEqual((await enrichAll(wrongKey, '198.51.100.7')).map((e) => e.error), ['HTTP 401 Unauthorized', 'HTTP 401 Unauthorized']);
  const noKey = reputationServices(settings(), log, {});
  assert.deepEqual((await enrichAll(noKey, '198.51.100.7')).map((e) => e.error), ["no API key: ABUSEIPDB_KEY is not set in the daemon's environment", "no API key: VT_API_KEY is not set in the daemon's environment"]);
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  const down = reputationServices({ ...settings(), abuseipdb: { ...settings().abuseipdb, baseUrl: `http://127.0.0.1:${port}/api/v2` } }, log, env);
  const [gone] = await enrichAll(down.slice(0, 1), '198.51.100.7');
  assert.equal(gone.status, 'error');
  assert.match(gone.error ?? '', /fetch failed/);
  assert.equal(reputationServices(enrichSettings.defaults('normal'), log, env).length, 0, 'off by default');
});
