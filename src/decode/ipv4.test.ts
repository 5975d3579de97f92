import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProtocol, TcpFlag } from '../model/packet.js';
import { DecodeEvent, type DecodeEventName } from './events.js';
import { formatIPv4 } from '../net/address.js';
import { EtherType, concat, decodeOne, ethernet, ipv4, tcp, udp, type Ipv4Spec } from '../../test/support/frames.js';

const synSegment = tcp({ srcPort: 33000, dstPort: 443, flags: TcpFlag.SYN, seq: 1 });

test('ipv4: header fields, addresses unsigned', () => {
  const frame = ethernet(
    EtherType.IPV4,
    ipv4({ src: '203.0.113.200', dst: '10.0.0.1', protocol: IpProtocol.TCP, ttl: 37, id: 0xbeef, dontFragment: true }, synSegment),
  );
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.ipVersion, 4);
  assert.equal(packet.src4, 0xcb0071c8); // above 2^31: must be positive
  assert.equal(formatIPv4(packet.src4), '203.0.113.200');
  assert.equal(formatIPv4(packet.dst4), '10.0.0.1');
  assert.equal(packet.ttl, 37);
  assert.equal(packet.ipId, 0xbeef);
  assert.equal(packet.protocol, IpProtocol.TCP);
  assert.equal(packet.ipLength, 40);
  assert.equal(packet.fragmented, false, 'DF alone is not fragmentation');
  assert.equal(packet.laterFragment, false);
  assert.equal(packet.src6Offset, -1);
});

test('ipv4: options are skipped and the transport header found after them', () => {
  // Record route (7 bytes, room for one address) + NOP, padded to 8: IHL 7.
  const options = [7, 7, 4, 0, 0, 0, 0, 1];
  const frame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP, options }, synSegment));
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.srcPort, 33000);
  assert.equal(packet.dstPort, 443);
  assert.equal(packet.tcpFlags, TcpFlag.SYN);
  assert.equal(packet.ipLength, 28 + 20);
  assert.equal(packet.payloadOffset, 14 + 28 + 20);
});

test('ipv4: a later fragment has no transport header and is valid', () => {
  const frame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP, fragmentOffset: 185, id: 77 }, new Array<number>(40).fill(0xee)));
  const { packet, stats } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.laterFragment, true);
  assert.equal(packet.fragmented, false);
  assert.equal(packet.protocol, IpProtocol.UDP);
  assert.equal(packet.ipId, 77);
  assert.equal(packet.srcPort, 0, 'bytes of a later fragment are not ports');
  assert.equal(stats.decoded, 1);
});

test('ipv4: the last fragment (MF clear, offset > 0) is a later fragment too', () => {
  const frame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP, fragmentOffset: 1, moreFragments: false }, synSegment));
  assert.equal(decodeOne(frame).packet.laterFragment, true);
});

test('ipv4: a first fragment (MF, offset 0) is fragmented and its transport decoded', () => {
  const tcpFrame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP, moreFragments: true }, synSegment));
  const { packet } = decodeOne(tcpFrame);
  assert.equal(packet.valid, true);
  assert.equal(packet.fragmented, true);
  assert.equal(packet.laterFragment, false);
  assert.equal(packet.dstPort, 443);
});

test('ipv4: a first UDP fragment may carry the UDP length of the whole datagram', () => {
  // A 1,200-byte DNS answer split at 24 bytes of UDP: the UDP length is larger than this packet.
  const frame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP, moreFragments: true }, udp({ srcPort: 53, dstPort: 40001, length: 1200 }, new Array<number>(16).fill(0))));
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.fragmented, true);
  assert.equal(packet.srcPort, 53);
  assert.equal(packet.payloadLength, 16);
});

test('ipv4: Ethernet padding after a short packet is not payload', () => {
  // A 40-byte IPv4/TCP SYN is padded to the 46-byte Ethernet minimum.
  const frame = concat(ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, synSegment)), [0, 0, 0, 0, 0, 0]);
  assert.equal(frame.length, 60);
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.ipLength, 40);
  assert.equal(packet.payloadLength, 0);
  const udpFrame = concat(ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 9, dstPort: 9 }, [1, 2]))), new Array<number>(16).fill(0));
  const { packet: u } = decodeOne(udpFrame);
  assert.equal(u.valid, true);
  assert.equal(u.payloadLength, 2);
});

test('ipv4: a snapped packet (total length beyond the capture) decodes what is there', () => {
  const full = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, tcp({ srcPort: 80, dstPort: 5000, flags: TcpFlag.ACK | TcpFlag.PSH }, new Array<number>(1000).fill(0x41))));
  const snapped = full.subarray(0, 96);
  const { packet, stats } = decodeOne(snapped);
  assert.equal(packet.valid, true);
  assert.equal(packet.ipLength, 1040);
  assert.equal(packet.payloadOffset, 54);
  assert.equal(packet.payloadLength, 96 - 54);
  assert.deepEqual(stats.toJSON(), {});
});

const malformed: [string, Ipv4Spec, number, DecodeEventName][] = [
  ['version 5', { protocol: 6, version: 5 }, Infinity, 'ipv4.bad_version'],
  ['IHL 4', { protocol: 6, ihl: 4 }, Infinity, 'ipv4.bad_header_length'],
  ['IHL 0', { protocol: 6, ihl: 0 }, Infinity, 'ipv4.bad_header_length'],
  ['IHL 15 beyond the captured bytes', { protocol: 6, ihl: 15 }, 14 + 40, 'ipv4.truncated'],
  ['options cut by the capture', { protocol: 6, options: [1, 1, 1, 1, 1, 1, 1, 1] }, 14 + 24, 'ipv4.truncated'],
  ['total length below the header length', { protocol: 6, totalLength: 19 }, Infinity, 'ipv4.bad_total_length'],
  ['total length 0 (segmentation offload)', { protocol: 6, totalLength: 0 }, Infinity, 'ipv4.bad_total_length'],
  ['total length below IHL×4 with options', { protocol: 6, options: [1, 1, 1, 1], totalLength: 20 }, Infinity, 'ipv4.bad_total_length'],
  ['19 bytes of header', { protocol: 6 }, 14 + 19, 'ipv4.truncated'],
  ['no header at all', { protocol: 6 }, 14, 'ipv4.truncated'],
];

for (const [name, spec, cut, event] of malformed) {
  test(`ipv4: ${name} → ${event}`, () => {
    const frame = ethernet(EtherType.IPV4, ipv4(spec, synSegment));
    const { packet, stats } = decodeOne(frame.subarray(0, Math.min(cut, frame.length)));
    assert.equal(packet.valid, false);
    assert.equal(packet.event, DecodeEvent[event]);
    assert.equal(packet.ipVersion, 0, 'an unusable header leaves the IP layer at its reset values');
    assert.equal(stats.counts[DecodeEvent[event]], 1);
  });
}

test('ipv4: protocols without a decoder are valid with the protocol set', () => {
  for (const protocol of [47 /* GRE */, 50 /* ESP */, 132 /* SCTP */, 58 /* ICMPv6 in IPv4 is not decoded */]) {
    const { packet } = decodeOne(ethernet(EtherType.IPV4, ipv4({ protocol }, [1, 2, 3, 4])));
    assert.equal(packet.valid, true);
    assert.equal(packet.protocol, protocol);
    assert.equal(packet.srcPort, 0);
  }
});
