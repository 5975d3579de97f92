import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkType, IpProtocol, TcpFlag } from '../model/packet.js';
import { DecodeEvent } from './events.js';
import { formatIPv4, formatIPv6 } from '../net/address.js';
import {
  EtherType, decodeOne, ethernet, ipv4, ipv6, nullLoopback, sll, sll2, tcp, udp, vlanEthernet, concat,
} from '../../test/support/frames.js';

const syn4 = ipv4({ src: '203.0.113.7', dst: '192.0.2.80', protocol: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: 22, flags: TcpFlag.SYN }));
const syn6 = ipv6({ src: '2001:db8::7', dst: '2001:db8::50', nextHeader: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: 22, flags: TcpFlag.SYN }));

interface LinkCase {
  name: string;
  linkType: number;
  frame: Buffer;
  ipVersion: 0 | 4 | 6;
}

const ipCases: LinkCase[] = [
  { name: 'Ethernet IPv4', linkType: LinkType.ETHERNET, frame: ethernet(EtherType.IPV4, syn4), ipVersion: 4 },
  { name: 'Ethernet IPv6', linkType: LinkType.ETHERNET, frame: ethernet(EtherType.IPV6, syn6), ipVersion: 6 },
  { name: '802.1Q IPv4', linkType: LinkType.ETHERNET, frame: vlanEthernet([EtherType.VLAN], EtherType.IPV4, syn4), ipVersion: 4 },
  { name: '802.1Q IPv6', linkType: LinkType.ETHERNET, frame: vlanEthernet([EtherType.VLAN], EtherType.IPV6, syn6), ipVersion: 6 },
  { name: 'QinQ 802.1ad + 802.1Q', linkType: LinkType.ETHERNET, frame: vlanEthernet([EtherType.QINQ, EtherType.VLAN], EtherType.IPV4, syn4), ipVersion: 4 },
  { name: 'old QinQ 0x9100 + 802.1Q', linkType: LinkType.ETHERNET, frame: vlanEthernet([EtherType.QINQ_OLD, EtherType.VLAN], EtherType.IPV6, syn6), ipVersion: 6 },
  { name: 'four stacked tags (the cap)', linkType: LinkType.ETHERNET, frame: vlanEthernet([0x88a8, 0x8100, 0x8100, 0x8100], EtherType.IPV4, syn4), ipVersion: 4 },
  { name: 'Linux SLL IPv4', linkType: LinkType.LINUX_SLL, frame: sll(EtherType.IPV4, syn4), ipVersion: 4 },
  { name: 'Linux SLL IPv6', linkType: LinkType.LINUX_SLL, frame: sll(EtherType.IPV6, syn6), ipVersion: 6 },
  { name: 'Linux SLL 802.1Q IPv4', linkType: LinkType.LINUX_SLL, frame: sll(EtherType.VLAN, concat([0, 100, 8, 0], syn4)), ipVersion: 4 },
  { name: 'Linux SLL2 IPv4', linkType: LinkType.LINUX_SLL2, frame: sll2(EtherType.IPV4, syn4), ipVersion: 4 },
  { name: 'Linux SLL2 IPv6', linkType: LinkType.LINUX_SLL2, frame: sll2(EtherType.IPV6, syn6), ipVersion: 6 },
  { name: 'RAW IPv4', linkType: LinkType.RAW, frame: syn4, ipVersion: 4 },
  { name: 'RAW IPv6', linkType: LinkType.RAW, frame: syn6, ipVersion: 6 },
  { name: 'IPV4', linkType: LinkType.IPV4, frame: syn4, ipVersion: 4 },
  { name: 'IPV6', linkType: LinkType.IPV6, frame: syn6, ipVersion: 6 },
  { name: 'NULL AF_INET little-endian host', linkType: LinkType.NULL, frame: nullLoopback(2, true, syn4), ipVersion: 4 },
  { name: 'NULL AF_INET big-endian host', linkType: LinkType.NULL, frame: nullLoopback(2, false, syn4), ipVersion: 4 },
  { name: 'NULL AF_INET6 24 (NetBSD/OpenBSD) little-endian', linkType: LinkType.NULL, frame: nullLoopback(24, true, syn6), ipVersion: 6 },
  { name: 'NULL AF_INET6 28 (FreeBSD) big-endian', linkType: LinkType.NULL, frame: nullLoopback(28, false, syn6), ipVersion: 6 },
  { name: 'NULL AF_INET6 30 (macOS) little-endian', linkType: LinkType.NULL, frame: nullLoopback(30, true, syn6), ipVersion: 6 },
  { name: 'LOOP AF_INET', linkType: LinkType.LOOP, frame: nullLoopback(2, false, syn4), ipVersion: 4 },
  { name: 'LOOP AF_INET6', linkType: LinkType.LOOP, frame: nullLoopback(24, false, syn6), ipVersion: 6 },
];

for (const c of ipCases) {
  test(`link: ${c.name} reaches the TCP header`, () => {
    const { packet, stats } = decodeOne(c.frame, c.linkType);
    assert.equal(packet.event, DecodeEvent.none);
    assert.equal(packet.valid, true);
    assert.equal(packet.ipVersion, c.ipVersion);
    assert.equal(packet.protocol, IpProtocol.TCP);
    assert.equal(packet.srcPort, 40000);
    assert.equal(packet.dstPort, 22);
    assert.equal(packet.tcpFlags, TcpFlag.SYN);
    if (c.ipVersion === 4) {
      assert.equal(formatIPv4(packet.src4), '203.0.113.7');
      assert.equal(formatIPv4(packet.dst4), '192.0.2.80');
    } else {
      assert.equal(formatIPv6(packet.buf, packet.src6Offset), '2001:db8::7');
      assert.equal(formatIPv6(packet.buf, packet.dst6Offset), '2001:db8::50');
    }
    assert.equal(packet.payloadOffset, c.frame.length);
    assert.deepEqual({ frames: stats.frames, decoded: stats.decoded, malformed: stats.malformed }, { frames: 1, decoded: 1, malformed: 0 });
  });
}

const nonIpCases: [string, number, Buffer][] = [
  ['Ethernet ARP', LinkType.ETHERNET, ethernet(EtherType.ARP, new Array<number>(28).fill(0))],
  ['802.3 length field (LLC)', LinkType.ETHERNET, ethernet(46, new Array<number>(46).fill(0))],
  ['802.1Q ARP', LinkType.ETHERNET, vlanEthernet([EtherType.VLAN], EtherType.ARP, new Array<number>(28).fill(0))],
  ['SLL ARP', LinkType.LINUX_SLL, sll(EtherType.ARP, new Array<number>(28).fill(0))],
  ['SLL2 ARP', LinkType.LINUX_SLL2, sll2(EtherType.ARP, new Array<number>(28).fill(0))],
  ['NULL unknown family', LinkType.NULL, nullLoopback(7, true, syn4)],
  ['LOOP family in the wrong byte order', LinkType.LOOP, nullLoopback(2, true, syn4)],
];

for (const [name, linkType, frame] of nonIpCases) {
  test(`link: ${name} is a valid frame without an IP layer, counted as link.not_ip`, () => {
    const { packet, stats } = decodeOne(frame, linkType);
    assert.equal(packet.valid, true);
    assert.equal(packet.event, DecodeEvent.none);
    assert.equal(packet.ipVersion, 0);
    assert.equal(packet.protocol, 0);
    assert.equal(stats.decoded, 1);
    assert.equal(stats.malformed, 0);
    assert.deepEqual(stats.toJSON(), { 'link.not_ip': 1 });
  });
}

const malformedCases: [string, number, Buffer, keyof typeof DecodeEvent][] = [
  ['unknown link type', 147, syn4, 'link.unsupported'],
  ['five stacked VLAN tags', LinkType.ETHERNET, vlanEthernet([0x88a8, 0x8100, 0x8100, 0x8100, 0x8100], EtherType.IPV4, syn4), 'vlan.too_many_tags'],
  ['VLAN tag cut short', LinkType.ETHERNET, ethernet(EtherType.VLAN, [0, 100]), 'vlan.truncated'],
  ['second VLAN tag cut short', LinkType.ETHERNET, ethernet(EtherType.QINQ, [0, 100, 0x81, 0x00, 0]), 'vlan.truncated'],
  ['Ethernet header of 13 bytes', LinkType.ETHERNET, Buffer.alloc(13), 'ethernet.truncated'],
  ['empty Ethernet frame', LinkType.ETHERNET, Buffer.alloc(0), 'ethernet.truncated'],
  ['SLL header of 15 bytes', LinkType.LINUX_SLL, sll(EtherType.IPV4, []).subarray(0, 15), 'sll.truncated'],
  ['SLL2 header of 19 bytes', LinkType.LINUX_SLL2, sll2(EtherType.IPV4, []).subarray(0, 19), 'sll2.truncated'],
  ['NULL family of 3 bytes', LinkType.NULL, Buffer.from([2, 0, 0]), 'loopback.truncated'],
  ['LOOP family of 3 bytes', LinkType.LOOP, Buffer.from([0, 0, 0]), 'loopback.truncated'],
  ['empty RAW frame', LinkType.RAW, Buffer.alloc(0), 'raw.truncated'],
  ['RAW frame with version 5', LinkType.RAW, Buffer.from([0x50, 0, 0, 0]), 'raw.bad_version'],
  ['IPv6 EtherType carrying IPv4', LinkType.ETHERNET, ethernet(EtherType.IPV6, concat(syn4, new Array<number>(20).fill(0))), 'ipv6.bad_version'],
  ['IPv4 EtherType carrying IPv6', LinkType.ETHERNET, ethernet(EtherType.IPV4, syn6), 'ipv4.bad_version'],
  ['IPV4 link type carrying IPv6', LinkType.IPV4, syn6, 'ipv4.bad_version'],
  ['IPV6 link type carrying IPv4', LinkType.IPV6, concat(syn4, new Array<number>(20).fill(0)), 'ipv6.bad_version'],
];

for (const [name, linkType, frame, event] of malformedCases) {
  test(`link: ${name} → ${event}`, () => {
    const { packet, stats } = decodeOne(frame, linkType);
    assert.equal(packet.valid, false);
    assert.equal(packet.event, DecodeEvent[event]);
    assert.equal(stats.malformed, 1);
    assert.equal(stats.counts[DecodeEvent[event]], 1);
  });
}

test('link: UDP over SLL2 keeps its payload bounds', () => {
  const frame = sll2(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 5353, dstPort: 5353 }, [1, 2, 3])));
  const { packet } = decodeOne(frame, LinkType.LINUX_SLL2);
  assert.equal(packet.payloadOffset, 20 + 20 + 8);
  assert.equal(packet.payloadLength, 3);
});
