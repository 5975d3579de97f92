import type { Packet } from '../model/packet.js';
import { DecodeEvent, type DecodeStats } from './events.js';
import { u16 } from './bytes.js';
import { hashIPv6Signed } from '../net/address.js';
import { Ipv6Chain, walkIPv6Chain } from './ipv6-ext.js';
import { decodeTcp } from './tcp.js';
import { decodeUdp } from './udp.js';
import { decodeIcmpv6 } from './icmp.js';

const TRUNCATED = DecodeEvent['ipv6.truncated'];
const BAD_VERSION = DecodeEvent['ipv6.bad_version'];

const chain = new Ipv6Chain();

/**
 * Decodes the IPv6 header at `offset`, its extension-header chain and its transport header, up to
 * `capEnd`. Lengths follow the IPv4 rules (padding ignored, snapped packets decoded as far as they
 * go). `protocol` is the header after the chain; a fragment header sets `ipId`, and a
 * non-first fragment stops there (laterFragment, valid).
 */
export function decodeIPv6(p: Packet, buf: Buffer, offset: number, capEnd: number, stats: DecodeStats): void {
  if (capEnd - offset < 40) {
    p.event = TRUNCATED;
    return;
  }
  if (buf[offset] >>> 4 !== 6) {
    p.event = BAD_VERSION;
    return;
  }
  const payloadLength = u16(buf, offset + 4);
  const nextHeader = buf[offset + 6];
  // Payload length 0 with hop-by-hop options is a jumbogram (RFC 2675, length in an option) or
  // a segmentation-offload capture: the captured bytes are the best bound there is.
  const declaredEnd = payloadLength === 0 && nextHeader === 0 ? capEnd : offset + 40 + payloadLength;
  const end = declaredEnd < capEnd ? declaredEnd : capEnd;

  p.ipVersion = 6;
  p.ipLength = 40 + payloadLength;
  p.ttl = buf[offset + 7];
  p.src6Offset = offset + 8;
  p.dst6Offset = offset + 24;
  p.src6Hash = hashIPv6Signed(buf, offset + 8) >>> 0;
  p.dst6Hash = hashIPv6Signed(buf, offset + 24) >>> 0;

  const event = walkIPv6Chain(buf, offset + 40, end, nextHeader, chain);
  if (event !== 0) {
    p.event = event;
    return;
  }
  const protocol = chain.protocol;
  p.protocol = protocol;
  if (chain.fragment) {
    p.ipId = chain.fragmentId;
    if (chain.fragmentOffset !== 0) {
      p.laterFragment = true;
      return;
    }
    if (chain.moreFragments) p.fragmented = true;
  }

  const t = chain.offset;
  switch (protocol) {
    case 6:
      decodeTcp(p, buf, t, end, declaredEnd, stats);
      break;
    case 17:
      decodeUdp(p, buf, t, end, declaredEnd);
      break;
    case 58:
      decodeIcmpv6(p, buf, t, end, stats);
      break;
  }
}
