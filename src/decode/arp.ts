import type { Packet } from '../model/packet.js';
import { u16, u32 } from './bytes.js';
import { DecodeEvent, type DecodeStats } from './events.js';

const ARP_TRUNCATED = DecodeEvent['arp.truncated'];
const NOT_IP = DecodeEvent['link.not_ip'];

/**
 * ARP (RFC 826) for IPv4 over Ethernet: hardware type 1, protocol 0x0800, address lengths 6 and 4,
 * 28 bytes. Sets `arpOp` and the sender/target protocol addresses in `src4`/`dst4`; `ipVersion` stays 0,
 * so everything that reads IP ignores it. Other hardware or protocol types are valid non-IP frames.
 */
export function decodeArp(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  stats.note(NOT_IP);
  if (end - offset < 8) {
    p.event = ARP_TRUNCATED;
    return;
  }
  if (u16(buf, offset) !== 1 || u16(buf, offset + 2) !== 0x0800 || buf[offset + 4] !== 6 || buf[offset + 5] !== 4) return;
  if (end - offset < 28) {
    p.event = ARP_TRUNCATED;
    return;
  }
  const op = u16(buf, offset + 6);
  if (op !== 1 && op !== 2) return;
  p.arpOp = op;
  p.src4 = u32(buf, offset + 14);
  p.dst4 = u32(buf, offset + 24);
}
