import { LinkType, type Packet } from '../model/packet.js';
import { DecodeEvent, type DecodeStats } from './events.js';
import { decodeEthernet, decodeLoop, decodeNull, decodeRaw, decodeSll, decodeSll2 } from './link.js';
import { decodeIPv4 } from './ipv4.js';
import { decodeIPv6 } from './ipv6.js';
import { decodeArp } from './arp.js';

const BAD_BOUNDS = DecodeEvent['frame.bad_bounds'];
const LINK_UNSUPPORTED = DecodeEvent['link.unsupported'];
const BAD_TIMESTAMP = DecodeEvent['frame.bad_timestamp'];

/**
 * Packet time must be a count of microseconds that every later stage can do arithmetic and dates
 * with: not before the epoch, and exact in a double (2^53 µs is the year 2255; JavaScript dates end
 * at 8.64e15 ms, so anything up to here also formats). A corrupt pcapng timestamp is far outside.
 */
export const MAX_TIMESTAMP_US = Number.MAX_SAFE_INTEGER;

/**
 * Decodes one frame into `packet` (which is reset first). Never throws. Sets packet.valid,
 * packet.event, and counts in stats (frames++, decoded++ or malformed++ and counts[event]++).
 *
 * The frame is `buf[offset, offset + length)`; the packet keeps `buf` and offsets into it, so the
 * caller must not reuse that memory until it is done with the packet. Allocates nothing.
 */
export function decodeFrame(
  packet: Packet,
  buf: Buffer,
  offset: number,
  length: number,
  linkType: number,
  tsUs: number,
  stats: DecodeStats,
): void {
  packet.reset();
  packet.buf = buf;
  packet.frameOffset = offset;
  packet.capturedLength = length;
  packet.tsUs = tsUs;
  const end = offset + length;
  if (!(tsUs >= 0 && tsUs <= MAX_TIMESTAMP_US)) {
    // Skipped rather than clamped: a clamped time would be invented evidence (a probe "at" another
    // frame's time). Also catches NaN.
    packet.event = BAD_TIMESTAMP;
    packet.tsUs = 0;
  } else if (!(offset >= 0 && length >= 0 && end <= buf.length && Number.isInteger(offset) && Number.isInteger(length))) {
    // Every later bound check compares against `end`, so it must lie inside the buffer; a
    // fractional offset would index properties instead of bytes.
    packet.event = BAD_BOUNDS;
  } else {
    switch (linkType) {
      case LinkType.ETHERNET:
        decodeEthernet(packet, buf, offset, end, stats);
        break;
      case LinkType.LINUX_SLL:
        decodeSll(packet, buf, offset, end, stats);
        break;
      case LinkType.LINUX_SLL2:
        decodeSll2(packet, buf, offset, end, stats);
        break;
      case LinkType.RAW:
        decodeRaw(packet, buf, offset, end, stats);
        break;
      case LinkType.IPV4:
        decodeIPv4(packet, buf, offset, end, stats);
        break;
      case LinkType.IPV6:
        decodeIPv6(packet, buf, offset, end, stats);
        break;
      case LinkType.NULL:
        decodeNull(packet, buf, offset, end, stats);
        break;
      case LinkType.LOOP:
        decodeLoop(packet, buf, offset, end, stats);
        break;
      case LinkType.ARP:
        decodeArp(packet, buf, offset, end, stats);
        break;
      default:
        packet.event = LINK_UNSUPPORTED;
    }
  }
  packet.valid = packet.event === 0;
  stats.record(packet.event);
}
