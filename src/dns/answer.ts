/**
 * Builds the packets that answer a blocked query in place of the real server: a DNS response over
 * UDP (NXDOMAIN, or a sinkhole address) and, for DNS over TCP, a RST to the client.
 *
 * The answer turns the query around: addresses and ports swapped, the query's id and question
 * copied, IPv4 and UDP/TCP checksums computed here (IPv6 has no header checksum; its UDP checksum
 * is mandatory). The daemon drops the query and sends the answer through a raw socket: a rewritten
 * query accepted in place would still follow the query's route (INPUT delivers it to no socket,
 * FORWARD sends it on toward the server).
 */
import type { Packet } from '../model/packet.js';
import { u16 } from '../decode/bytes.js';
import { checksum, pseudoHeaderSum } from '../decode/checksum.js';

export const DnsType = { A: 1, AAAA: 28 } as const;
export const Rcode = { NOERROR: 0, NXDOMAIN: 3 } as const;

export interface UdpAnswer {
  rcode: number;
  /** A record's address (4 bytes) for type A, 16 bytes for AAAA; null: no answer record. */
  address4: Uint8Array | null;
  address6: Uint8Array | null;
  ttlSeconds: number;
}

/**
 * The end of the first question in the DNS message at [start, end) (name without compression,
 * qtype, qclass), or -1 when the question cannot be copied as is.
 */
export function questionEnd(buf: Uint8Array, start: number, end: number): number {
  if (end - start < 12 || u16(buf, start + 4) < 1) return -1;
  let pos = start + 12;
  for (let octets = 1; ; ) {
    if (pos >= end) return -1;
    const length = buf[pos];
    if (length === 0) break;
    if ((length & 0xc0) !== 0) return -1;
    octets += length + 1;
    if (octets > 255) return -1;
    pos += length + 1;
  }
  pos += 1 + 4;
  return pos <= end ? pos : -1;
}

/**
 * The UDP response to the query `p` (a decoded UDP packet on port 53), as a complete IP packet
 * from the server to the client; null when the query cannot be answered (not a query, a question
 * with compression or cut short).
 */
export function buildUdpAnswer(p: Packet, answer: UdpAnswer): Buffer | null {
  const buf = p.buf;
  const start = p.payloadOffset;
  const end = Math.min(start + p.payloadLength, buf.length);
  const qEnd = questionEnd(buf, start, end);
  if (qEnd < 0) return null;
  const flags = u16(buf, start + 2);
  if ((flags & 0x8000) !== 0) return null;
  const qtype = u16(buf, qEnd - 4);
  const questionLength = qEnd - (start + 12);
  const rdata = answer.rcode === Rcode.NOERROR ? (qtype === DnsType.A ? answer.address4 : qtype === DnsType.AAAA ? answer.address6 : null) : null;
  const answerLength = rdata !== null ? 12 + rdata.length : 0;
  const dnsLength = 12 + questionLength + answerLength;

  const v6 = p.ipVersion === 6;
  const ipHeader = v6 ? 40 : 20;
  const out = Buffer.alloc(ipHeader + 8 + dnsLength);
  writeIpHeader(out, p, 17, out.length);
  const udp = ipHeader;
  out.writeUInt16BE(p.dstPort, udp);
  out.writeUInt16BE(p.srcPort, udp + 2);
  out.writeUInt16BE(8 + dnsLength, udp + 4);
  const dns = udp + 8;
  out[dns] = buf[start];
  out[dns + 1] = buf[start + 1];
  // QR, the query's opcode and RD; RA (we answer as a recursive server would); the rcode.
  const replyFlags = 0x8000 | (flags & 0x7900) | 0x0080 | (answer.rcode & 0x0f);
  out.writeUInt16BE(replyFlags, dns + 2);
  out.writeUInt16BE(1, dns + 4);
  out.writeUInt16BE(rdata !== null ? 1 : 0, dns + 6);
  out.set(buf.subarray(start + 12, qEnd), dns + 12);
  if (rdata !== null) {
    const rr = dns + 12 + questionLength;
    out.writeUInt16BE(0xc00c, rr); // the name: a pointer to the question's
    out.writeUInt16BE(qtype, rr + 2);
    out.writeUInt16BE(1, rr + 4); // IN
    out.writeUInt32BE(answer.ttlSeconds >>> 0, rr + 6);
    out.writeUInt16BE(rdata.length, rr + 10);
    out.set(rdata, rr + 12);
  }
  const sum = transportChecksum(out, v6, 17, udp, out.length - udp);
  out.writeUInt16BE(sum === 0 ? 0xffff : sum, udp + 6);
  return out;
}

/**
 * A RST from the server to the client of the TCP segment `p`, acceptable to the client (its
 * sequence number is the one the client acknowledged): ends a DNS-over-TCP connection whose query
 * was blocked. Null when the segment acknowledges nothing.
 */
export function buildTcpReset(p: Packet): Buffer | null {
  if ((p.tcpFlags & 0x10) === 0) return null;
  const v6 = p.ipVersion === 6;
  const ipHeader = v6 ? 40 : 20;
  const out = Buffer.alloc(ipHeader + 20);
  writeIpHeader(out, p, 6, out.length);
  const tcp = ipHeader;
  out.writeUInt16BE(p.dstPort, tcp);
  out.writeUInt16BE(p.srcPort, tcp + 2);
  out.writeUInt32BE(p.ack >>> 0, tcp + 4);
  out.writeUInt32BE((p.seq + p.payloadLength) >>> 0, tcp + 8);
  out[tcp + 12] = 5 << 4;
  out[tcp + 13] = 0x14; // RST, ACK
  out.writeUInt16BE(0, tcp + 14);
  out.writeUInt16BE(transportChecksum(out, v6, 6, tcp, 20), tcp + 16);
  return out;
}

/** The IP header of the reply: the query's addresses swapped. */
function writeIpHeader(out: Buffer, p: Packet, protocol: number, total: number): void {
  if (p.ipVersion === 6) {
    out.writeUInt32BE(0x60000000, 0);
    out.writeUInt16BE(total - 40, 4);
    out[6] = protocol;
    out[7] = 64;
    p.buf.copy(out, 8, p.dst6Offset, p.dst6Offset + 16);
    p.buf.copy(out, 24, p.src6Offset, p.src6Offset + 16);
    return;
  }
  out[0] = 0x45;
  out.writeUInt16BE(total, 2);
  out.writeUInt16BE(0x4000, 6); // DF
  out[8] = 64;
  out[9] = protocol;
  out.writeUInt32BE(p.dst4 >>> 0, 12);
  out.writeUInt32BE(p.src4 >>> 0, 16);
  out.writeUInt16BE(checksum(out, 0, 20, 0), 10);
}

/** The UDP/TCP checksum over the pseudo-header and [offset, offset + length). */
function transportChecksum(out: Buffer, v6: boolean, protocol: number, offset: number, length: number): number {
  return checksum(out, offset, length, pseudoHeaderSum(out, v6 ? 6 : 4, protocol, length));
}
