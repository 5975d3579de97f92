/**
 * What the detection engine promises, told as traffic: each test builds packets, runs them through the
 * real decoder and engine, and checks the incidents that come out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../config/load.js';
import type { DetectionSettings } from './settings.js';
import { Scenario, summary, T0 } from '../../test/support/scenario.js';

const SCANNER = '203.0.113.5';
const TARGET = '198.51.100.10';
const CLIENT = '192.0.2.10';

function settings(change: (s: DetectionSettings) => void): DetectionSettings {
  const s = structuredClone(defaultConfig('normal').detection) as DetectionSettings;
  change(s);
  return s;
}

test('a fast SYN scan is caught within a handful of refused ports (TRW), not after a fixed count', () => {
  const sc = new Scenario();
  const openedAfter: number[] = [];
  for (let i = 0; i < 20; i++) {
    sc.at(i * 10).synProbe(SCANNER, TARGET, 1000 + i, 'closed');
    if (sc.opened.length > 0 && openedAfter.length === 0) openedAfter.push(i + 1);
  }
  // Four refusals take the walk past ln(99); the minimum of five ports then decides.
  assert.deepEqual(openedAfter, [5]);
  assert.deepEqual(summary(sc.finish()), [`scan/syn ${SCANNER} -> ${TARGET}`]);
});

test('repeated successful connections to one open port count once, so they cannot pad a scan away', () => {
  const sc = new Scenario();
  for (let i = 0; i < 100; i++) sc.at(i).session(SCANNER, TARGET, 30000 + i, 80);
  let probes = 0;
  while (sc.opened.length === 0 && probes < 20) {
    sc.at(1000 + probes * 10).synProbe(SCANNER, TARGET, 2000 + probes, 'closed');
    probes++;
  }
  // One success (port 80 once) then five failures: ln 0.25 + 5 ln 4 > ln 99. Counting all hundred
  // successes would have needed seven failures (the walk is clamped at its benign bound).
  assert.equal(probes, 5);
});

test('a client of many open services is no scanner, however many ports it uses', () => {
  const sc = new Scenario();
  for (let port = 20000; port < 20060; port++) sc.at(port - 20000).session(CLIENT, TARGET, 40000 + port - 20000, port);
  assert.deepEqual(sc.finish(), []);
});

test('unanswered probes count as failures once the probe timeout passes', () => {
  const sc = new Scenario();
  for (let i = 0; i < 6; i++) sc.at(i * 100).synProbe(SCANNER, TARGET, 3000 + i, 'silent');
  assert.equal(sc.opened.length, 0, 'nothing is known before the timeout');
  sc.at(6_000).session(CLIENT, TARGET, 41000, 80); // any later packet moves packet time on
  assert.equal(sc.opened.length, 1);
  assert.equal(sc.engine.counter('outcomes.failure'), 6);
});

test('a live capture moves time on without packets, so silent probes still time out', () => {
  const sc = new Scenario();
  for (let i = 0; i < 6; i++) sc.at(i * 100).synProbe(SCANNER, TARGET, 3000 + i, 'silent');
  assert.equal(sc.opened.length, 0);
  sc.engine.advance(sc.engine.clockMs + 6_000); // no packet: the wall clock of a quiet host
  assert.equal(sc.opened.length, 1);
  sc.engine.advance(0);
  assert.ok(sc.engine.clockMs > 0, 'time never runs back');
});

test('a scanner that comes back after its ban is reported again (live), while analyze lists the incident once', () => {
  const sc = new Scenario();
  for (let i = 0; i < 10; i++) sc.at(i * 10).synProbe(SCANNER, TARGET, 1000 + i, 'closed');
  assert.equal(sc.opened.length, 1);
  // Banned: nothing arrives. An hour later the ban has lapsed and the scanner tries new ports.
  for (let i = 0; i < 5; i++) sc.at(3_600_000 + i * 10).synProbe(SCANNER, TARGET, 2000 + i, 'closed');
  assert.equal(sc.opened.length, 2, 'the open incident was handed to decide again');
  assert.equal(sc.opened[0], sc.opened[1]);
  assert.equal(sc.finish().length, 1);
});

test('a scanner that comes back to the very ports it tried before is reported again too (its ban lapsed or was lifted)', () => {
  const sc = new Scenario();
  for (let i = 0; i < 10; i++) sc.at(i * 10).synProbe(SCANNER, TARGET, 1000 + i, 'closed');
  assert.equal(sc.opened.length, 1);
  // A new run of the scanner: new source ports, the same destination ports.
  for (let i = 0; i < 5; i++) sc.at(600_000 + i * 10).synProbe(SCANNER, TARGET, 1000 + i, 'closed', 50000 + i);
  assert.equal(sc.opened.length, 2, 'the open incident was handed to decide again');
  assert.equal(sc.finish().length, 1);
});

test('an ICMP port unreachable resolves the UDP probe it quotes at once', () => {
  const sc = new Scenario();
  for (let i = 0; i < 5; i++) sc.at(i * 10).udp(SCANNER, TARGET, 5555, 100 + i).portUnreachable(TARGET, SCANNER, 5555, 100 + i);
  assert.equal(sc.engine.counter('outcomes.failure'), 5, 'resolved without waiting for the timeout');
  assert.deepEqual(summary(sc.opened.map((i) => i.toRecord())), [`scan/udp ${SCANNER} -> ${TARGET}`]);
});

test('DNS answers to many client ports are replies, not a UDP scan of the client', () => {
  const sc = new Scenario();
  for (let i = 0; i < 40; i++) sc.at(i * 50).udp(CLIENT, TARGET, 50000 + i, 53).udp(TARGET, CLIENT, 53, 50000 + i);
  assert.deepEqual(sc.finish(), []);
  assert.equal(sc.engine.counter('outcomes.success'), 1, 'one first contact: client to port 53');
});

test('a slow scan, one probe every 90-300 s for two hours, is found among thousands of one-off sources with bounded state', () => {
  const sc = new Scenario();
  let t = 0;
  let background = 0;
  for (let i = 0; i < 30; i++) {
    sc.at(t).synProbe(SCANNER, TARGET, 5000 + i, 'closed');
    // Between two probes, 400 different hosts each make one connection attempt nobody answers.
    const gap = 90_000 + ((i * 7919) % 210_000);
    for (let k = 0; k < 400; k++) {
      const host = `10.${(background >> 16) & 255}.${(background >> 8) & 255}.${background & 255}`;
      sc.at(t + (k * gap) / 400).tcp(host, TARGET, 40000, 443, 'S');
      background++;
    }
    t += gap;
  }
  const records = sc.finish();
  assert.deepEqual(summary(records), [`scan/syn ${SCANNER} -> ${TARGET}`]);
  assert.ok(Date.parse(records[0].last_seen) - Date.parse(records[0].first_seen) > 60 * 60_000, 'spans more than an hour');
  // 12,000 one-off sources came and went; their records lapse after lightSourceIdleMs (15 min), while
  // the scanner's record, holding evidence, lives for sourceIdleMs (6 h).
  const live = sc.engine.liveRecords();
  assert.ok(live < 12_000 / 2, `live records ${live}`);
});

test('a SYN flood from thousands of spoofed sources is one flood incident, and its members are not tracked', () => {
  const sc = new Scenario();
  for (let i = 0; i < 20_000; i++) {
    const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    sc.at(i / 5).tcp(src, TARGET, 1024 + (i % 60000), 80, 'S', { seq: i * 7 }); // 5,000 SYN/s
  }
  const records = sc.finish();
  assert.deepEqual(summary(records), [`flood/syn  -> ${TARGET}`]);
  assert.equal(records[0]['destination.port'], 'tcp/80');
  assert.ok(sc.engine.counter('flood.member_probes') > 10_000);
  // Only the first window's sources (before the flood was known) got records: a pair and a sweep each.
  assert.ok(sc.engine.liveRecords() <= 2 * 5_000, `live records ${sc.engine.liveRecords()}`);
});

test('a real SYN scanner of a flooded target is still a scan, beside the flood (it sends again; spoofed members do not)', () => {
  const sc = new Scenario();
  let port = 1;
  for (let i = 0; i < 20_000; i++) {
    const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    sc.at(i / 5).tcp(src, TARGET, 1024 + (i % 60000), 80, 'S', { seq: i * 7 }); // 5,000 SYN/s for 4 s
    // From the flood's second window on, an nmap-like scanner walks the ports, 100 a second.
    if (i >= 6_000 && i % 50 === 0 && port <= 200) sc.at(i / 5 + 0.1).synProbe(SCANNER, TARGET, port++, port === 23 ? 'open' : 'closed', 41220);
  }
  const records = sc.finish();
  assert.deepEqual(summary(records).sort(), [`flood/syn  -> ${TARGET}`, `scan/syn ${SCANNER} -> ${TARGET}`]);
  const scan = records.find((r) => r.kind === 'scan')!;
  assert.ok(scan.ports!.count >= 190, `ports ${scan.ports!.count}`);
  assert.ok(sc.engine.counter('flood.member_probes') > 10_000, 'the spoofed members are still not tracked');
});

test('a flood that stops at once is reported when the live clock moves past its window, with no further packet', () => {
  const sc = new Scenario();
  for (let i = 0; i < 1_500; i++) {
    const src = `10.9.${(i >> 8) & 255}.${i & 255}`;
    sc.at(i / 3).tcp(src, TARGET, 1024 + i, 80, 'S', { seq: i * 7 }); // 3,000 SYN/s for 0.5 s, then silence
  }
  assert.deepEqual(sc.opened.filter((i) => i.toRecord().kind === 'flood'), [], 'nothing closed the window yet');
  sc.engine.advance(T0 + 600);
  assert.deepEqual(sc.opened.filter((i) => i.toRecord().kind === 'flood'), [], 'the window is still open');
  sc.engine.advance(T0 + 1_500);
  assert.deepEqual(summary(sc.opened.map((i) => i.toRecord()).filter((r) => r.kind === 'flood')), [`flood/syn  -> ${TARGET}`]);
});

test('a busy server whose clients complete their handshakes is not flooded, whatever the SYN rate', () => {
  const sc = new Scenario();
  for (let i = 0; i < 6_000; i++) {
    const client = `10.9.${(i >> 8) & 255}.${i & 255}`;
    sc.at(i / 3).session(client, TARGET, 30000 + (i % 30000), 443); // 3,000 connections/s
  }
  assert.deepEqual(sc.finish(), []);
});

test('a single-source UDP flood names its source', () => {
  const sc = new Scenario();
  for (let i = 0; i < 8_000; i++) sc.at(i / 4).udp(SCANNER, TARGET, 4444, 53); // 4,000/s, one flow, never answered
  const records = sc.finish();
  assert.deepEqual(summary(records), [`flood/udp ${SCANNER} -> ${TARGET}`]);
});

test('identical probes from several sources at once are one decoy scan naming every candidate', () => {
  const sc = new Scenario();
  const sources = ['203.0.113.40', '203.0.113.41', '203.0.113.42', '203.0.113.43'];
  for (let port = 1; port <= 30; port++) {
    for (const [k, src] of sources.entries()) {
      sc.at(port * 20 + k * 0.2).tcp(src, TARGET, 61000, port, 'S', { seq: 424242, id: 777 });
    }
    for (const src of sources) sc.at(port * 20 + 2).tcp(TARGET, src, port, 61000, 'RA', { seq: 0, ack: 424243 });
  }
  const records = sc.finish();
  assert.deepEqual(summary(records), [`decoy-scan/syn ${[...sources].sort().join(',')} -> ${TARGET}`]);
});

test('a flood tool with fixed ports and sequence numbers is not mistaken for decoys', () => {
  const sc = new Scenario();
  for (let i = 0; i < 3_000; i++) sc.at(i / 2).tcp(`10.7.${(i >> 8) & 255}.${i & 255}`, TARGET, 1234, 80, 'S', { seq: 1 });
  const records = sc.finish();
  assert.deepEqual(summary(records), [`flood/syn  -> ${TARGET}`]);
  assert.ok(sc.engine.counter('decoy.groups_discarded') >= 1);
});

test('several scanners of the same ports are separate scans, not one distributed scan', () => {
  const sc = new Scenario();
  const scanners = ['203.0.113.60', '203.0.113.61', '203.0.113.62', '203.0.113.63'];
  for (const [k, src] of scanners.entries()) {
    for (let port = 1; port <= 40; port++) sc.at(k * 5_000 + port * 10).synProbe(src, TARGET, port, 'closed', 50000 + port);
  }
  assert.deepEqual(summary(sc.finish()).sort(), scanners.map((s) => `scan/syn ${s} -> ${TARGET}`).sort());
});

test('independent scanners of one host at the same time, each in its own random order, are separate scans', () => {
  // Early on their ports barely overlap, like slices of one scan; by the end they overlap entirely.
  const sc = new Scenario();
  const scanners = ['203.0.113.80', '203.0.113.81', '203.0.113.82'];
  const orders = scanners.map((_, k) => Array.from({ length: 300 }, (_, i) => 1 + ((i * [7, 11, 13][k] + 13 * k) % 300))); // permutations of 1..300
  for (let i = 0; i < 300; i++) {
    for (const [k, src] of scanners.entries()) sc.at(i * 30 + k * 10).synProbe(src, TARGET, orders[k][i], 'closed', 50000 + i);
  }
  assert.deepEqual(summary(sc.finish()).sort(), scanners.map((s) => `scan/syn ${s} -> ${TARGET}`).sort());
});

test('disjoint slices of a port range from many sources are one distributed scan', () => {
  const sc = new Scenario();
  const members = Array.from({ length: 6 }, (_, k) => `203.0.113.${70 + k}`);
  for (let port = 1; port <= 36; port++) sc.at(port * 500).synProbe(members[port % 6], TARGET, port, 'closed');
  const records = sc.finish();
  assert.deepEqual(summary(records), [`distributed-scan/syn ${[...members].sort().join(',')} -> ${TARGET}`]);
});

test('a horizontal sweep of one port across many hosts is a sweep, not a scan', () => {
  const sc = new Scenario();
  for (let h = 1; h <= 60; h++) sc.at(h * 100).synProbe(SCANNER, `198.51.100.${h}`, 22, h % 10 === 0 ? 'closed' : 'silent');
  const records = sc.finish();
  assert.deepEqual(summary(records), [`sweep/syn ${SCANNER} -> tcp/22`]);
  assert.equal(records[0].hosts?.count, 60);
});

test('a raw SYN scan and an OS connect() scan are told apart by what the prober does with open ports', () => {
  const syn = new Scenario();
  const connect = new Scenario();
  for (let port = 1; port <= 20; port++) {
    if (port % 5 === 0) {
      syn.at(port).synProbe(SCANNER, TARGET, port, 'open');
      connect.at(port).session(SCANNER, TARGET, 40000 + port, port);
    } else {
      syn.at(port).synProbe(SCANNER, TARGET, port, 'closed');
      connect.at(port).synProbe(SCANNER, TARGET, port, 'closed');
    }
  }
  assert.equal(syn.finish()[0].class, 'syn');
  assert.equal(connect.finish()[0].class, 'connect');
});

test('every limit is a setting, and hitting it is counted', () => {
  // 1,024 slots per record table (the smallest size) against 5,000 sources with two ports each.
  const sc = new Scenario(settings((s) => (s.limits.maxRecords = 1_000)));
  for (let i = 0; i < 5_000; i++) {
    const src = `10.8.${(i >> 8) & 255}.${i & 255}`;
    sc.at(i * 10).tcp(src, TARGET, 40000, 80, 'S').tcp(src, TARGET, 40001, 81, 'S'); // 200 SYN/s: no flood
  }
  sc.finish();
  assert.ok(sc.engine.liveRecords() <= 2 * 1_024);
  assert.ok(sc.engine.counter('limit.records') >= 5_000 - 1_024, `counted ${sc.engine.counter('limit.records')}`);
});

test('evidence and remembered items have global limits; past them records are only counted, and each refusal is counted', () => {
  const sc = new Scenario(
    settings((s) => {
      s.limits.maxEvidenceRecords = 50;
      s.limits.maxRememberedItems = 300;
    }),
  );
  // 200 sources each get two ports of one server refused (a failure among two ports needs evidence),
  // then one scanner comes.
  for (let i = 0; i < 200; i++) {
    const source = `10.6.0.${i + 1}`;
    sc.at(i * 20).synProbe(source, TARGET, 8080, 'closed').synProbe(source, TARGET, 8081, 'closed');
  }
  for (let port = 1; port <= 400; port++) sc.at(10_000 + port).synProbe(SCANNER, '198.51.100.99', port, 'closed');
  const records = sc.finish();
  assert.ok(sc.engine.counter('limit.evidence') >= 150, `evidence refusals ${sc.engine.counter('limit.evidence')}`);
  // The scanner got no evidence record (all 50 were taken): detection failed open, and said so.
  assert.deepEqual(records, []);
  const roomy = new Scenario(settings((s) => (s.limits.maxRememberedItems = 100)));
  for (let port = 1; port <= 400; port++) roomy.at(port).synProbe(SCANNER, '198.51.100.99', port, 'closed');
  const [scan] = roomy.finish();
  assert.equal(scan.ports?.count, 400, 'items past the budget are still counted');
  assert.ok(roomy.engine.counter('limit.items') >= 300);
});

test('evidence of expired records is given back, so a long run never creeps up to the evidence limit', () => {
  const sc = new Scenario(settings((s) => (s.limits.maxEvidenceRecords = 20)));
  // Every 7 hours (past sourceIdleMs) a new wave of 20 sources gets two ports refused each: each wave
  // needs all 20 evidence records, which the previous wave's expired records must have given back.
  for (let wave = 0; wave < 5; wave++) {
    for (let i = 0; i < 20; i++) {
      const source = `10.4.${wave}.${i + 1}`;
      sc.at(wave * 7 * 3_600_000 + i * 50).synProbe(source, TARGET, 8080, 'closed').synProbe(source, TARGET, 8081, 'closed');
    }
  }
  sc.finish();
  assert.equal(sc.engine.counter('limit.evidence'), 0);
});

test('clients of a few services of a server, all answered, need no evidence records at all', () => {
  const sc = new Scenario(settings((s) => (s.limits.maxEvidenceRecords = 10)));
  for (let i = 0; i < 1_000; i++) {
    const client = `10.5.${i >> 8}.${i & 255}`;
    for (const [k, port] of [80, 443, 993].entries()) sc.at(i * 10 + k).session(client, TARGET, 30000 + k, port);
  }
  assert.deepEqual(sc.finish(), []);
  assert.equal(sc.engine.counter('limit.evidence'), 0);
});

test('replaying the same packets gives the same incidents (packet time, not the wall clock)', () => {
  const run = () => {
    const sc = new Scenario();
    for (let i = 0; i < 50; i++) sc.at(i * 37).synProbe(SCANNER, TARGET, 7000 + i, i % 3 === 0 ? 'silent' : 'closed');
    return JSON.stringify(sc.finish());
  };
  assert.equal(run(), run());
});
