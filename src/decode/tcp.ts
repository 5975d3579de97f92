import type { Packet } from '../model/packet.js';
import { DecodeEvent, type DecodeStats } from './events.js';
import { u16, u32 } from './bytes.js';

const TRUNCATED = DecodeEvent['tcp.truncated'];
const BAD_DATA_OFFSET = DecodeEvent['tcp.bad_data_offset'];
const BAD_OPTIONS = DecodeEvent['tcp.bad_options'];

/**
 * Decodes the TCP header at `offset`. `end` is where the IP packet's bytes stop (its length,
 * bounded by the captured bytes); `declaredEnd` is where the IP header says the packet stops, so a
 * header cut by the snap length (options missing from a short capture) still yields ports and
 * flags, while a data offset that runs past the packet itself is malformed.
 */
export function decodeTcp(p: Packet, buf: Buffer, offset: number, end: number, declaredEnd: number, stats: DecodeStats): void {
  if (end - offset < 20) {
    p.event = TRUNCATED;
    return;
  }
  const headerLength = (buf[offset + 12] >>> 4) << 2;
  const headerEnd = offset + headerLength;
  if (headerLength < 20 || headerEnd > declaredEnd) {
    p.event = BAD_DATA_OFFSET;
    return;
  }
  p.srcPort = u16(buf, offset);
  p.dstPort = u16(buf, offset + 2);
  p.seq = u32(buf, offset + 4);
  p.ack = u32(buf, offset + 8);
  // The low 8 flag bits only: NS (in byte 12) is an ECN nonce experiment nobody classifies on.
  p.tcpFlags = buf[offset + 13];
  p.window = u16(buf, offset + 14);
  p.tcpOptionsLength = headerLength - 20;
  if (headerLength > 20) walkOptions(p, buf, offset + 20, headerEnd < end ? headerEnd : end, headerEnd, stats);
  p.payloadOffset = headerEnd;
  p.payloadLength = end > headerEnd ? end - headerEnd : 0;
}

/**
 * Reads the options the classifier uses. A malformed list is not fatal: the walk stops and a
 * notice is counted. Options cut off by the snap length (`end` < `headerEnd`) just end the walk.
 */
function walkOptions(p: Packet, buf: Buffer, start: number, end: number, headerEnd: number, stats: DecodeStats): void {
  let o = start;
  while (o < end) {
    const kind = buf[o];
    if (kind === 0) return; // end of option list
    if (kind === 1) {
      o++; // no-operation padding
      continue;
    }
    if (o + 1 >= end) {
      if (o + 1 >= headerEnd) stats.note(BAD_OPTIONS);
      return;
    }
    const length = buf[o + 1];
    if (length < 2 || o + length > headerEnd) {
      stats.note(BAD_OPTIONS);
      return;
    }
    if (o + length > end) return;
    switch (kind) {
      case 2: // MSS
        if (length === 4) p.tcpMss = u16(buf, o + 2);
        break;
      case 4: // SACK permitted
      case 8: // timestamps
        p.tcpOsOptions = true;
        break;
    }
    o += length;
  }
}
