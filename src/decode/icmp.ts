import type { Packet } from '../model/packet.js';
import { DecodeEvent, type DecodeStats } from './events.js';
import { u16, u32 } from './bytes.js';
import { hashIPv6Signed } from '../net/address.js';
import { Ipv6Chain, walkIPv6Chain } from './ipv6-ext.js';

const ICMP_TRUNCATED = DecodeEvent['icmp.truncated'];
const ICMP_BAD_QUOTE = DecodeEvent['icmp.bad_quote'];
const ICMPV6_TRUNCATED = DecodeEvent['icmpv6.truncated'];
const ICMPV6_BAD_QUOTE = DecodeEvent['icmpv6.bad_quote'];

/** Reused for the quoted packet's chain; separate from the outer walk's so neither clobbers the other. */
const quoteChain = new Ipv6Chain();

/**
 * Decodes an ICMP (v4) header at `offset`, up to `end` (IP packet end, bounded by the capture).
 * Echo request/reply fill `icmpEchoId`; errors (unreachable, source quench, redirect, time
 * exceeded, parameter problem) decode the quoted IPv4 header and ports. A broken quote does not
 * make the outer packet malformed: the error itself is real traffic worth seeing.
 */
export function decodeIcmp(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 8) {
    p.event = ICMP_TRUNCATED;
    return;
  }
  const type = buf[offset];
  p.icmpType = type;
  p.icmpCode = buf[offset + 1];
  switch (type) {
    case 0: // echo reply
    case 8: // echo request
      p.icmpEchoId = u32(buf, offset + 4);
      break;
    case 3: // destination unreachable
    case 4: // source quench
    case 5: // redirect
    case 11: // time exceeded
    case 12: // parameter problem
      if (!quoteIPv4(p, buf, offset + 8, end)) stats.note(ICMP_BAD_QUOTE);
      break;
  }
}

/** Decodes an ICMPv6 header at `offset`; echo (128/129) and errors (1–4) as for ICMP. */
export function decodeIcmpv6(p: Packet, buf: Buffer, offset: number, end: number, stats: DecodeStats): void {
  if (end - offset < 8) {
    p.event = ICMPV6_TRUNCATED;
    return;
  }
  const type = buf[offset];
  p.icmpType = type;
  p.icmpCode = buf[offset + 1];
  switch (type) {
    case 128: // echo request
    case 129: // echo reply
      p.icmpEchoId = u32(buf, offset + 4);
      break;
    case 135: // neighbour solicitation: 4 reserved bytes (flags in an advertisement), then the target address
    case 136: // neighbour advertisement
      if (end - offset >= 24) p.ndTarget6Offset = offset + 8;
      break;
    case 1: // destination unreachable
    case 2: // packet too big
    case 3: // time exceeded
    case 4: // parameter problem
      if (!quoteIPv6(p, buf, offset + 8, end)) stats.note(ICMPV6_BAD_QUOTE);
      break;
  }
}

/**
 * Reads the IPv4 header an ICMP error quotes at `q` and, for TCP/UDP, its ports. Fills the
 * quoted fields only when the whole quote is usable, so `quotedProtocol` 0 means "no quote".
 * The quoted total length is not checked: routers quote only the start of the packet.
 */
function quoteIPv4(p: Packet, buf: Buffer, q: number, end: number): boolean {
  if (end - q < 20 || buf[q] >>> 4 !== 4) return false;
  const headerLength = (buf[q] & 15) << 2;
  if (headerLength < 20 || q + headerLength > end) return false;
  const protocol = buf[q + 9];
  const t = q + headerLength;
  // Ports exist only in a first fragment; 4 bytes are enough for them (RFC 792 promises 8).
  const hasPorts = (protocol === 6 || protocol === 17) && (u16(buf, q + 6) & 0x1fff) === 0;
  if (hasPorts && end - t < 4) return false;
  p.quotedProtocol = protocol;
  p.quotedSrc4 = u32(buf, q + 12);
  p.quotedDst4 = u32(buf, q + 16);
  if (hasPorts) {
    p.quotedSrcPort = u16(buf, t);
    p.quotedDstPort = u16(buf, t + 2);
  }
  return true;
}

/** As quoteIPv4 for an IPv6 quote, walking its extension-header chain to the transport header. */
function quoteIPv6(p: Packet, buf: Buffer, q: number, end: number): boolean {
  if (end - q < 40 || buf[q] >>> 4 !== 6) return false;
  if (walkIPv6Chain(buf, q + 40, end, buf[q + 6], quoteChain) !== 0) return false;
  const protocol = quoteChain.protocol;
  const t = quoteChain.offset;
  const hasPorts = (protocol === 6 || protocol === 17) && quoteChain.fragmentOffset === 0;
  if (hasPorts && end - t < 4) return false;
  p.quotedProtocol = protocol;
  p.quotedSrc6Offset = q + 8;
  p.quotedDst6Offset = q + 24;
  p.quotedSrc6Hash = hashIPv6Signed(buf, q + 8) >>> 0;
  p.quotedDst6Hash = hashIPv6Signed(buf, q + 24) >>> 0;
  if (hasPorts) {
    p.quotedSrcPort = u16(buf, t);
    p.quotedDstPort = u16(buf, t + 2);
  }
  return true;
}
