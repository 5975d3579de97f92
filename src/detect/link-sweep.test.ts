import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeIncident } from '../model/decision.js';
import { Scenario } from '../../test/support/scenario.js';

const SWEEPER = '10.66.0.10';
const HOST = '10.66.0.2';

/** `sender` asks the link for `count` addresses of 10.66.1.0/24, one every `gapMs`; `answered` ones reply. */
function askMany(s: Scenario, sender: string, count: number, gapMs: number, answered = false): Scenario {
  for (let i = 1; i <= count; i++) {
    s.at(s.nowMs + gapMs).arp({ op: 1, sender, target: `10.66.1.${i}` });
    if (answered) s.arp({ op: 2, sender: `10.66.1.${i}`, target: sender });
  }
  return s;
}

test('an ARP who-has sweep of a subnet (nmap -sn on a LAN) is one sweep of class arp, naming the hosts asked for', () => {
  const s = askMany(new Scenario(), SWEEPER, 60, 20);
  const records = s.finish();
  assert.equal(records.length, 1);
  const r = records[0];
  assert.equal(r.kind, 'sweep');
  assert.equal(r.class, 'arp');
  assert.equal(r['source.ip'], SWEEPER);
  assert.equal(r.hosts?.count, 60);
  assert.equal(r.probes, 60);
  assert.equal(r.hosts?.sample[0], '10.66.1.1');
  assert.match(describeIncident(r), /^ARP sweep from 10\.66\.0\.10 of the link: 60 hosts \(10\.66\.1\.1, .*60 requests, trigger: distinct in 1m$/);
});

test('the sweep opens once the answers had their grace second, while the sweep goes on (live: banned during it)', () => {
  const s = askMany(new Scenario(), SWEEPER, 30, 20);
  assert.equal(s.opened.length, 0, 'at the 30th address the answers are still awaited');
  askMany(s, SWEEPER, 60, 20);
  assert.equal(s.opened.length, 1);
  assert.equal(s.opened[0].toRecord().class, 'arp');
});

test('a host resolving neighbours that answer is no sweep (a router or server starting to talk to its LAN)', () => {
  assert.deepEqual(askMany(new Scenario(), HOST, 60, 20, true).finish(), []);
});

test('gratuitous ARP, RFC 5227 probes from 0.0.0.0 (DHCP clients), unicast cache refreshes and a short run are no sweep', () => {
  const s = new Scenario();
  for (let i = 0; i < 50; i++) s.at(i * 10).arp({ op: 1, sender: SWEEPER, target: SWEEPER });
  for (let i = 1; i <= 50; i++) s.at(600 + i * 10).arp({ op: 1, sender: '0.0.0.0', target: `10.66.1.${i}` });
  for (let round = 0; round < 3; round++) {
    for (let i = 1; i <= 50; i++) s.at(2000 + round * 5000 + i * 10).arp({ op: 1, sender: HOST, target: `10.66.1.${i}` }, true);
  }
  askMany(s.at(20_000), '10.66.0.30', 20, 20);
  assert.deepEqual(s.finish(), []);
});

test('a neighbour-solicitation sweep (nmap -6 -sn) is a sweep of class nd; duplicate-address checks and answered ones are not', () => {
  const s = new Scenario();
  for (let i = 1; i <= 60; i++) s.at(i * 20).neighbour(135, '2001:db8::10', `2001:db8::${(i + 0x100).toString(16)}`);
  // Duplicate-address detection comes from :: and asks nothing of anyone else.
  for (let i = 1; i <= 60; i++) s.at(2000 + i * 20).neighbour(135, '::', `2001:db8::${(i + 0x200).toString(16)}`);
  // A host resolving neighbours that answer.
  for (let i = 1; i <= 60; i++) {
    const target = `2001:db8::${(i + 0x300).toString(16)}`;
    s.at(4000 + i * 20).neighbour(135, '2001:db8::2', target).neighbour(136, target, target, '2001:db8::2');
  }
  const records = s.finish();
  assert.equal(records.length, 1, JSON.stringify(records));
  assert.equal(records[0].class, 'nd');
  assert.equal(records[0]['source.ip'], '2001:db8::10');
  assert.equal(records[0].hosts?.count, 60);
});

test('ARP does not disturb the IP detectors: a SYN scan beside an ARP sweep is still its own scan', () => {
  const s = new Scenario();
  for (let p = 1; p <= 30; p++) s.at(p * 10).synProbe(SWEEPER, HOST, p, 'closed');
  askMany(s, SWEEPER, 60, 20);
  const kinds = s.finish().map((r) => `${r.kind}/${r.class}`).sort();
  assert.deepEqual(kinds, ['scan/syn', 'sweep/arp']);
});
