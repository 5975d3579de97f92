import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProtocol, TcpFlag } from '../model/packet.js';
import { DecodeEvent } from './events.js';
import { EtherType, concat, decodeOne, ethernet, ipv4, tcp, type TcpSpec } from '../../test/support/frames.js';

function tcpFrame(spec: TcpSpec, payload: number[] = []): Buffer {
  return ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, tcp(spec, payload)));
}

const { FIN, SYN, RST, PSH, ACK, URG, ECE, CWR } = TcpFlag;

const flagCases: [string, number][] = [
  ['SYN', SYN],
  ['SYN-ACK', SYN | ACK],
  ['RST', RST],
  ['RST-ACK', RST | ACK],
  ['FIN', FIN],
  ['NULL', 0],
  ['XMAS', FIN | PSH | URG],
  ['Maimon FIN-ACK', FIN | ACK],
  ['ACK', ACK],
  ['ECN SYN', SYN | ECE | CWR],
  ['all eight', 0xff],
];

for (const [name, flags] of flagCases) {
  test(`tcp: ${name} flags byte is kept as sent`, () => {
    const { packet } = decodeOne(tcpFrame({ srcPort: 1234, dstPort: 80, flags }));
    assert.equal(packet.valid, true);
    assert.equal(packet.tcpFlags, flags);
  });
}

test('tcp: the NS bit (low bit of byte 12) does not leak into the flags', () => {
  const frame = tcpFrame({ srcPort: 1, dstPort: 2, flags: SYN });
  frame[14 + 20 + 12] |= 1;
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  assert.equal(packet.tcpFlags, SYN);
});

test('tcp: ports, sequence numbers (unsigned) and window', () => {
  const { packet } = decodeOne(tcpFrame({ srcPort: 65535, dstPort: 1, seq: 0xfffffffe, ack: 0x80000000, flags: ACK, window: 65535 }));
  assert.equal(packet.srcPort, 65535);
  assert.equal(packet.dstPort, 1);
  assert.equal(packet.seq, 0xfffffffe);
  assert.equal(packet.ack, 0x80000000);
  assert.equal(packet.window, 65535);
  assert.equal(packet.tcpOptionsLength, 0);
  assert.equal(packet.tcpMss, 0);
  assert.equal(packet.tcpOsOptions, false);
});

const MSS_1460 = [2, 4, 0x05, 0xb4];
const SACK_OK = [4, 2];
const TIMESTAMPS = [8, 10, 0, 0, 0, 1, 0, 0, 0, 0];
const WSCALE_7 = [3, 3, 7];
const NOP = [1];

const optionCases: { name: string; options: number[]; mss: number; os: boolean; notice?: boolean }[] = [
  { name: 'Linux SYN: MSS, SACK-permitted, timestamps, NOP, window scale', options: [...MSS_1460, ...SACK_OK, ...TIMESTAMPS, ...NOP, ...WSCALE_7], mss: 1460, os: true },
  { name: 'Windows SYN: MSS, NOP, WS, NOP, NOP, SACK-permitted', options: [...MSS_1460, ...NOP, ...WSCALE_7, ...NOP, ...NOP, ...SACK_OK], mss: 1460, os: true },
  { name: 'nmap -sS style: MSS only', options: MSS_1460, mss: 1460, os: false },
  { name: 'timestamps only', options: [...NOP, ...NOP, ...TIMESTAMPS], mss: 0, os: true },
  { name: 'end-of-list stops the walk', options: [0, ...MSS_1460], mss: 0, os: false },
  { name: 'MSS with a wrong length is ignored', options: [2, 3, 5, ...NOP], mss: 0, os: false },
  { name: 'length 0 stops the walk, MSS before it kept', options: [...MSS_1460, 8, 0, 0, 0], mss: 1460, os: false, notice: true },
  { name: 'length 1 stops the walk', options: [5, 1, ...SACK_OK], mss: 0, os: false, notice: true },
  { name: 'length past the header stops the walk', options: [...MSS_1460, 8, 40, 0, 0], mss: 1460, os: false, notice: true },
  { name: 'kind without a length byte at the end of the header', options: [1, 1, 1, 8], mss: 0, os: false, notice: true },
];

for (const c of optionCases) {
  test(`tcp options: ${c.name}`, () => {
    const { packet, stats } = decodeOne(tcpFrame({ srcPort: 40000, dstPort: 443, flags: SYN, options: c.options }));
    assert.equal(packet.valid, true, 'malformed options never make the packet invalid');
    assert.equal(packet.tcpMss, c.mss);
    assert.equal(packet.tcpOsOptions, c.os);
    assert.equal(packet.tcpOptionsLength, Math.ceil(c.options.length / 4) * 4);
    assert.equal(stats.counts[DecodeEvent['tcp.bad_options']], c.notice ? 1 : 0);
    assert.equal(stats.malformed, 0);
  });
}

test('tcp: payload offset and length follow the data offset and the IP length', () => {
  const frame = tcpFrame({ srcPort: 80, dstPort: 40000, flags: PSH | ACK, options: [...NOP, ...NOP, ...TIMESTAMPS] }, [0x48, 0x54, 0x54, 0x50]);
  const { packet } = decodeOne(frame);
  assert.equal(packet.payloadOffset, 14 + 20 + 32);
  assert.equal(packet.payloadLength, 4);
  assert.equal(frame.toString('latin1', packet.payloadOffset, packet.payloadOffset + packet.payloadLength), 'HTTP');
});

test('tcp: options cut by the snap length still give ports, flags and the options captured', () => {
  const frame = tcpFrame({ srcPort: 40000, dstPort: 22, flags: SYN, options: [...MSS_1460, ...SACK_OK, ...TIMESTAMPS, ...NOP, ...WSCALE_7] });
  const snapped = frame.subarray(0, 14 + 20 + 20 + 6); // MSS and SACK-permitted captured, timestamps cut
  const { packet, stats } = decodeOne(snapped);
  assert.equal(packet.valid, true);
  assert.equal(packet.tcpFlags, SYN);
  assert.equal(packet.tcpMss, 1460);
  assert.equal(packet.tcpOsOptions, true);
  assert.equal(packet.tcpOptionsLength, 20);
  assert.equal(packet.payloadLength, 0);
  assert.deepEqual(stats.toJSON(), {});
});

const malformed: [string, Buffer, keyof typeof DecodeEvent][] = [
  ['data offset 4', tcpFrame({ srcPort: 1, dstPort: 2, flags: SYN, dataOffset: 4 }), 'tcp.bad_data_offset'],
  ['data offset 0', tcpFrame({ srcPort: 1, dstPort: 2, flags: SYN, dataOffset: 0 }), 'tcp.bad_data_offset'],
  ['data offset past the IP packet', tcpFrame({ srcPort: 1, dstPort: 2, flags: SYN, dataOffset: 15 }), 'tcp.bad_data_offset'],
  ['19 bytes of TCP header captured', tcpFrame({ srcPort: 1, dstPort: 2, flags: SYN }).subarray(0, 14 + 20 + 19), 'tcp.truncated'],
  ['IP total length leaves 12 bytes of TCP', ethernet(EtherType.IPV4, ipv4({ protocol: 6, totalLength: 32 }, tcp({ srcPort: 1, dstPort: 2, flags: SYN }))), 'tcp.truncated'],
  ['no TCP header at all', ethernet(EtherType.IPV4, ipv4({ protocol: 6 }, [])), 'tcp.truncated'],
];

for (const [name, frame, event] of malformed) {
  test(`tcp: ${name} → ${event}`, () => {
    const { packet, stats } = decodeOne(frame);
    assert.equal(packet.valid, false);
    assert.equal(packet.event, DecodeEvent[event]);
    assert.equal(packet.ipVersion, 4, 'the IP layer stays decoded');
    assert.equal(stats.counts[DecodeEvent[event]], 1);
  });
}

test('tcp: a padded frame with IP length 40 has no payload', () => {
  const frame = concat(tcpFrame({ srcPort: 1, dstPort: 2, flags: RST }), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const { packet } = decodeOne(frame);
  assert.equal(packet.payloadLength, 0);
});
