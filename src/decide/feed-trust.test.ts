/**
 * `decide.feedTrust` end to end below the kernel: the setting as the config parses it, feed trust's
 * incident from a real decoded probe, and the decision policy banning its source at the first probe,
 * while the lockout guard still refuses a protected address whatever the feeds say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FeedTrust } from '../intel/feed-trust.js';
import type { IncidentRecord } from '../model/incident.js';
import { IpProtocol, TcpFlag } from '../model/packet.js';
import { AddressSet } from '../net/address-set.js';
import { checkSettings } from '../model/settings-kit.js';
import { decodeOne, ethernet, EtherType, ipv4, tcp } from '../../test/support/frames.js';
import { FeedList } from '../../test/support/feed-list.js';
import { DecisionPolicy } from './policy.js';
import { decideSchema, decideSettings } from './settings.js';

function synFrom(src: string) {
  const { packet } = decodeOne(ethernet(EtherType.IPV4, ipv4({ src, dst: '10.88.0.1', protocol: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: 22, flags: TcpFlag.SYN }))));
  packet.tsUs = Date.parse('2026-12-06T10:00:00Z') * 1000;
  return packet;
}

test('decide.feedTrust: off by default, { minWeight, probes } accepted, nonsense refused naming the field', () => {
  assert.equal(decideSettings.defaults('normal').feedTrust, null);
  const ok = checkSettings(decideSchema, { ...decideSettings.defaults('normal'), feedTrust: { minWeight: 1, probes: 1 } }, 'decide');
  assert.ok(ok.ok);
  const bad = checkSettings(decideSchema, { ...decideSettings.defaults('normal'), feedTrust: { minWeight: 1, probes: 0 } }, 'decide');
  assert.deepEqual(bad, { ok: false, message: 'decide.feedTrust.probes: must be a whole number from 1 to 1000, got 0' });
});

test('a listed scanner is banned at its first probe and its incident names the feeds; a protected listed address is not', () => {
  const feeds = new FeedList().add('et-compromised', ['198.51.100.7', '192.0.2.22'], { weight: 1 });
  const guarded = new AddressSet();
  guarded.add('192.0.2.22', 'ssh peer');
  const policy = DecisionPolicy.forProfile('normal', {
    guard: { protects: (t) => { const m = guarded.overlapping(t); return m === null ? null : { reason: m.reason, network: m.network }; } },
    log: () => {},
  });
  const decided: { record: IncidentRecord; action: string; targets: string[]; reason: string }[] = [];
  const trust = new FeedTrust({ minWeight: 1, probes: 1 }, feeds, (i) => {
    const record = i.toRecord();
    const d = policy.decide(record, Date.now());
    decided.push({ record, action: d.action, targets: d.targets, reason: d.reason });
  });
  trust.onPacket(synFrom('198.51.100.7'));
  trust.onPacket(synFrom('192.0.2.22'));
  assert.equal(decided.length, 2);
  assert.equal(decided[0].action, 'ban');
  assert.deepEqual(decided[0].targets, ['198.51.100.7']);
  assert.deepEqual(decided[0].record['threat.feeds'], ['et-compromised']);
  assert.equal(decided[1].action, 'alert');
  assert.deepEqual(decided[1].targets, []);
  assert.match(decided[1].reason, /ssh peer/);
});
