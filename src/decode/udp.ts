import type { Packet } from '../model/packet.js';
import { DecodeEvent } from './events.js';
import { u16 } from './bytes.js';

const TRUNCATED = DecodeEvent['udp.truncated'];
const BAD_LENGTH = DecodeEvent['udp.bad_length'];

/**
 * Decodes the UDP header at `offset`; `end` and `declaredEnd` as for TCP. The payload ends at the
 * UDP length (bytes after it inside the IP packet are not UDP's), bounded by the captured bytes.
 * In a first fragment the UDP length covers the whole datagram, so there it may exceed the packet.
 */
export function decodeUdp(p: Packet, buf: Buffer, offset: number, end: number, declaredEnd: number): void {
  if (end - offset < 8) {
    p.event = TRUNCATED;
    return;
  }
  const length = u16(buf, offset + 4);
  if (length < 8 || (offset + length > declaredEnd && !p.fragmented)) {
    p.event = BAD_LENGTH;
    return;
  }
  p.srcPort = u16(buf, offset);
  p.dstPort = u16(buf, offset + 2);
  const payloadEnd = offset + length < end ? offset + length : end;
  p.payloadOffset = offset + 8;
  p.payloadLength = payloadEnd - (offset + 8);
}
