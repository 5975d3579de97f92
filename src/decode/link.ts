import type { Packet } from '../model/packet.js';
import { DecodeEvent, type DecodeStats } from './events.js';
import { u16, u32 } from './bytes.js';
import { decodeIPv4 } from './ipv4.js';
import { decodeIPv6 } from './ipv6.js';
import { decodeArp } from './arp.js';

/** More stacked tags than QinQ plus slack is not a network, it is an evasion attempt. */
export const MAX_VLAN_TAGS = 4;

const ETHERNET_TRUNCATED = DecodeEvent['ethernet.truncated'];
const VLAN_TRUNCATED = DecodeEvent['vlan.truncated'];
const VLAN_TOO_MANY_TAGS = DecodeEvent['vlan.too_many_tags'];
const SLL_TRUNCATED = DecodeEvent['sll.truncated'];
const SLL2_TRUNCATED = DecodeEvent['sll2.truncated'];
const LOOPBACK_TRUNCATED = DecodeEvent['loopback.truncated'];
const RAW_TRUNCATED = DecodeEvent['raw.truncated'];
const RAW_BAD_VERSION = DecodeEvent['raw.bad_version'];
const NOT_IP = DecodeEvent['link.not_ip'];

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;

/** Ethernet II: 14-byte header, EtherType at 12. */
export function decodeEthernet(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 14) {
    p.event = ETHERNET_TRUNCATED;
    return;
  }
  decodeEtherType(p, buf, offset + 14, end, u16(buf, offset + 12), stats);
  if (p.arpOp !== 0) p.arpUnicast = u32(buf, offset) !== 0xffffffff || u16(buf, offset + 4) !== 0xffff;
}

/**
 * Dispatches on an EtherType, first peeling 802.1Q (0x8100), 802.1ad (0x88a8) and the old QinQ
 * 0x9100 tags. Shared by Ethernet and the Linux cooked headers, whose protocol field is an
 * EtherType too. Anything that is not IP (ARP, LLDP, 802.3 lengths …) is a valid frame without an
 * IP layer.
 */
export function decodeEtherType(p: Packet, buf: Buffer, offset: number, end: number, etherType: number, stats: DecodeStats): void {
  let type = etherType;
  let o = offset;
  for (let tags = 0; type === 0x8100 || type === 0x88a8 || type === 0x9100; tags++) {
    if (tags === MAX_VLAN_TAGS) {
      p.event = VLAN_TOO_MANY_TAGS;
      return;
    }
    if (end - o < 4) {
      p.event = VLAN_TRUNCATED;
      return;
    }
    type = u16(buf, o + 2);
    o += 4;
  }
  if (type === ETHERTYPE_IPV4) decodeIPv4(p, buf, o, end, stats);
  else if (type === ETHERTYPE_IPV6) decodeIPv6(p, buf, o, end, stats);
  else if (type === ETHERTYPE_ARP) decodeArp(p, buf, o, end, stats);
  else stats.note(NOT_IP);
}

/** Linux cooked capture v1: 16-byte header, protocol (an EtherType) at 14. */
export function decodeSll(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 16) {
    p.event = SLL_TRUNCATED;
    return;
  }
  decodeEtherType(p, buf, offset + 16, end, u16(buf, offset + 14), stats);
}

/** Linux cooked capture v2: 20-byte header, protocol (an EtherType) at 0. */
export function decodeSll2(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 20) {
    p.event = SLL2_TRUNCATED;
    return;
  }
  decodeEtherType(p, buf, offset + 20, end, u16(buf, offset), stats);
}

/**
 * BSD loopback (LINKTYPE_NULL): a 4-byte address family in the byte order of the machine that
 * captured, which the file does not record, so both orders are accepted. AF_INET is 2 everywhere;
 * AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD) or 30 (macOS). Other families are not IP.
 */
export function decodeNull(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 4) {
    p.event = LOOPBACK_TRUNCATED;
    return;
  }
  const big = u32(buf, offset);
  const little = (buf[offset] | (buf[offset + 1] << 8) | (buf[offset + 2] << 16) | (buf[offset + 3] << 24)) >>> 0;
  // Families are small numbers: whichever reading is small is the capturing host's byte order.
  const family = big <= 0xffff ? big : little;
  dispatchFamily(p, buf, offset + 4, end, family, stats);
}

/** OpenBSD loopback (LINKTYPE_LOOP): as NULL, but the family is in network byte order. */
export function decodeLoop(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 4) {
    p.event = LOOPBACK_TRUNCATED;
    return;
  }
  dispatchFamily(p, buf, offset + 4, end, u32(buf, offset), stats);
}

function dispatchFamily(p: Packet, buf: Buffer, offset: number, end: number, family: number, stats: DecodeStats): void {
  if (family === 2) decodeIPv4(p, buf, offset, end, stats);
  else if (family === 24 || family === 28 || family === 30) decodeIPv6(p, buf, offset, end, stats);
  else stats.note(NOT_IP);
}

/** Raw IP (LINKTYPE_RAW): no link header, the version nibble says which IP. */
export function decodeRaw(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 1) {
    p.event = RAW_TRUNCATED;
    return;
  }
  const version = buf[offset] >>> 4;
  if (version === 4) decodeIPv4(p, buf, offset, end, stats);
  else if (version === 6) decodeIPv6(p, buf, offset, end, stats);
  else p.event = RAW_BAD_VERSION;
}
