import type { Packet } from '../model/packet.js';
import { DecodeEvent, type DecodeStats } from './events.js';
import { u16, u32 } from './bytes.js';
import { decodeTcp } from './tcp.js';
import { decodeUdp } from './udp.js';
import { decodeIcmp } from './icmp.js';

const TRUNCATED = DecodeEvent['ipv4.truncated'];
const BAD_VERSION = DecodeEvent['ipv4.bad_version'];
const BAD_HEADER_LENGTH = DecodeEvent['ipv4.bad_header_length'];
const BAD_TOTAL_LENGTH = DecodeEvent['ipv4.bad_total_length'];

/**
 * Decodes the IPv4 header at `offset` and its transport header, up to `capEnd` (end of the
 * captured bytes). Options are skipped, not parsed.
 *
 * Lengths: the packet ends at offset + total length. When that is before `capEnd` the rest is
 * link padding (Ethernet pads to 60 bytes) and is ignored; when it is after, the capture was
 * snapped and what is there is decoded without an event.
 *
 * Fragments: a non-first fragment carries no transport header (laterFragment, still valid); a
 * first fragment with more to come is decoded as usual and marked `fragmented`.
 */
export function decodeIPv4(p: Packet, buf: Buffer, offset: number, capEnd: number, stats: DecodeStats): void {
  if (capEnd - offset < 20) {
    p.event = TRUNCATED;
    return;
  }
  const versionIhl = buf[offset];
  if (versionIhl >>> 4 !== 4) {
    p.event = BAD_VERSION;
    return;
  }
  const headerLength = (versionIhl & 15) << 2;
  if (headerLength < 20) {
    p.event = BAD_HEADER_LENGTH;
    return;
  }
  if (offset + headerLength > capEnd) {
    p.event = TRUNCATED;
    return;
  }
  const totalLength = u16(buf, offset + 2);
  if (totalLength < headerLength) {
    p.event = BAD_TOTAL_LENGTH;
    return;
  }
  const declaredEnd = offset + totalLength;
  const end = declaredEnd < capEnd ? declaredEnd : capEnd;
  const protocol = buf[offset + 9];

  p.ipVersion = 4;
  p.ipLength = totalLength;
  p.ipId = u16(buf, offset + 4);
  p.ttl = buf[offset + 8];
  p.protocol = protocol;
  p.src4 = u32(buf, offset + 12);
  p.dst4 = u32(buf, offset + 16);

  const fragment = u16(buf, offset + 6);
  if ((fragment & 0x1fff) !== 0) {
    p.laterFragment = true;
    return;
  }
  if ((fragment & 0x2000) !== 0) p.fragmented = true;

  const t = offset + headerLength;
  switch (protocol) {
    case 6:
      decodeTcp(p, buf, t, end, declaredEnd, stats);
      break;
    case 17:
      decodeUdp(p, buf, t, end, declaredEnd);
      break;
    case 1:
      decodeIcmp(p, buf, t, end, stats);
      break;
  }
}
