/**
 * Geo with the real daemon (test/support/testkit-netns.ts namespaces, real nftables, real TCP, real
 * nmap): the committed fixture database (test/fixtures/geo/make-fixtures.pl) places the attacker's
 * addresses in Germany, France, China and the US. With `geo.block: [CN]` and
 * `geo.allowOnly: { countries: [DE, FR], ports: [tcp/22] }`, real connections to a listener on port 22
 * get through from DE and FR and not from the US or China, port 8080 is open to all but China, an
 * allowlisted US address still reaches port 22, and all of it holds for IPv6 too. A scan's incident
 * carries the scanner's country and AS, and `portwarden lookup` tells bans, country, ASN, the geo
 * rules, protection, and AbuseIPDB's answer from a stand-in speaking its documented `check` shape on
 * the namespace's loopback (key from the environment, cached). Nothing touches the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { manyAttackersLab, NetnsPair } from './support/testkit-netns.js';
import { controlCli, ownPlaceLines, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';
import type { LookupView } from '../src/model/control.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/geo/', import.meta.url));
const NET = 88;
const HOST4 = `10.${NET}.0.1`;
const HOST6 = `2001:db8:${NET}::1`;
const A = {
  de4: '10.88.1.5',
  fr4: '10.88.2.5',
  cn4: '10.88.3.5',
  us4: '10.88.4.5',
  usAllowed4: '10.88.4.6',
  de6: '2001:db8:88:1::5',
  cn6: '2001:db8:88:3::5',
  us6: '2001:db8:88:4::5',
};

let pair: NetnsPair;
let dir: string;
let socket: string;
let daemon: ChildProcess | null = null;
let listener: ChildProcess | null = null;
let abuseApi: ChildProcess | null = null;
/** A stand-in for AbuseIPDB inside the protected namespace (its own loopback), answering `GET /api/v2/check` as documented. */
const ABUSE_PORT = 18_000 + (process.pid % 1000);
const ABUSE_API = `
const http = require('node:http');
let n = 0;
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== '/api/v2/check' || req.headers.key !== 'lab-key') return void res.writeHead(401).end();
  n++;
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { ipAddress: url.searchParams.get('ipAddress'), abuseConfidenceScore: 100, totalReports: 7, numDistinctUsers: 3, countryCode: 'CN', isTor: false, isWhitelisted: false, lastReportedAt: '2026-12-06T08:00:00+00:00', requestsSoFar: n } }));
}).listen(${ABUSE_PORT}, '127.0.0.1', () => console.log('listening'));
`;
const logLines: LogLine[] = [];

const until = (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

// Connects from each (source address, destination, port) at once; prints one JSON line of outcomes.
const CONNECT = `
const net = require('node:net');
const tries = JSON.parse(process.argv[1]);
Promise.all(tries.map(([from, host, port]) => new Promise((done) => {
  const s = net.connect({ host, port, localAddress: from });
  s.setTimeout(2000);
  s.on('connect', () => { s.destroy(); done('open'); });
  s.on('timeout', () => { s.destroy(); done('dropped'); });
  s.on('error', (e) => done(e.code));
}))).then((r) => console.log(JSON.stringify(r)));
`;

type Try = [from: string, host: string, port: number];

function connect(tries: Try[]): string[] {
  const out = pair.must(pair.attacker, process.execPath, ['-e', CONNECT, JSON.stringify(tries)]);
  return JSON.parse(out.trim()) as string[];
}

before(async () => {
  pair = new NetnsPair(manyAttackersLab('pwgeo', NET, [A.de4, A.fr4, A.cn4, A.us4, A.usAllowed4], [A.de6, A.cn6, A.us6]));
  dir = mkdtempSync(join(tmpdir(), 'pw-geo-'));
  socket = join(dir, 'control.sock');
  // Listeners on 22 (the "SSH port": any TCP listener will do) and 8080, both families.
  listener = pair.spawn(pair.protectedNs, process.execPath, [
    '-e',
    `const net = require('node:net'); let n = 0; for (const p of [22, 8080]) net.createServer((c) => c.end()).listen({ port: p, host: '::' }, () => { if (++n === 2) console.log('listening'); });`,
  ]);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: listener!.stdout! }).on('line', (l) => l === 'listening' && resolve());
    listener!.once('exit', (code) => reject(new Error(`listener exited ${code}`)));
  });
  abuseApi = pair.spawn(pair.protectedNs, process.execPath, ['-e', ABUSE_API]);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: abuseApi!.stdout! }).on('line', (l) => l === 'listening' && resolve());
    abuseApi!.once('exit', (code) => reject(new Error(`API stand-in exited ${code}`)));
  });
  // The daemon inherits the environment: the key never goes into the file.
  process.env.PW_TEST_ABUSE_KEY = 'lab-key';
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${8700 + (process.pid % 200)}`,
      '  interfaces: [pw0]',
      'enforce:',
      '  fastPath: { enabled: false }',
      'allowlist:',
      `  - { value: ${A.usAllowed4}, reason: travelling admin }`,
      ...ownPlaceLines(socket, join(dir, 'state')),
      'geo:',
      `  database: ${join(FIXTURES, 'country-geolite2.mmdb')}`,
      `  asnDatabase: ${join(FIXTURES, 'asn.mmdb')}`,
      '  block: [CN]',
      '  allowOnly: { countries: [DE, fr], ports: [tcp/22] }',
      'enrich:',
      `  abuseipdb: { enabled: true, baseUrl: "http://127.0.0.1:${ABUSE_PORT}/api/v2", keyEnv: PW_TEST_ABUSE_KEY }`,
    ].join('\n'),
  );
  daemon = await startDaemon(pair, ['--config', configPath], logLines);
  await until('the geo sets loaded', () => logLines.some((l) => l['event.action'] === 'geo-loaded'));
});

after(() => {
  daemon?.kill('SIGKILL');
  listener?.kill('SIGKILL');
  abuseApi?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('the kernel holds the countries\' networks from the database in interval sets', () => {
  const loaded = logLines.find((l) => l['event.action'] === 'geo-loaded')!;
  // CN: 3 IPv4 and 2 IPv6 networks; DE+FR: 10.77.0.0/24 and the range 10.88.1.0-10.88.2.255, and two IPv6.
  assert.deepEqual(loaded['geo.elements'], { block4: 3, block6: 2, allow4: 2, allow6: 2 });
  const set = JSON.parse(pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'geoblock4'])) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elems = set.nftables.find((x) => x.set !== undefined)?.set?.elem ?? [];
  assert.deepEqual(elems.map((e) => JSON.stringify(e)).sort(), [
    JSON.stringify({ prefix: { addr: '10.88.3.0', len: 24 } }),
    JSON.stringify({ prefix: { addr: '10.88.30.0', len: 23 } }),
    JSON.stringify({ prefix: { addr: '10.88.33.0', len: 24 } }),
  ].sort());
});

test('geo.allowOnly: the SSH port opens to DE and FR only; other ports stay open; geo.block drops China everywhere; IPv4 and IPv6', () => {
  const tries: Try[] = [
    [A.de4, HOST4, 22],
    [A.fr4, HOST4, 22],
    [A.us4, HOST4, 22],
    [A.cn4, HOST4, 22],
    [A.us4, HOST4, 8080],
    [A.cn4, HOST4, 8080],
    [A.de4, HOST4, 8080],
    [A.de6, HOST6, 22],
    [A.us6, HOST6, 22],
    [A.us6, HOST6, 8080],
    [A.cn6, HOST6, 8080],
  ];
  assert.deepEqual(
    Object.fromEntries(connect(tries).map((r, i) => [`${tries[i][0]} → ${tries[i][2]}`, r])),
    {
      [`${A.de4} → 22`]: 'open',
      [`${A.fr4} → 22`]: 'open',
      [`${A.us4} → 22`]: 'dropped',
      [`${A.cn4} → 22`]: 'dropped',
      [`${A.us4} → 8080`]: 'open',
      [`${A.cn4} → 8080`]: 'dropped',
      [`${A.de4} → 8080`]: 'open',
      [`${A.de6} → 22`]: 'open',
      [`${A.us6} → 22`]: 'dropped',
      [`${A.us6} → 8080`]: 'open',
      [`${A.cn6} → 8080`]: 'dropped',
    },
  );
});

test('the allowlist passes before the geo rules: an allowlisted US address reaches the SSH port', () => {
  assert.deepEqual(connect([[A.usAllowed4, HOST4, 22]]), ['open']);
});

test('lookup tells country, ASN and what the geo rules do; protection and why', () => {
  const r = controlCli(socket, 'lookup', A.cn4, '--json');
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout) as LookupView;
  assert.deepEqual(v.geo, { country: 'CN', asn: 64503, asOrganization: 'Lab Backbone CN' });
  assert.equal(v.geoPolicy, 'blocked: CN is in geo.block; cannot reach tcp/22: CN is not in geo.allowOnly');
  assert.equal(v.protected, null);
  assert.deepEqual(v.bans, []);
  // AbuseIPDB asked on demand, with the key from the environment; the second lookup is served from the cache.
  assert.equal(v.enrichment?.length, 1);
  assert.deepEqual([v.enrichment![0].service, v.enrichment![0].status, v.enrichment![0].cached, v.enrichment![0].summary?.abuseConfidenceScore, v.enrichment![0].summary?.totalReports], ['abuseipdb', 'ok', false, 100, 7]);
  const again = JSON.parse(controlCli(socket, 'lookup', A.cn4, '--json').stdout) as LookupView;
  assert.equal(again.enrichment?.[0].cached, true);

  const allowed = JSON.parse(controlCli(socket, 'lookup', A.usAllowed4, '--json').stdout) as LookupView;
  assert.match(allowed.protected?.reason ?? '', /travelling admin/);
  const own = JSON.parse(controlCli(socket, 'lookup', HOST4, '--json').stdout) as LookupView;
  assert.match(own.protected?.reason ?? '', /own address/);

  const text = controlCli(socket, 'lookup', A.de6);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^2001:db8:88:1::5$/m);
  assert.match(text.stdout, /^country: DE; AS64501 Lab Telekom DE$/m);
  assert.match(text.stdout, /^geo rules: may reach tcp\/22 \(DE is in geo\.allowOnly\)$/m);
  assert.match(text.stdout, /^protected: no$/m);
  assert.match(text.stdout, /^abuseipdb: abuseConfidenceScore=100, totalReports=7, .*\(2026-/m);
});

test('after `nft flush ruleset` the daemon sets the table up again and fills the geo sets again', async () => {
  const loadsBefore = logLines.filter((l) => l['event.action'] === 'geo-loaded').length;
  pair.must(pair.protectedNs, 'nft', ['flush', 'ruleset']);
  await until('the table restored and the geo sets loaded again', () => logLines.some((l) => l['event.action'] === 'table-restored') && logLines.filter((l) => l['event.action'] === 'geo-loaded').length > loadsBefore);
  assert.deepEqual(connect([[A.cn4, HOST4, 8080], [A.us4, HOST4, 22], [A.de4, HOST4, 22]]), ['dropped', 'dropped', 'open']);
});

test('a scan\'s incident carries the scanner\'s country and AS; lookup then shows the ban and the offence', async () => {
  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-S', A.us4, '-e', 'pw1', '-sS', '-p', '1000-1100', HOST4]);
  await until('the scan incident of the US address', () => logLines.some((l) => l['event.action'] === 'incident-scan' && l['source.ip'] === A.us4));
  const incident = logLines.find((l) => l['event.action'] === 'incident-scan' && l['source.ip'] === A.us4)!;
  assert.equal(incident['source.geo.country_iso_code'], 'US');
  assert.equal(incident['source.as.number'], 64505);
  assert.equal(incident['source.as.organization.name'], 'Lab Cloud US');
  await until('the ban', () => (JSON.parse(controlCli(socket, 'lookup', A.us4, '--json').stdout) as LookupView).bans.length === 1);
  const v = JSON.parse(controlCli(socket, 'lookup', A.us4, '--json').stdout) as LookupView;
  assert.equal(v.bans[0].target, A.us4);
  assert.equal(v.bans[0].origin, 'detection');
  assert.equal(v.offences?.count, 1);
  assert.equal(v.reputation.offences, 1);
  assert.ok(v.reputation.score > 0.9 && v.reputation.score <= 1, String(v.reputation.score));
});
