import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Packet, LinkType, IpProtocol, TcpFlag } from '../model/packet.js';
import { DecodeEvent, DecodeStats, type DecodeEventName } from './events.js';
import { decodeFrame } from './decoder.js';
import { dnsQuestion } from './dns.js';
import { formatIPv4 } from '../net/address.js';
import {
  EtherType, concat, decodeOne, dnsMessage, ethernet, fragmentHeader, icmp, ipv4, ipv6, nullLoopback, optionsHeader,
  sll, sll2, tcp, udp, vlanEthernet,
} from '../../test/support/frames.js';

const SYN_OPTIONS = [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];

/**
 * One full frame per layer stack; cutting it after `keep` bytes must stop decoding with `event`.
 * The cut points are the first byte each header needs and is missing.
 */
const truncations: { name: string; linkType: number; frame: Buffer; cuts: [number, DecodeEventName][] }[] = [
  {
    name: 'Ethernet/IPv4/TCP',
    linkType: LinkType.ETHERNET,
    frame: ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, tcp({ srcPort: 1, dstPort: 2, flags: TcpFlag.SYN, options: SYN_OPTIONS }))),
    cuts: [[0, 'ethernet.truncated'], [13, 'ethernet.truncated'], [14, 'ipv4.truncated'], [33, 'ipv4.truncated'], [34, 'tcp.truncated'], [53, 'tcp.truncated']],
  },
  {
    name: 'Ethernet/802.1Q/IPv4/UDP',
    linkType: LinkType.ETHERNET,
    frame: vlanEthernet([EtherType.VLAN], EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 }, [1, 2, 3]))),
    cuts: [[15, 'vlan.truncated'], [17, 'vlan.truncated'], [18, 'ipv4.truncated'], [37, 'ipv4.truncated'], [38, 'udp.truncated'], [45, 'udp.truncated']],
  },
  {
    name: 'Ethernet/IPv6/hop-by-hop/fragment/UDP',
    linkType: LinkType.ETHERNET,
    frame: ethernet(EtherType.IPV6, ipv6({ nextHeader: 0 }, concat(optionsHeader(44), fragmentHeader(IpProtocol.UDP, 0, true, 1), udp({ srcPort: 1, dstPort: 2 })))),
    cuts: [[14, 'ipv6.truncated'], [53, 'ipv6.truncated'], [54, 'ipv6.ext_header_truncated'], [61, 'ipv6.ext_header_truncated'], [69, 'ipv6.ext_header_truncated'], [70, 'udp.truncated'], [77, 'udp.truncated']],
  },
  {
    name: 'Ethernet/IPv4/ICMP',
    linkType: LinkType.ETHERNET,
    frame: ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.ICMP }, icmp(8, 0, 1))),
    cuts: [[34, 'icmp.truncated'], [41, 'icmp.truncated']],
  },
  {
    name: 'Ethernet/IPv6/ICMPv6',
    linkType: LinkType.ETHERNET,
    frame: ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.ICMPV6 }, icmp(128, 0, 1))),
    cuts: [[54, 'icmpv6.truncated'], [61, 'icmpv6.truncated']],
  },
  {
    name: 'SLL/IPv4/TCP',
    linkType: LinkType.LINUX_SLL,
    frame: sll(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, tcp({ srcPort: 1, dstPort: 2, flags: TcpFlag.SYN }))),
    cuts: [[0, 'sll.truncated'], [15, 'sll.truncated'], [16, 'ipv4.truncated'], [36, 'tcp.truncated']],
  },
  {
    name: 'SLL2/IPv6/TCP',
    linkType: LinkType.LINUX_SLL2,
    frame: sll2(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.TCP }, tcp({ srcPort: 1, dstPort: 2, flags: TcpFlag.SYN }))),
    cuts: [[19, 'sll2.truncated'], [20, 'ipv6.truncated'], [60, 'tcp.truncated']],
  },
  {
    name: 'NULL/IPv4/UDP',
    linkType: LinkType.NULL,
    frame: nullLoopback(2, true, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 }))),
    cuts: [[3, 'loopback.truncated'], [4, 'ipv4.truncated'], [24, 'udp.truncated']],
  },
  {
    name: 'RAW/IPv6/TCP',
    linkType: LinkType.RAW,
    frame: ipv6({ nextHeader: IpProtocol.TCP }, tcp({ srcPort: 1, dstPort: 2, flags: TcpFlag.SYN })),
    cuts: [[0, 'raw.truncated'], [1, 'ipv6.truncated'], [40, 'tcp.truncated']],
  },
];

for (const t of truncations) {
  test(`truncation: ${t.name} — each cut yields its layer's event, never a throw`, () => {
    const whole = decodeOne(t.frame, t.linkType);
    assert.equal(whole.packet.valid, true, 'the uncut frame is valid');
    const stats = new DecodeStats();
    const packet = new Packet();
    for (const [keep, event] of t.cuts) {
      decodeFrame(packet, t.frame, 0, keep, t.linkType, 0, stats);
      assert.equal(packet.event, DecodeEvent[event], `cut at ${keep}`);
      assert.equal(packet.valid, false, `cut at ${keep}`);
    }
    assert.equal(stats.frames, t.cuts.length);
    assert.equal(stats.malformed, t.cuts.length);
    for (const [, event] of t.cuts) assert.equal(stats.counts[DecodeEvent[event]], t.cuts.filter(([, e]) => e === event).length);
  });
}

test('decodeFrame: offsets outside the buffer → frame.bad_bounds, never a read outside it', () => {
  const frame = ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 })));
  const stats = new DecodeStats();
  const packet = new Packet();
  const bad: [number, number][] = [[-1, 10], [0, frame.length + 1], [frame.length, 1], [0, -5], [Number.NaN, 10], [0, Number.NaN], [0.5, 10], [0, 10.5]];
  for (const [offset, length] of bad) {
    decodeFrame(packet, frame, offset, length, LinkType.ETHERNET, 0, stats);
    assert.equal(packet.event, DecodeEvent['frame.bad_bounds'], `${offset}+${length}`);
    assert.equal(packet.valid, false);
  }
  assert.equal(stats.counts[DecodeEvent['frame.bad_bounds']], bad.length);
});

test('decodeFrame: a frame in the middle of a larger buffer; offsets point into that buffer', () => {
  const frame = ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 }, [7, 7, 7])));
  const chunk = concat(new Array<number>(100).fill(0xff), frame, new Array<number>(50).fill(0xee));
  const packet = new Packet();
  const stats = new DecodeStats();
  decodeFrame(packet, chunk, 100, frame.length, LinkType.ETHERNET, 1234, stats);
  assert.equal(packet.valid, true);
  assert.equal(packet.buf, chunk);
  assert.equal(packet.frameOffset, 100);
  assert.equal(packet.capturedLength, frame.length);
  assert.equal(packet.tsUs, 1234);
  assert.equal(packet.src6Offset, 100 + 14 + 8);
  assert.equal(packet.payloadOffset, 100 + 14 + 40 + 8);
  assert.equal(packet.payloadLength, 3, 'the bytes after the frame are not read');
});

test('decodeFrame: a reused Packet keeps nothing from the previous frame', () => {
  const packet = new Packet();
  const stats = new DecodeStats();
  const v6 = ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.ICMPV6 }, icmp(1, 4, 0, ipv6({ nextHeader: IpProtocol.UDP }, udp({ srcPort: 9, dstPort: 9 })))));
  decodeFrame(packet, v6, 0, v6.length, LinkType.ETHERNET, 0, stats);
  assert.equal(packet.quotedProtocol, IpProtocol.UDP);
  const arp = ethernet(EtherType.ARP, new Array<number>(28).fill(0));
  decodeFrame(packet, arp, 0, arp.length, LinkType.ETHERNET, 0, stats);
  const fresh = new Packet();
  for (const key of Object.keys(fresh) as (keyof Packet)[]) {
    if (key === 'buf' || key === 'capturedLength' || key === 'valid' || key === 'reset') continue;
    assert.deepEqual(packet[key], fresh[key], key);
  }
  assert.equal(packet.valid, true);
});

/** Deterministic xorshift32, so a failing fuzz case can be replayed (FUZZ_SEED=n picks another run). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

test('fuzz: 20,000 random, mutated and truncated frames never throw and keep every offset in bounds', () => {
  const seeds: [number, Buffer][] = truncations.map((t) => [t.linkType, t.frame]);
  seeds.push(
    [LinkType.ETHERNET, ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.ICMP }, icmp(3, 3, 0, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 1, dstPort: 2 })))))],
    [LinkType.ETHERNET, ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 5, dstPort: 53 }, dnsMessage({ name: 'fuzz.example', type: 1 }))))],
    [LinkType.ETHERNET, ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.ICMPV6 }, icmp(1, 4, 0, ipv6({ nextHeader: 0 }, concat(optionsHeader(IpProtocol.TCP), tcp({ srcPort: 1, dstPort: 2, flags: 2 }))))))],
    [LinkType.LOOP, nullLoopback(24, false, ipv6({ nextHeader: IpProtocol.TCP }, tcp({ srcPort: 1, dstPort: 53, flags: 24 }, concat([0, 20], dnsMessage({ name: 'tcp.example', type: 28 })))))],
  );
  const linkTypes = [0, 1, 101, 108, 113, 228, 229, 276, 2, 147];
  const random = rng(Number(process.env.FUZZ_SEED ?? 0x5eed));
  const packet = new Packet();
  const stats = new DecodeStats();
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    let frame: Buffer;
    let linkType: number;
    if (i % 4 === 0) {
      frame = Buffer.alloc(Math.floor(random() * 200));
      for (let j = 0; j < frame.length; j++) frame[j] = Math.floor(random() * 256);
      linkType = linkTypes[Math.floor(random() * linkTypes.length)];
    } else {
      const [lt, base] = seeds[Math.floor(random() * seeds.length)];
      frame = Buffer.from(base);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
      linkType = random() < 0.95 ? lt : linkTypes[Math.floor(random() * linkTypes.length)];
    }
    const keep = random() < 0.5 ? frame.length : Math.floor(random() * (frame.length + 1));
    // Embed the frame in a larger buffer: reading past its end would see 0xa5 bytes, not undefined.
    const chunk = concat([0xa5, 0xa5, 0xa5], frame, [0xa5, 0xa5, 0xa5]);
    decodeFrame(packet, chunk, 3, keep, linkType, i, stats);
    dnsQuestion(packet, stats);

    const end = 3 + keep;
    assert.equal(packet.valid, packet.event === 0);
    if (packet.payloadLength > 0) assert.ok(packet.payloadOffset >= 3 && packet.payloadOffset + packet.payloadLength <= end, `frame ${i}: payload`);
    for (const o of [packet.src6Offset, packet.dst6Offset, packet.quotedSrc6Offset, packet.quotedDst6Offset]) {
      if (o !== -1) assert.ok(o >= 3 && o + 16 <= end, `frame ${i}: address offset ${o}`);
    }
    for (const n of [packet.src4, packet.dst4, packet.seq, packet.ack, packet.icmpEchoId, packet.ipId, packet.src6Hash]) {
      assert.ok(Number.isInteger(n) && n >= 0 && n <= 0xffffffff, `frame ${i}: ${n}`);
    }
  }
  assert.equal(stats.frames, N);
  assert.equal(stats.decoded + stats.malformed, N);
  const counted = stats.counts.reduce((a, b) => a + b, 0);
  assert.ok(counted >= stats.malformed);
  assert.ok(stats.decoded > 1000 && stats.malformed > 1000, JSON.stringify(stats));
});

/** Classic pcap, read by hand: 24-byte file header, then 16-byte record headers. */
function* pcapRecords(file: Buffer): Generator<{ offset: number; length: number; tsUs: number; linkType: number }> {
  const magic = file.readUInt32LE(0);
  assert.ok(magic === 0xa1b2c3d4 || magic === 0xa1b23c4d, 'little-endian classic pcap');
  const nanos = magic === 0xa1b23c4d;
  const linkType = file.readUInt32LE(20);
  for (let o = 24; o + 16 <= file.length; ) {
    const seconds = file.readUInt32LE(o);
    const fraction = file.readUInt32LE(o + 4);
    const captured = file.readUInt32LE(o + 8);
    yield { offset: o + 16, length: captured, tsUs: seconds * 1e6 + (nanos ? Math.floor(fraction / 1000) : fraction), linkType };
    o += 16 + captured;
  }
}

test('real capture: the first SYN of scan_syn_small_29ports.pcap', () => {
  const file = readFileSync('/work/shared/pcaps/scan_syn_small_29ports.pcap');
  const packet = new Packet();
  const stats = new DecodeStats();
  const records = pcapRecords(file);
  const first = records.next();
  assert.ok(!first.done);
  const r = first.value;
  assert.equal(r.linkType, LinkType.ETHERNET);
  decodeFrame(packet, file, r.offset, r.length, r.linkType, r.tsUs, stats);
  assert.equal(packet.valid, true);
  assert.equal(packet.ipVersion, 4);
  assert.equal(formatIPv4(packet.src4), '10.100.25.14');
  assert.equal(formatIPv4(packet.dst4), '10.100.18.12');
  assert.equal(packet.protocol, IpProtocol.TCP);
  assert.equal(packet.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST), TcpFlag.SYN);
  assert.equal(packet.dstPort, 139);
  assert.equal(packet.tsUs, r.tsUs);
  let frames = 1;
  let syns = 1;
  for (const rec of records) {
    decodeFrame(packet, file, rec.offset, rec.length, rec.linkType, rec.tsUs, stats);
    frames++;
    if (packet.valid && packet.tcpFlags === TcpFlag.SYN) syns++;
  }
  assert.equal(stats.frames, frames);
  assert.equal(stats.malformed, 0, JSON.stringify(stats));
  assert.ok(syns >= 29, `${syns} SYNs`);
});

test('a timestamp before 1970, beyond 2^53 µs or NaN is frame.bad_timestamp: the frame is skipped, its time 0', () => {
  const frame = Buffer.alloc(60);
  frame.writeUInt16BE(0x0800, 12);
  frame[14] = 0x45;
  const packet = new Packet();
  const stats = new DecodeStats();
  for (const tsUs of [-1, Number.MAX_SAFE_INTEGER + 2, 0x7fffffff * 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY]) {
    decodeFrame(packet, frame, 0, frame.length, LinkType.ETHERNET, tsUs, stats);
    assert.equal(packet.valid, false, String(tsUs));
    assert.equal(packet.event, DecodeEvent['frame.bad_timestamp'], String(tsUs));
    assert.equal(packet.tsUs, 0);
  }
  assert.equal(stats.malformed, 5);
  for (const tsUs of [0, Number.MAX_SAFE_INTEGER, 1.7e15]) {
    decodeFrame(packet, frame, 0, frame.length, LinkType.ETHERNET, tsUs, stats);
    assert.notEqual(packet.event, DecodeEvent['frame.bad_timestamp'], String(tsUs));
    assert.equal(packet.tsUs, tsUs);
  }
});
