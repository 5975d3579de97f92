import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProtocol, TcpFlag } from '../model/packet.js';
import { DecodeEvent } from './events.js';
import { formatIPv6, hashIPv6 } from '../net/address.js';
import { MAX_IPV6_EXT_HEADERS } from './ipv6-ext.js';
import {
  EtherType, authenticationHeader, concat, decodeOne, ethernet, fragmentHeader, ipv6, optionsHeader, tcp, udp,
} from '../../test/support/frames.js';

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const ESP = 50;
const AH = 51;
const NO_NEXT_HEADER = 59;
const DESTINATION_OPTIONS = 60;
const MOBILITY = 135;

const segment = tcp({ srcPort: 50000, dstPort: 8080, flags: TcpFlag.SYN, seq: 0xdeadbeef });

test('ipv6: fixed header fields, addresses left in the buffer with their hashes', () => {
  const frame = ethernet(EtherType.IPV6, ipv6({ src: '2001:db8:aa::1', dst: 'fe80::2', nextHeader: IpProtocol.TCP, hopLimit: 255 }, segment));
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.ipVersion, 6);
  assert.equal(packet.ttl, 255);
  assert.equal(packet.protocol, IpProtocol.TCP);
  assert.equal(packet.ipLength, 40 + 20);
  assert.equal(packet.src6Offset, 14 + 8);
  assert.equal(packet.dst6Offset, 14 + 24);
  assert.equal(formatIPv6(packet.buf, packet.src6Offset), '2001:db8:aa::1');
  assert.equal(formatIPv6(packet.buf, packet.dst6Offset), 'fe80::2');
  assert.equal(packet.src6Hash, hashIPv6(frame, 22));
  assert.equal(packet.dst6Hash, hashIPv6(frame, 38));
  assert.notEqual(packet.src6Hash, packet.dst6Hash);
  assert.equal(packet.src4, 0);
  assert.equal(packet.seq, 0xdeadbeef);
  assert.equal(packet.ipId, 0);
});

test('ipv6: hop-by-hop, destination options and a first fragment header before TCP', () => {
  const chain = concat(
    optionsHeader(DESTINATION_OPTIONS, 1),
    optionsHeader(FRAGMENT),
    fragmentHeader(IpProtocol.TCP, 0, true, 0xcafe0001),
    segment,
  );
  const frame = ethernet(EtherType.IPV6, ipv6({ nextHeader: HOP_BY_HOP }, chain));
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.protocol, IpProtocol.TCP);
  assert.equal(packet.fragmented, true);
  assert.equal(packet.laterFragment, false);
  assert.equal(packet.ipId, 0xcafe0001);
  assert.equal(packet.srcPort, 50000);
  assert.equal(packet.dstPort, 8080);
  assert.equal(packet.payloadOffset, frame.length);
});

test('ipv6: a later fragment stops the chain and is valid', () => {
  const chain = concat(optionsHeader(FRAGMENT), fragmentHeader(IpProtocol.UDP, 181, false, 42), new Array<number>(24).fill(0x55));
  const { packet, stats } = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: HOP_BY_HOP }, chain)));
  assert.equal(packet.valid, true);
  assert.equal(packet.laterFragment, true);
  assert.equal(packet.protocol, IpProtocol.UDP);
  assert.equal(packet.ipId, 42);
  assert.equal(packet.srcPort, 0);
  assert.equal(stats.decoded, 1);
});

test('ipv6: an atomic fragment (offset 0, M clear) is neither fragmented nor later', () => {
  const { packet } = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: FRAGMENT }, concat(fragmentHeader(IpProtocol.TCP, 0, false, 9), segment))));
  assert.equal(packet.valid, true);
  assert.equal(packet.fragmented, false);
  assert.equal(packet.laterFragment, false);
  assert.equal(packet.ipId, 9);
  assert.equal(packet.dstPort, 8080);
});

test('ipv6: routing, mobility and AH headers are walked', () => {
  const chain = concat(optionsHeader(MOBILITY, 2), optionsHeader(AH, 0), authenticationHeader(IpProtocol.UDP, 3), udp({ srcPort: 500, dstPort: 500 }, [9]));
  const { packet } = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: ROUTING }, chain)));
  assert.equal(packet.valid, true);
  assert.equal(packet.protocol, IpProtocol.UDP);
  assert.equal(packet.srcPort, 500);
  assert.equal(packet.payloadLength, 1);
});

test('ipv6: ESP and no-next-header end the chain without a transport header', () => {
  for (const nh of [ESP, NO_NEXT_HEADER]) {
    const { packet } = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: DESTINATION_OPTIONS }, concat(optionsHeader(nh), new Array<number>(16).fill(1)))));
    assert.equal(packet.valid, true);
    assert.equal(packet.protocol, nh);
    assert.equal(packet.srcPort, 0);
  }
});

function chainOf(count: number): Buffer {
  const parts: number[][] = [];
  for (let i = 0; i < count; i++) parts.push(optionsHeader(i === count - 1 ? IpProtocol.TCP : DESTINATION_OPTIONS));
  return concat(...parts, segment);
}

test(`ipv6: ${MAX_IPV6_EXT_HEADERS} extension headers are accepted`, () => {
  const { packet } = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: DESTINATION_OPTIONS }, chainOf(MAX_IPV6_EXT_HEADERS))));
  assert.equal(packet.valid, true);
  assert.equal(packet.dstPort, 8080);
});

test(`ipv6: ${MAX_IPV6_EXT_HEADERS + 1} extension headers → ipv6.too_many_ext_headers`, () => {
  const { packet, stats } = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: DESTINATION_OPTIONS }, chainOf(MAX_IPV6_EXT_HEADERS + 1))));
  assert.equal(packet.valid, false);
  assert.equal(packet.event, DecodeEvent['ipv6.too_many_ext_headers']);
  assert.equal(stats.counts[DecodeEvent['ipv6.too_many_ext_headers']], 1);
});

test('ipv6: an extension header running past the payload length → ipv6.ext_header_truncated', () => {
  const cases: [string, Buffer][] = [
    ['length field beyond the packet', ethernet(EtherType.IPV6, ipv6({ nextHeader: HOP_BY_HOP }, [IpProtocol.TCP, 5, 1, 4, 0, 0, 0, 0]))],
    ['fewer than 8 bytes left', ethernet(EtherType.IPV6, ipv6({ nextHeader: HOP_BY_HOP }, [IpProtocol.TCP, 0, 1, 4]))],
    ['fragment header cut', ethernet(EtherType.IPV6, ipv6({ nextHeader: FRAGMENT }, [IpProtocol.TCP, 0, 0, 0]))],
    ['AH cut', ethernet(EtherType.IPV6, ipv6({ nextHeader: AH }, authenticationHeader(IpProtocol.TCP, 4).slice(0, 16)))],
    [
      'padding does not count as payload',
      concat(ethernet(EtherType.IPV6, ipv6({ nextHeader: HOP_BY_HOP, payloadLength: 8 }, concat(optionsHeader(DESTINATION_OPTIONS), optionsHeader(IpProtocol.TCP)))).subarray(0, 14 + 48), new Array<number>(8).fill(0)),
    ],
  ];
  for (const [name, frame] of cases) {
    const { packet } = decodeOne(frame);
    assert.equal(packet.event, DecodeEvent['ipv6.ext_header_truncated'], name);
    assert.equal(packet.valid, false, name);
  }
});

test('ipv6: truncated and wrong-version headers', () => {
  const frame = ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.TCP }, segment));
  const cut = decodeOne(frame.subarray(0, 14 + 39));
  assert.equal(cut.packet.event, DecodeEvent['ipv6.truncated']);
  assert.equal(cut.packet.ipVersion, 0);
  const wrong = decodeOne(ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.TCP, version: 7 }, segment)));
  assert.equal(wrong.packet.event, DecodeEvent['ipv6.bad_version']);
});

test('ipv6: Ethernet padding after a short packet is ignored; a snapped packet decodes', () => {
  const padded = concat(ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 }))), [0, 0, 0, 0, 0, 0]);
  const { packet } = decodeOne(padded);
  assert.equal(packet.valid, true);
  assert.equal(packet.payloadLength, 0);
  const full = ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.TCP }, tcp({ srcPort: 1, dstPort: 2, flags: TcpFlag.ACK }, new Array<number>(500).fill(0))));
  const snapped = decodeOne(full.subarray(0, 100));
  assert.equal(snapped.packet.valid, true);
  assert.equal(snapped.packet.ipLength, 40 + 520);
  assert.equal(snapped.packet.payloadLength, 100 - 74);
});
