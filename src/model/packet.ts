/**
 * The decoded view of one captured packet.
 *
 * One `Packet` is reused for every packet of a capture: the decoder overwrites its fields in
 * place, so the hot path allocates nothing per packet. Whoever keeps something beyond the call
 * that delivered the packet must copy it (addresses through `sourceKey()` / `formatAddress`).
 *
 * Addresses: IPv4 addresses are unsigned 32-bit numbers (`src4`, `dst4`). IPv6 addresses stay in
 * the capture buffer (`src6Offset`, `dst6Offset` into `buf`); `src6Hash`/`dst6Hash` are 32-bit
 * folds of them for hashing. Every layer not present is left at its reset value.
 */
export class Packet {
  /** Capture buffer that holds this packet's bytes; valid only during the call that delivered it. */
  buf: Buffer = Buffer.alloc(0);
  /** Offset of the first byte of the link-layer frame in `buf`. */
  frameOffset = 0;
  /** Captured bytes of the frame. */
  capturedLength = 0;
  /** Microseconds since the Unix epoch, from the capture (packet time, never the wall clock). */
  tsUs = 0;
  /** Index of the frame in its capture (0-based), for error messages. */
  frameIndex = 0;

  /** False when decoding stopped at a malformed layer; `event` names why. */
  valid = false;
  /** Decoder event of the first malformed layer, or 0 (DecodeEvent.none). */
  event = 0;

  /** 0 when no IP layer was found, else 4 or 6. */
  ipVersion: 0 | 4 | 6 = 0;
  src4 = 0;
  dst4 = 0;
  src6Offset = -1;
  dst6Offset = -1;
  src6Hash = 0;
  dst6Hash = 0;
  /** Transport protocol number (after the IPv6 extension-header chain). */
  protocol = 0;
  ttl = 0;
  /** IPv4 identification, or the IPv6 fragment header's identification (low 16 bits used for IPv4). */
  ipId = 0;
  /** True for a fragment that is not the first one: no transport header follows. */
  laterFragment = false;
  /** True for a first fragment with more to come (transport header present). */
  fragmented = false;
  /** Total IP packet length from its header (IPv4 total length, IPv6 40 + payload length). */
  ipLength = 0;

  srcPort = 0;
  dstPort = 0;
  /** TCP flags byte (FIN 0x01 … CWR 0x80). */
  tcpFlags = 0;
  seq = 0;
  ack = 0;
  window = 0;
  /** Bytes of TCP options (data offset × 4 − 20). */
  tcpOptionsLength = 0;
  /** MSS option value, or 0 when absent. */
  tcpMss = 0;
  /** SACK-permitted or timestamp option present: the mark of an operating system's own stack. */
  tcpOsOptions = false;

  icmpType = 0;
  icmpCode = 0;
  /** ICMP echo identifier and sequence (echo request / reply), else 0. */
  icmpEchoId = 0;
  /** ICMPv6 neighbour solicitation (135) or advertisement (136): offset in `buf` of the address asked or answered for, else -1. */
  ndTarget6Offset = -1;

  /**
   * ARP over Ethernet for IPv4 (ipVersion stays 0): 1 request (who-has), 2 reply, else 0. The
   * sender's and the asked-for protocol addresses are in `src4` and `dst4`.
   */
  arpOp = 0;
  /** An ARP packet sent to one station's MAC address, not broadcast (known only where the capture has the Ethernet header). */
  arpUnicast = false;

  /**
   * For ICMP/ICMPv6 errors: the header of the packet the error quotes. `quotedProtocol` is 0
   * when no usable quote was present. Addresses follow the same rules as the outer ones.
   */
  quotedProtocol = 0;
  quotedSrc4 = 0;
  quotedDst4 = 0;
  quotedSrc6Offset = -1;
  quotedDst6Offset = -1;
  quotedSrc6Hash = 0;
  quotedDst6Hash = 0;
  quotedSrcPort = 0;
  quotedDstPort = 0;

  /** Offset and length of the transport payload in `buf` (after TCP/UDP header). */
  payloadOffset = 0;
  payloadLength = 0;

  /** Reset every decoded field before the next decode. */
  reset(): void {
    this.valid = false;
    this.event = 0;
    this.ipVersion = 0;
    this.src4 = 0;
    this.dst4 = 0;
    this.src6Offset = -1;
    this.dst6Offset = -1;
    this.src6Hash = 0;
    this.dst6Hash = 0;
    this.protocol = 0;
    this.ttl = 0;
    this.ipId = 0;
    this.laterFragment = false;
    this.fragmented = false;
    this.ipLength = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.seq = 0;
    this.ack = 0;
    this.window = 0;
    this.tcpOptionsLength = 0;
    this.tcpMss = 0;
    this.tcpOsOptions = false;
    this.icmpType = 0;
    this.icmpCode = 0;
    this.icmpEchoId = 0;
    this.ndTarget6Offset = -1;
    this.arpOp = 0;
    this.arpUnicast = false;
    this.quotedProtocol = 0;
    this.quotedSrc4 = 0;
    this.quotedDst4 = 0;
    this.quotedSrc6Offset = -1;
    this.quotedDst6Offset = -1;
    this.quotedSrc6Hash = 0;
    this.quotedDst6Hash = 0;
    this.quotedSrcPort = 0;
    this.quotedDstPort = 0;
    this.payloadOffset = 0;
    this.payloadLength = 0;
  }
}

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export const IpProtocol = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ICMPV6: 58,
} as const;

/** Link-layer header types (LINKTYPE_* from tcpdump.org) that the decoder understands. */
export const LinkType = {
  NULL: 0, // BSD loopback, host byte order family
  ETHERNET: 1,
  RAW: 101, // raw IPv4 or IPv6, version from the first nibble
  LOOP: 108, // OpenBSD loopback, network byte order family
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
  /**
   * Private, never in a capture file: a bare ARP packet without its Ethernet header, as NFLOG hands
   * over what an nft `arp` family rule logged. Above every LINKTYPE_ number tcpdump.org assigns.
   */
  ARP: 0x10806,
} as const;
