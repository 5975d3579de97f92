import { DecodeEvent } from './events.js';
import { u16, u32 } from './bytes.js';

/** Longer chains are an evasion or a resource attack, not traffic: the cap bounds the walk. */
export const MAX_IPV6_EXT_HEADERS = 8;

const EXT_TRUNCATED = DecodeEvent['ipv6.ext_header_truncated'];
const TOO_MANY = DecodeEvent['ipv6.too_many_ext_headers'];

/**
 * Where an IPv6 extension-header chain ended. One instance per caller, reused for every packet,
 * so the walk returns several values without allocating.
 */
export class Ipv6Chain {
  /** The protocol after the chain: transport, 50 (ESP), 59 (no next header), or whatever follows a later fragment. */
  protocol = 0;
  /** Offset of the header `protocol` names. */
  offset = 0;
  /** A fragment header was seen. */
  fragment = false;
  /** Its fragment offset in 8-octet units (0 for the first fragment). */
  fragmentOffset = 0;
  /** Its M (more fragments) flag. */
  moreFragments = false;
  /** Its identification, unsigned. */
  fragmentId = 0;
}

/**
 * Walks the extension headers starting at `offset` with `nextHeader`, within `end` (the IP packet
 * end, already bounded by the captured bytes). Returns 0 and fills `out`, or the malformed event.
 * Stops at ESP (its contents are encrypted) and at a non-first fragment (no upper header follows).
 */
export function walkIPv6Chain(buf: Buffer, offset: number, end: number, nextHeader: number, out: Ipv6Chain): number {
  out.fragment = false;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  out.fragmentId = 0;
  let o = offset;
  let nh = nextHeader;
  for (let count = 0; ; count++) {
    if (!isExtensionHeader(nh)) {
      out.protocol = nh;
      out.offset = o;
      return 0;
    }
    if (count === MAX_IPV6_EXT_HEADERS) return TOO_MANY;
    // Every extension header is at least 8 octets; the length byte is the second.
    if (end - o < 8) return EXT_TRUNCATED;
    const length = nh === 44 ? 8 : nh === 51 ? (buf[o + 1] + 2) << 2 : (buf[o + 1] + 1) << 3;
    if (o + length > end) return EXT_TRUNCATED;
    if (nh === 44) {
      const word = u16(buf, o + 2);
      out.fragment = true;
      out.fragmentOffset = word >>> 3;
      out.moreFragments = (word & 1) !== 0;
      out.fragmentId = u32(buf, o + 4);
      if (out.fragmentOffset !== 0) {
        out.protocol = buf[o];
        out.offset = o + 8;
        return 0;
      }
    }
    nh = buf[o];
    o += length;
  }
}

/**
 * Headers walked as part of the chain: hop-by-hop (0), routing (43), fragment (44), destination
 * options (60), mobility (135) and AH (51, length in 4-octet units + 2). ESP (50) and no next
 * header (59) end the chain like a transport protocol.
 */
function isExtensionHeader(nh: number): boolean {
  return nh === 0 || nh === 43 || nh === 44 || nh === 60 || nh === 51 || nh === 135;
}
