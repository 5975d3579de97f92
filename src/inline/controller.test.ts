import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProtocol } from '../model/packet.js';
import { EtherType, decodeOne, ethernet, ipv4, ipv6, tcp } from '../../test/support/frames.js';
import { AddressIndexedMap } from '../net/address-map.js';
import { sourceBanned } from './controller.js';

function syn(src: string) {
  const seg = tcp({ srcPort: 40000, dstPort: 22, flags: 0x02 });
  const frame = src.includes(':') ? ethernet(EtherType.IPV6, ipv6({ src, nextHeader: IpProtocol.TCP }, seg)) : ethernet(EtherType.IPV4, ipv4({ src, protocol: IpProtocol.TCP }, seg));
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  return packet;
}

test('inline ban check: sources inside banned prefixes (IPv6 /64, IPv4 /24) and exact addresses are banned; others not', () => {
  const bans = new AddressIndexedMap<string>();
  bans.set('2001:db8:1:2::/64', 'prefix');
  bans.set('198.51.100.0/24', 'widened');
  bans.set('192.0.2.7', 'one');
  assert.equal(sourceBanned(bans.addresses, syn('2001:db8:1:2:aaaa:bbbb:cccc:dddd')), true);
  assert.equal(sourceBanned(bans.addresses, syn('2001:db8:1:3::1')), false);
  assert.equal(sourceBanned(bans.addresses, syn('198.51.100.200')), true);
  assert.equal(sourceBanned(bans.addresses, syn('198.51.101.1')), false);
  assert.equal(sourceBanned(bans.addresses, syn('192.0.2.7')), true);
  assert.equal(sourceBanned(bans.addresses, syn('192.0.2.8')), false);
  // Lifting a ban lifts it inline too; clear empties the index.
  assert.equal(bans.delete('198.51.100.0/24'), true);
  assert.equal(sourceBanned(bans.addresses, syn('198.51.100.200')), false);
  bans.clear();
  assert.equal(sourceBanned(bans.addresses, syn('192.0.2.7')), false);
  assert.equal(bans.addresses.size, 0);
});

test('ban index: two spellings of one network share an entry until both are gone; keys that are not addresses are kept unindexed', () => {
  const bans = new AddressIndexedMap<number>();
  bans.set('2001:DB8::1', 1);
  bans.set('2001:db8::1', 2);
  bans.set('2001:db8::1', 3); // same key again: no double count
  bans.set('not-an-address', 4);
  assert.equal(bans.size, 3);
  assert.equal(bans.addresses.size, 1);
  bans.delete('2001:DB8::1');
  assert.equal(sourceBanned(bans.addresses, syn('2001:db8::1')), true, 'the other spelling still bans it');
  bans.delete('2001:db8::1');
  assert.equal(sourceBanned(bans.addresses, syn('2001:db8::1')), false);
  assert.equal(bans.get('not-an-address'), 4);
});
