/**
 * Builds the replies portwarden sends to a scanner's TCP SYN itself: whole IPv4 or IPv6 packets with
 * their TCP header and correct checksums, for a raw socket that sends them as they are.
 *
 * A reply goes from the probe's destination address and port back to its source address and port,
 * and acknowledges the SYN (ack = seq + 1), so the scanner's stack and nmap take it as an answer to
 * their probe:
 *   - syn-ack: SYN|ACK with an MSS option, as an open port answers (deception: closed ports look open);
 *   - try-harder: PSH|ACK carrying the configured text to the scanner's source port, as the seed
 *     firewall did with scapy (there with seq and ack 0; here acknowledging the SYN, so it is an
 *     answer the scanner's stack matches to its probe and tcpdump shows with the text).
 *
 * Nothing here throws on a probe that is not a SYN: `craftReply` returns null, the caller counts it.
 */
import { IpProtocol, TcpFlag, type Packet } from '../model/packet.js';
import { checksum, pseudoHeaderSum } from '../decode/checksum.js';

export type ReplyKind = 'syn-ack' | 'try-harder';

export interface ReplyOptions {
  /** Our initial sequence number (random per reply: an off-path guess must not fit). */
  isn: number;
  /** try-harder: the text's bytes. */
  payload?: Uint8Array;
  /** Hop limit / TTL; default 64 (Linux's). */
  ttl?: number;
  /** IPv4 identification; default 0 (the kernel fills one in for raw packets with ID 0). */
  ipId?: number;
}

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_HEADER = 20;
const MSS_OPTION = 4;
const WINDOW = 64240;
const MSS = 1460;

/** Whether `probe` is one `craftReply` answers: a valid IPv4 or IPv6 TCP SYN without ACK or RST. */
export function isAnswerableSyn(probe: Packet): boolean {
  return probe.valid && probe.protocol === IpProtocol.TCP && (probe.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN && (probe.ipVersion === 4 || probe.ipVersion === 6);
}

/**
 * The reply to `probe` (a decoded, valid TCP SYN without ACK), or null when the probe is anything
 * else. The probe's buffer is only read.
 */
export function craftReply(probe: Packet, kind: ReplyKind, options: ReplyOptions): Buffer | null {
  if (!isAnswerableSyn(probe)) return null;
  if (probe.ipVersion !== 4 && probe.ipVersion !== 6) return null; // narrows the type (checked above)
  const payload = kind === 'try-harder' ? (options.payload ?? new Uint8Array(0)) : new Uint8Array(0);
  const tcpLength = TCP_HEADER + (kind === 'syn-ack' ? MSS_OPTION : 0) + payload.length;
  const ipHeader = probe.ipVersion === 4 ? IPV4_HEADER : IPV6_HEADER;
  const out = Buffer.alloc(ipHeader + tcpLength);
  const ttl = options.ttl ?? 64;

  if (probe.ipVersion === 4) {
    out[0] = 0x45;
    out.writeUInt16BE(out.length, 2);
    out.writeUInt16BE((options.ipId ?? 0) & 0xffff, 4);
    out.writeUInt16BE(0x4000, 6); // don't fragment
    out[8] = ttl;
    out[9] = IpProtocol.TCP;
    out.writeUInt32BE(probe.dst4 >>> 0, 12);
    out.writeUInt32BE(probe.src4 >>> 0, 16);
    out.writeUInt16BE(checksum(out, 0, IPV4_HEADER, 0), 10);
  } else {
    out.writeUInt32BE(0x60000000, 0);
    out.writeUInt16BE(tcpLength, 4);
    out[6] = IpProtocol.TCP;
    out[7] = ttl;
    probe.buf.copy(out, 8, probe.dst6Offset, probe.dst6Offset + 16);
    probe.buf.copy(out, 24, probe.src6Offset, probe.src6Offset + 16);
  }

  const t = ipHeader;
  out.writeUInt16BE(probe.dstPort, t);
  out.writeUInt16BE(probe.srcPort, t + 2);
  out.writeUInt32BE(options.isn >>> 0, t + 4);
  out.writeUInt32BE((probe.seq + 1) >>> 0, t + 8);
  out[t + 12] = ((kind === 'syn-ack' ? TCP_HEADER + MSS_OPTION : TCP_HEADER) / 4) << 4;
  out[t + 13] = kind === 'syn-ack' ? TcpFlag.SYN | TcpFlag.ACK : TcpFlag.PSH | TcpFlag.ACK;
  out.writeUInt16BE(WINDOW, t + 14);
  if (kind === 'syn-ack') {
    out[t + 20] = 2; // MSS
    out[t + 21] = 4;
    out.writeUInt16BE(MSS, t + 22);
  } else {
    out.set(payload, t + TCP_HEADER);
  }
  out.writeUInt16BE(checksum(out, t, tcpLength, pseudoHeaderSum(out, probe.ipVersion, IpProtocol.TCP, tcpLength)), t + 16);
  return out;
}

