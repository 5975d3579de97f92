/**
 * Idle scans (nmap -sI) told as traffic: probes carry a zombie's address; the zombie resets the
 * target's SYN-ACKs from its own stack, with one global, incrementing IP ID counter. The incident names
 * the zombie and no source, so decide never bans the bystander.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from '../../test/support/scenario.js';

const ZOMBIE = '192.0.2.20';
const TARGET = '198.51.100.10';
const OPEN = new Set([22, 25, 53, 80, 443, 8080]);

function idleScan(resetId: (n: number) => number) {
  const sc = new Scenario();
  let resets = 0;
  for (let port = 1; port <= 100; port++) {
    const t = port * 30;
    sc.at(t).tcp(ZOMBIE, TARGET, 80, port, 'S', { seq: 1947179171, id: (port * 7919) & 0xffff });
    if (OPEN.has(port)) {
      sc.at(t + 1).tcp(TARGET, ZOMBIE, port, 80, 'SA', { seq: 5000, ack: 1947179172 });
      sc.at(t + 2).tcp(ZOMBIE, TARGET, 80, port, 'R', { seq: 1947179172, id: resetId(resets++) });
    } else sc.at(t + 1).tcp(TARGET, ZOMBIE, port, 80, 'RA', { seq: 0, ack: 1947179172 });
  }
  return sc.finish();
}

test('a scan whose source resets SYN-ACKs with an incrementing IP ID is an idle scan naming the zombie, and no source', () => {
  const records = idleScan((n) => 4242 + n * 3); // the attacker's own probes of the zombie take IDs in between
  assert.equal(records.length, 1);
  const r = records[0];
  assert.equal(r.kind, 'scan');
  assert.equal(r['source.ip'], undefined, 'the zombie is not named as the source: it would be banned');
  assert.equal(r.evidence.zombie, ZOMBIE);
  assert.equal(r.evidence.idle_scan, true);
});

test('a scanner whose own kernel resets with IP ID 0 (Linux) is an ordinary scan of its source', () => {
  const records = idleScan(() => 0);
  assert.equal(records.length, 1);
  assert.equal(records[0]['source.ip'], ZOMBIE);
  assert.equal(records[0].evidence.zombie, undefined);
});

test('resets with random IP IDs (per-destination counters) are no zombie', () => {
  const records = idleScan((n) => (n * 40503 + 17) & 0xffff);
  assert.equal(records[0]['source.ip'], ZOMBIE);
  assert.equal(records[0].evidence.zombie, undefined);
});
