/**
 * Frame builders for the decoder tests (used only by *.test.ts): each layer is written byte by
 * byte from a small spec, so a test reads as "this header, these fields" and can break exactly
 * one field. Checksums are left zero: the decoder does not verify them.
 */
import { Packet, LinkType } from '../../src/model/packet.js';
import { DecodeStats } from '../../src/decode/events.js';
import { decodeFrame } from '../../src/decode/decoder.js';
import { parseAddressBytes } from '../../src/net/address.js';

export type Bytes = ArrayLike<number>;

export function concat(...parts: Bytes[]): Buffer {
  const out: number[] = [];
  for (const part of parts) for (let i = 0; i < part.length; i++) out.push(part[i]);
  return Buffer.from(out);
}

export function be16(n: number): number[] {
  return [(n >>> 8) & 255, n & 255];
}

export function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

export function v4(text: string): number {
  const a = parseAddressBytes(text);
  if (a === null || a.version !== 4) throw new Error(`not an IPv4 address: ${text}`);
  return a.v4;
}

export function v6(text: string): Uint8Array {
  const a = parseAddressBytes(text);
  if (a === null || a.version !== 6) throw new Error(`not an IPv6 address: ${text}`);
  return a.v6;
}

export const MAC_DST = [0x00, 0x03, 0xff, 0x6c, 0x8b, 0x24];
export const MAC_SRC = [0x00, 0x15, 0xc5, 0x3c, 0x4f, 0x9e];

export const EtherType = { IPV4: 0x0800, IPV6: 0x86dd, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, QINQ_OLD: 0x9100 } as const;

export function ethernet(etherType: number, payload: Bytes): Buffer {
  return concat(MAC_DST, MAC_SRC, be16(etherType), payload);
}

/** Ethernet frame with stacked tags: `tpids[0]` outermost; VLAN ids 100, 101, … */
export function vlanEthernet(tpids: number[], innerType: number, payload: Bytes): Buffer {
  const types = [...tpids, innerType];
  const body: number[] = [];
  for (let i = 1; i < types.length; i++) body.push(...be16(100 + i - 1), ...be16(types[i]));
  return concat(MAC_DST, MAC_SRC, be16(types[0]), body, payload);
}

/** Linux cooked v1: packet type 0 (to us), ARPHRD_ETHER, 6-byte address. */
export function sll(protocol: number, payload: Bytes): Buffer {
  return concat(be16(0), be16(1), be16(6), MAC_SRC, [0, 0], be16(protocol), payload);
}

/** Linux cooked v2: protocol, reserved, ifindex 2, ARPHRD_ETHER, packet type 0, 6-byte address. */
export function sll2(protocol: number, payload: Bytes): Buffer {
  return concat(be16(protocol), [0, 0], be32(2), be16(1), [0], [6], MAC_SRC, [0, 0], payload);
}

/** BSD loopback with the family in the given byte order. */
export function nullLoopback(family: number, littleEndian: boolean, payload: Bytes): Buffer {
  const f = be32(family);
  return concat(littleEndian ? f.reverse() : f, payload);
}

export interface Ipv4Spec {
  src?: string;
  dst?: string;
  protocol: number;
  ttl?: number;
  id?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In 8-octet units. */
  fragmentOffset?: number;
  /** Raw option bytes, padded here to a multiple of 4. */
  options?: number[];
  /** Override of the computed total length. */
  totalLength?: number;
  /** Override of the computed IHL (32-bit words). */
  ihl?: number;
  version?: number;
}

export function ipv4(spec: Ipv4Spec, payload: Bytes): Buffer {
  const options = [...(spec.options ?? [])];
  while (options.length % 4 !== 0) options.push(0);
  const ihl = spec.ihl ?? 5 + options.length / 4;
  const total = spec.totalLength ?? 20 + options.length + payload.length;
  const flags = (spec.dontFragment ? 0x4000 : 0) | (spec.moreFragments ? 0x2000 : 0) | (spec.fragmentOffset ?? 0);
  return concat(
    [((spec.version ?? 4) << 4) | (ihl & 15), 0],
    be16(total),
    be16(spec.id ?? 0x1234),
    be16(flags),
    [spec.ttl ?? 64, spec.protocol],
    [0, 0],
    be32(v4(spec.src ?? '192.0.2.1')),
    be32(v4(spec.dst ?? '198.51.100.2')),
    options,
    payload,
  );
}

export interface Ipv6Spec {
  src?: string;
  dst?: string;
  nextHeader: number;
  hopLimit?: number;
  /** Override of the computed payload length. */
  payloadLength?: number;
  version?: number;
}

export function ipv6(spec: Ipv6Spec, payload: Bytes): Buffer {
  return concat(
    [(spec.version ?? 6) << 4, 0, 0, 0],
    be16(spec.payloadLength ?? payload.length),
    [spec.nextHeader, spec.hopLimit ?? 64],
    v6(spec.src ?? '2001:db8::1'),
    v6(spec.dst ?? '2001:db8::2'),
    payload,
  );
}

/** Hop-by-hop (0), routing (43), destination options (60) or mobility (135): `units` × 8 octets + 8. */
export function optionsHeader(next: number, units = 0): number[] {
  const body = new Array<number>(6 + units * 8).fill(0);
  body[0] = 1; // one PadN option filling the body, so the header is well formed
  body[1] = body.length - 2;
  return [next, units, ...body];
}

export function fragmentHeader(next: number, offsetUnits: number, more: boolean, id: number): number[] {
  return [next, 0, ...be16((offsetUnits << 3) | (more ? 1 : 0)), ...be32(id)];
}

/** Authentication header with `icvWords` 32-bit words of ICV (length field = 1 + icvWords). */
export function authenticationHeader(next: number, icvWords = 1): number[] {
  return [next, 1 + icvWords, 0, 0, ...be32(0x100), ...be32(1), ...new Array<number>(icvWords * 4).fill(0)];
}

export interface TcpSpec {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  flags: number;
  window?: number;
  /** Raw option bytes, padded here with EOL to a multiple of 4. */
  options?: number[];
  /** Override of the computed data offset (32-bit words). */
  dataOffset?: number;
}

export function tcp(spec: TcpSpec, payload: Bytes = []): Buffer {
  const options = [...(spec.options ?? [])];
  while (options.length % 4 !== 0) options.push(0);
  const dataOffset = spec.dataOffset ?? 5 + options.length / 4;
  return concat(
    be16(spec.srcPort),
    be16(spec.dstPort),
    be32(spec.seq ?? 0),
    be32(spec.ack ?? 0),
    [dataOffset << 4, spec.flags],
    be16(spec.window ?? 1024),
    [0, 0, 0, 0],
    options,
    payload,
  );
}

export function udp(spec: { srcPort: number; dstPort: number; length?: number }, payload: Bytes = []): Buffer {
  return concat(be16(spec.srcPort), be16(spec.dstPort), be16(spec.length ?? 8 + payload.length), [0, 0], payload);
}

/** ICMP or ICMPv6: type, code, zero checksum, the 32-bit rest-of-header word, then the body. */
export function icmp(type: number, code: number, rest: number, body: Bytes = []): Buffer {
  return concat([type, code, 0, 0], be32(rest), body);
}

export interface DnsSpec {
  id?: number;
  response?: boolean;
  rcode?: number;
  /** Dotted name, or raw wire bytes for the question name. */
  name: string | number[];
  type: number;
  /** Extra bytes after the question (answers, garbage). */
  tail?: number[];
  questions?: number;
}

export function dnsName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split('.').filter((l) => l !== '')) {
    out.push(label.length, ...Buffer.from(label, 'latin1'));
  }
  out.push(0);
  return out;
}

export function dnsMessage(spec: DnsSpec): Buffer {
  const flags = (spec.response ? 0x8000 : 0) | 0x0100 | (spec.rcode ?? 0);
  const name = typeof spec.name === 'string' ? dnsName(spec.name) : spec.name;
  return concat(
    be16(spec.id ?? 0xbeef),
    be16(flags),
    be16(spec.questions ?? 1),
    be16(spec.response ? 1 : 0),
    be16(0),
    be16(0),
    name,
    be16(spec.type),
    be16(1),
    spec.tail ?? [],
  );
}

/** Decodes one frame with fresh state, as the pipeline would. */
export function decodeOne(frame: Buffer, linkType: number = LinkType.ETHERNET): { packet: Packet; stats: DecodeStats } {
  const packet = new Packet();
  const stats = new DecodeStats();
  decodeFrame(packet, frame, 0, frame.length, linkType, 1_700_000_000_000_000, stats);
  return { packet, stats };
}

export const MAC_BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

export interface ArpSpec {
  /** 1 request (who-has), 2 reply. */
  op: 1 | 2;
  sender: string;
  target: string;
  senderMac?: number[];
  targetMac?: number[];
}

/** An ARP packet for IPv4 over Ethernet (28 bytes), without the Ethernet header. */
export function arpPacket(spec: ArpSpec): Buffer {
  return concat(be16(1), be16(0x0800), [6, 4], be16(spec.op), spec.senderMac ?? MAC_SRC, be32(v4(spec.sender)), spec.targetMac ?? [0, 0, 0, 0, 0, 0], be32(v4(spec.target)));
}

/** The ARP packet in an Ethernet frame: a request to the broadcast address unless `to` says otherwise. */
export function arpFrame(spec: ArpSpec, to: number[] = spec.op === 1 ? MAC_BROADCAST : MAC_DST): Buffer {
  return concat(to, spec.senderMac ?? MAC_SRC, be16(EtherType.ARP), arpPacket(spec));
}
