import type { Packet } from '../model/packet.js';
import { DecodeEvent, type DecodeStats } from './events.js';
import { u16 } from './bytes.js';

const MALFORMED = DecodeEvent['dns.malformed'];

/** Compression pointers followed per name; real names need a handful, loops would need infinity. */
const MAX_POINTERS = 16;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire. */
const MAX_NAME_OCTETS = 255;

export interface DnsQuestion {
  /** Presentation form, lower case, no trailing dot ('' for the root); '.', '\\' and unprintable bytes escaped as \. \\ \DDD. */
  name: string;
  /** QTYPE (1 A, 28 AAAA, …). */
  type: number;
  /** QR bit. */
  isResponse: boolean;
  /** RCODE (low 4 bits of the flags). */
  rcode: number;
}

/**
 * For a UDP or TCP packet to or from port 53 (TCP: skip the 2-byte length prefix), the first
 * question's name in lower case without trailing dot, and its qtype; null when absent or
 * malformed (count a 'dns.malformed' event through the stats argument). Allocates only when
 * called (the hot path does not call it).
 *
 * "Absent" (no event): not port 53, not TCP/UDP, a later fragment, an empty payload (a bare
 * SYN or ACK), or a message without questions. A TCP payload is assumed to start a message.
 */
export function dnsQuestion(packet: Packet, stats?: DecodeStats): DnsQuestion | null {
  if (!packet.valid || packet.laterFragment) return null;
  if (packet.protocol !== 6 && packet.protocol !== 17) return null;
  if (packet.srcPort !== 53 && packet.dstPort !== 53) return null;
  if (packet.payloadLength === 0) return null;
  const buf = packet.buf;
  let start = packet.payloadOffset;
  let end = start + packet.payloadLength;
  if (end > buf.length) end = buf.length;
  if (packet.protocol === 6) {
    if (end - start < 2) return malformed(stats);
    const messageLength = u16(buf, start);
    start += 2;
    if (start + messageLength < end) end = start + messageLength;
  }
  const result = parseQuestion(buf, start, end);
  if (result === null) return malformed(stats);
  return result === ABSENT ? null : result;
}

const ABSENT = 'absent';

function malformed(stats: DecodeStats | undefined): null {
  stats?.note(MALFORMED);
  return null;
}

/** Parses the header and first question of the message in [start, end). */
function parseQuestion(buf: Buffer, start: number, end: number): DnsQuestion | typeof ABSENT | null {
  if (end - start < 12) return null;
  const flags = u16(buf, start + 2);
  if (u16(buf, start + 4) === 0) return ABSENT;

  const labels: string[] = [];
  let pos = start + 12;
  let resume = -1; // where the question continues after the first compression pointer
  let pointers = 0;
  let octets = 1; // the root label
  for (;;) {
    if (pos >= end) return null;
    const length = buf[pos];
    if (length === 0) {
      pos++;
      break;
    }
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= end || ++pointers > MAX_POINTERS) return null;
      if (resume < 0) resume = pos + 2;
      pos = start + (((length & 0x3f) << 8) | buf[pos + 1]);
      continue;
    }
    // 0x40 and 0x80 are the obsolete extended-label types: nobody sends them legitimately.
    if (kind !== 0) return null;
    if (pos + 1 + length > end) return null;
    octets += length + 1;
    if (octets > MAX_NAME_OCTETS) return null;
    labels.push(presentLabel(buf, pos + 1, pos + 1 + length));
    pos += 1 + length;
  }
  const q = resume >= 0 ? resume : pos;
  if (end - q < 4) return null;
  return {
    name: labels.join('.'),
    type: u16(buf, q),
    isResponse: (flags & 0x8000) !== 0,
    rcode: flags & 0x0f,
  };
}

/**
 * One label in presentation form, ASCII letters lower-cased. Escaping keeps a label that contains
 * a dot from posing as two labels ('evil.com' as one label must not match a rule for evil.com).
 */
function presentLabel(buf: Buffer, from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 0x20);
    else if (c === 0x2e || c === 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += '\\' + String(c).padStart(3, '0');
  }
  return out;
}
