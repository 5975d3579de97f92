import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkType } from '../model/packet.js';
import { formatIPv4 } from '../net/address.js';
import { arpFrame, arpPacket, decodeOne, ethernet, EtherType, MAC_DST } from '../../test/support/frames.js';
import { DecodeEvent } from './events.js';

test('arp: a broadcast who-has gives the operation and both protocol addresses, and no IP layer', () => {
  const { packet, stats } = decodeOne(arpFrame({ op: 1, sender: '10.66.0.10', target: '10.66.0.77' }));
  assert.equal(packet.valid, true);
  assert.equal(packet.ipVersion, 0);
  assert.equal(packet.arpOp, 1);
  assert.equal(packet.arpUnicast, false);
  assert.equal(formatIPv4(packet.src4), '10.66.0.10');
  assert.equal(formatIPv4(packet.dst4), '10.66.0.77');
  assert.deepEqual(stats.toJSON(), { 'link.not_ip': 1 });
});

test('arp: a request to one station (a cache refresh) and a reply are told apart from a broadcast', () => {
  const refresh = decodeOne(arpFrame({ op: 1, sender: '10.66.0.2', target: '10.66.0.20' }, MAC_DST)).packet;
  assert.equal(refresh.arpOp, 1);
  assert.equal(refresh.arpUnicast, true);
  const reply = decodeOne(arpFrame({ op: 2, sender: '10.66.0.20', target: '10.66.0.2' })).packet;
  assert.equal(reply.arpOp, 2);
  assert.equal(formatIPv4(reply.src4), '10.66.0.20');
});

test('arp: a bare ARP packet, as NFLOG gives the arp family, decodes under the private link type', () => {
  const { packet } = decodeOne(arpPacket({ op: 1, sender: '192.0.2.1', target: '192.0.2.9' }), LinkType.ARP);
  assert.equal(packet.valid, true);
  assert.equal(packet.arpOp, 1);
  assert.equal(formatIPv4(packet.dst4), '192.0.2.9');
  // No Ethernet header: nothing says whether it was broadcast, so it counts as one.
  assert.equal(packet.arpUnicast, false);
});

test('arp: cut short is arp.truncated; another hardware or protocol type is a plain non-IP frame', () => {
  const cut = decodeOne(ethernet(EtherType.ARP, arpPacket({ op: 1, sender: '10.0.0.1', target: '10.0.0.2' }).subarray(0, 20))).packet;
  assert.equal(cut.valid, false);
  assert.equal(cut.event, DecodeEvent['arp.truncated']);
  const tiny = decodeOne(ethernet(EtherType.ARP, [0, 1, 8])).packet;
  assert.equal(tiny.event, DecodeEvent['arp.truncated']);
  const other = arpPacket({ op: 1, sender: '10.0.0.1', target: '10.0.0.2' });
  other[1] = 6; // IEEE 802 hardware
  const { packet, stats } = decodeOne(ethernet(EtherType.ARP, other));
  assert.equal(packet.valid, true);
  assert.equal(packet.arpOp, 0);
  assert.equal(stats.malformed, 0);
});
