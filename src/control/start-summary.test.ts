/** The start log's lines about what is watched and what is protected. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protectingFields, protectingText, watchingText } from './start-summary.js';

test('watching names the interfaces and where they came from, or says every interface is watched', () => {
  assert.equal(watchingText({ method: 'nflog', interfaces: ['eth0'], from: 'default route' }), "eth0 (the default route's), with nflog");
  assert.equal(watchingText({ method: 'pcap', interfaces: ['eth1', 'eth2'], from: 'config' }), 'eth1, eth2 (as configured), with pcap');
  assert.match(watchingText({ method: 'nflog', interfaces: [], from: 'no default route' }), /^every interface but loopback, with nflog \(there is no default route; name interfaces with --interface/);
});

test('protecting counts each kind with a sample of at most three', () => {
  const g = { ownAddresses: ['10.0.0.2', '10.0.1.2', '10.0.2.2', '10.0.3.2'], gateways: ['10.0.0.1'], resolvers: [], sshPeers: ['192.0.2.5', '192.0.2.6'], allowlist: 1 };
  assert.equal(protectingText(g), 'loopback, 4 own addresses (10.0.0.2, 10.0.1.2, 10.0.2.2, …), 1 default gateway (10.0.0.1), 0 resolvers, 2 SSH peers (192.0.2.5, 192.0.2.6), 1 allowlist entry');
  const f = protectingFields(g);
  assert.deepEqual([f['guard.own'], f['guard.gateways'], f['guard.resolvers'], f['guard.ssh_peers'], f['guard.allowlist']], [4, 1, 0, 2, 1]);
});
