import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProtocol } from '../model/packet.js';
import { DecodeEvent } from './events.js';
import { EtherType, concat, decodeOne, ethernet, ipv4, ipv6, udp } from '../../test/support/frames.js';

test('udp: ports and payload over IPv4 and IPv6', () => {
  for (const frame of [
    ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 53, dstPort: 33333 }, [1, 2, 3, 4, 5]))),
    ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.UDP }, udp({ srcPort: 53, dstPort: 33333 }, [1, 2, 3, 4, 5]))),
  ]) {
    const { packet } = decodeOne(frame);
    assert.equal(packet.valid, true);
    assert.equal(packet.protocol, IpProtocol.UDP);
    assert.equal(packet.srcPort, 53);
    assert.equal(packet.dstPort, 33333);
    assert.equal(packet.payloadOffset, frame.length - 5);
    assert.equal(packet.payloadLength, 5);
  }
});

test('udp: an empty datagram (length 8) is valid', () => {
  const { packet } = decodeOne(ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 7, dstPort: 7 }))));
  assert.equal(packet.valid, true);
  assert.equal(packet.payloadLength, 0);
});

test('udp: the payload ends at the UDP length, not at padding', () => {
  const frame = concat(ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 7, dstPort: 7 }, [1]))), new Array<number>(17).fill(0));
  const { packet } = decodeOne(frame);
  assert.equal(packet.payloadLength, 1);
  // Bytes inside the IP packet but after the UDP length are not UDP payload either.
  const inner = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 7, dstPort: 7, length: 10 }, [1, 2, 3, 4])));
  assert.equal(decodeOne(inner).packet.payloadLength, 2);
});

test('udp: a snapped datagram decodes what was captured', () => {
  const frame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 123, dstPort: 123 }, new Array<number>(48).fill(0x23))));
  const { packet } = decodeOne(frame.subarray(0, 14 + 20 + 8 + 10));
  assert.equal(packet.valid, true);
  assert.equal(packet.payloadLength, 10);
});

const malformed: [string, Buffer, keyof typeof DecodeEvent][] = [
  ['length field 7', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2, length: 7 }, [0, 0]))), 'udp.bad_length'],
  ['length field 0', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2, length: 0 }))), 'udp.bad_length'],
  ['length field past the IP packet', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2, length: 200 }, [0]))), 'udp.bad_length'],
  ['length field past the IPv6 payload', ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2, length: 9 }))), 'udp.bad_length'],
  ['7 bytes of header', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 }).subarray(0, 7))), 'udp.truncated'],
  ['7 bytes captured', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 }))).subarray(0, 14 + 20 + 7), 'udp.truncated'],
];

for (const [name, frame, event] of malformed) {
  test(`udp: ${name} → ${event}`, () => {
    const { packet, stats } = decodeOne(frame);
    assert.equal(packet.valid, false);
    assert.equal(packet.event, DecodeEvent[event]);
    assert.equal(stats.malformed, 1);
    assert.equal(stats.counts[DecodeEvent[event]], 1);
  });
}
