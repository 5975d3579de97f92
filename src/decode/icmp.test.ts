import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProtocol, TcpFlag } from '../model/packet.js';
import { DecodeEvent } from './events.js';
import { formatIPv4, formatIPv6, hashIPv6 } from '../net/address.js';
import {
  EtherType, concat, decodeOne, ethernet, fragmentHeader, icmp, ipv4, ipv6, optionsHeader, tcp, udp,
} from '../../test/support/frames.js';

const SCANNER = '203.0.113.66';
const TARGET = '192.0.2.10';
const SCANNER6 = '2001:db8:bad::66';
const TARGET6 = '2001:db8:1::10';

/** The target answers the scanner with an ICMP error quoting the scanner's probe. */
function icmpError(type: number, code: number, quoted: Buffer): Buffer {
  return ethernet(EtherType.IPV4, ipv4({ src: TARGET, dst: SCANNER, protocol: IpProtocol.ICMP }, icmp(type, code, 0, quoted)));
}

function icmpv6Error(type: number, code: number, quoted: Buffer): Buffer {
  return ethernet(EtherType.IPV6, ipv6({ src: TARGET6, dst: SCANNER6, nextHeader: IpProtocol.ICMPV6 }, icmp(type, code, 0, quoted)));
}

const udpProbe = ipv4({ src: SCANNER, dst: TARGET, protocol: IpProtocol.UDP }, udp({ srcPort: 61000, dstPort: 161 }, [0x30, 0x26]));
const tcpProbe = ipv4({ src: SCANNER, dst: TARGET, protocol: IpProtocol.TCP }, tcp({ srcPort: 61001, dstPort: 25, flags: TcpFlag.SYN }));
const udpProbe6 = ipv6({ src: SCANNER6, dst: TARGET6, nextHeader: IpProtocol.UDP }, udp({ srcPort: 61002, dstPort: 53 }, [1, 2, 3, 4]));

test('icmp: echo request and reply carry identifier and sequence as one 32-bit word', () => {
  for (const type of [8, 0]) {
    const frame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.ICMP }, icmp(type, 0, 0xabcd0001, [0x61, 0x62])));
    const { packet } = decodeOne(frame);
    assert.equal(packet.valid, true);
    assert.equal(packet.protocol, IpProtocol.ICMP);
    assert.equal(packet.icmpType, type);
    assert.equal(packet.icmpCode, 0);
    assert.equal(packet.icmpEchoId, 0xabcd0001, 'identifier 0xabcd in the high half, sequence 1 in the low');
    assert.equal(packet.quotedProtocol, 0);
  }
});

test('icmpv6: echo request and reply (128/129)', () => {
  for (const type of [128, 129]) {
    const frame = ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.ICMPV6 }, icmp(type, 0, 0x12340007)));
    const { packet } = decodeOne(frame);
    assert.equal(packet.valid, true);
    assert.equal(packet.protocol, IpProtocol.ICMPV6);
    assert.equal(packet.icmpType, type);
    assert.equal(packet.icmpEchoId, 0x12340007);
  }
});

test('icmp: other types leave the echo id at 0', () => {
  const { packet } = decodeOne(ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.ICMP }, icmp(13, 0, 0x11112222, new Array<number>(12).fill(0)))));
  assert.equal(packet.icmpType, 13);
  assert.equal(packet.icmpEchoId, 0);
});

test('icmp: port unreachable quoting a UDP probe recovers its addresses and ports', () => {
  const { packet, stats } = decodeOne(icmpError(3, 3, udpProbe));
  assert.equal(packet.valid, true);
  assert.equal(packet.icmpType, 3);
  assert.equal(packet.icmpCode, 3);
  assert.equal(formatIPv4(packet.src4), TARGET);
  assert.equal(packet.quotedProtocol, IpProtocol.UDP);
  assert.equal(formatIPv4(packet.quotedSrc4), SCANNER);
  assert.equal(formatIPv4(packet.quotedDst4), TARGET);
  assert.equal(packet.quotedSrcPort, 61000);
  assert.equal(packet.quotedDstPort, 161);
  assert.equal(packet.srcPort, 0, 'outer ports stay empty: ICMP has none');
  assert.deepEqual(stats.toJSON(), {});
});

test('icmp: every error type quotes; only the first 8 transport bytes are needed', () => {
  for (const [type, code] of [[3, 13], [4, 0], [5, 1], [11, 0], [12, 0]]) {
    // Routers quote the IP header and 8 bytes of TCP: cut the probe there.
    const { packet } = decodeOne(icmpError(type, code, tcpProbe.subarray(0, 28)));
    assert.equal(packet.quotedProtocol, IpProtocol.TCP, `type ${type}`);
    assert.equal(packet.quotedSrcPort, 61001);
    assert.equal(packet.quotedDstPort, 25);
  }
});

test('icmp: a quote with IP options is read past them', () => {
  const probe = ipv4({ src: SCANNER, dst: TARGET, protocol: IpProtocol.UDP, options: [1, 1, 1, 1] }, udp({ srcPort: 1111, dstPort: 2222 }));
  const { packet } = decodeOne(icmpError(3, 3, probe));
  assert.equal(packet.quotedSrcPort, 1111);
  assert.equal(packet.quotedDstPort, 2222);
});

test('icmp: a quoted later fragment gives the protocol but no ports', () => {
  const probe = ipv4({ src: SCANNER, dst: TARGET, protocol: IpProtocol.UDP, fragmentOffset: 10 }, [1, 2, 3, 4, 5, 6, 7, 8]);
  const { packet } = decodeOne(icmpError(11, 1, probe));
  assert.equal(packet.quotedProtocol, IpProtocol.UDP);
  assert.equal(formatIPv4(packet.quotedSrc4), SCANNER);
  assert.equal(packet.quotedSrcPort, 0);
});

const badQuotes: [string, Buffer][] = [
  ['no quote at all', Buffer.alloc(0)],
  ['19 bytes of IP header', udpProbe.subarray(0, 19)],
  ['IP header but only 3 bytes of UDP', udpProbe.subarray(0, 23)],
  ['an IPv6 header inside ICMP', udpProbe6],
  ['IHL 3', concat([0x43], udpProbe.subarray(1))],
  ['IHL 15 past the quote', concat([0x4f], udpProbe.subarray(1, 28))],
];

for (const [name, quote] of badQuotes) {
  test(`icmp: broken quote (${name}) leaves the outer packet valid, quotedProtocol 0, icmp.bad_quote counted`, () => {
    const { packet, stats } = decodeOne(icmpError(3, 3, quote));
    assert.equal(packet.valid, true);
    assert.equal(packet.icmpType, 3);
    assert.equal(packet.quotedProtocol, 0);
    assert.equal(packet.quotedSrc4, 0);
    assert.equal(packet.quotedSrcPort, 0);
    assert.equal(stats.decoded, 1);
    assert.equal(stats.malformed, 0);
    assert.deepEqual(stats.toJSON(), { 'icmp.bad_quote': 1 });
  });
}

test('icmpv6: port unreachable quoting an IPv6 UDP probe', () => {
  const frame = icmpv6Error(1, 4, udpProbe6);
  const { packet, stats } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.icmpType, 1);
  assert.equal(packet.icmpCode, 4);
  assert.equal(packet.quotedProtocol, IpProtocol.UDP);
  assert.equal(formatIPv6(packet.buf, packet.quotedSrc6Offset), SCANNER6);
  assert.equal(formatIPv6(packet.buf, packet.quotedDst6Offset), TARGET6);
  assert.equal(packet.quotedSrc6Hash, hashIPv6(packet.buf, packet.quotedSrc6Offset));
  assert.equal(packet.quotedDst6Hash, hashIPv6(packet.buf, packet.quotedDst6Offset));
  assert.equal(packet.quotedSrc6Hash, packet.dst6Hash, 'the scanner is the outer destination');
  assert.equal(packet.quotedSrcPort, 61002);
  assert.equal(packet.quotedDstPort, 53);
  assert.deepEqual(stats.toJSON(), {});
});

test('icmpv6: a quote with extension headers is walked to the transport header', () => {
  const probe = ipv6(
    { src: SCANNER6, dst: TARGET6, nextHeader: 0 },
    concat(optionsHeader(44), fragmentHeader(IpProtocol.TCP, 0, true, 5), tcp({ srcPort: 40404, dstPort: 443, flags: TcpFlag.SYN })),
  );
  const { packet } = decodeOne(icmpv6Error(3, 0, probe));
  assert.equal(packet.quotedProtocol, IpProtocol.TCP);
  assert.equal(packet.quotedSrcPort, 40404);
  assert.equal(packet.quotedDstPort, 443);
});

test('icmpv6: packet too big and parameter problem quote too', () => {
  for (const type of [2, 4]) {
    const { packet } = decodeOne(icmpv6Error(type, 0, udpProbe6));
    assert.equal(packet.quotedDstPort, 53, `type ${type}`);
  }
});

const badQuotes6: [string, Buffer][] = [
  ['39 bytes of IPv6 header', udpProbe6.subarray(0, 39)],
  ['an IPv4 header inside ICMPv6', concat(udpProbe, new Array<number>(20).fill(0))],
  ['IPv6 header but 2 bytes of UDP', udpProbe6.subarray(0, 42)],
  ['an extension header cut short', ipv6({ nextHeader: 60 }, [17, 4, 0, 0, 0, 0, 0, 0])],
];

for (const [name, quote] of badQuotes6) {
  test(`icmpv6: broken quote (${name}) → icmpv6.bad_quote, packet valid`, () => {
    const { packet, stats } = decodeOne(icmpv6Error(1, 4, quote));
    assert.equal(packet.valid, true);
    assert.equal(packet.quotedProtocol, 0);
    assert.equal(packet.quotedSrc6Offset, -1);
    assert.deepEqual(stats.toJSON(), { 'icmpv6.bad_quote': 1 });
  });
}

test('icmp and icmpv6: fewer than 8 header bytes → truncated', () => {
  const v4 = decodeOne(ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.ICMP }, [8, 0, 0, 0, 0, 1, 0])));
  assert.equal(v4.packet.event, DecodeEvent['icmp.truncated']);
  assert.equal(v4.packet.valid, false);
  const v6 = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.ICMPV6 }, [128, 0, 0, 0])));
  assert.equal(v6.packet.event, DecodeEvent['icmpv6.truncated']);
  assert.equal(v6.stats.counts[DecodeEvent['icmpv6.truncated']], 1);
});
