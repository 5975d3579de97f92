/**
 * Benchmark input generators: large, reproducible Ethernet captures written at millions of frames
 * per second. Frames are built directly in the output buffer (no per-frame allocation); payload
 * bytes come from one pre-generated random block whose running 16-bit word sums are precomputed,
 * so every checksum (IPv4 header, TCP, UDP, ICMP) is correct at the cost of summing headers only.
 *
 *   npx tsx bench/generate.ts mixed /tmp/mixed.pcap 1000000 [seed]
 *   npx tsx bench/generate.ts flood /tmp/flood.pcap 1000000 [seed]
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../scripts/frames.js';

export interface GenerateResult {
  /** Frames written. */
  frames: number;
  /** Bytes of the whole file (pcap headers included). */
  bytes: number;
}

/** 2026-01-01T00:00:00Z in microseconds. */
export const T0 = Date.UTC(2026, 0, 1) * 1000;

// ---------------------------------------------------------------------------------------------
// PRNG and address mixing


/** A bijection on 32-bit integers (each step is invertible), so distinct inputs give distinct outputs. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export function ip4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Output: classic pcap, little-endian, microseconds, frames built in place

export class FrameSink {
  readonly buf = Buffer.allocUnsafe(8 << 20);
  readonly #fd: number;
  #used = 0;
  frames = 0;
  bytes = 24;

  constructor(path: string) {
    this.#fd = openSync(path, 'w');
    const h = Buffer.alloc(24);
    h.writeUInt32LE(0xa1b2c3d4, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(65535, 16);
    h.writeUInt32LE(1, 20); // Ethernet
    writeSync(this.#fd, h);
  }

  /** Makes room for a frame of up to `max` bytes; returns the offset at which to build it. */
  begin(max: number): number {
    if (this.#used + 16 + max > this.buf.length) this.#flush();
    return this.#used + 16;
  }

  /** Finishes the frame built at the offset `begin` returned. */
  commit(tsUs: number, len: number): void {
    const b = this.buf;
    const o = this.#used;
    const sec = Math.floor(tsUs / 1e6);
    b.writeUInt32LE(sec >>> 0, o);
    b.writeUInt32LE(tsUs - sec * 1e6, o + 4);
    b.writeUInt32LE(len, o + 8);
    b.writeUInt32LE(len, o + 12);
    this.#used = o + 16 + len;
    this.frames++;
    this.bytes += 16 + len;
  }

  close(): void {
    this.#flush();
    closeSync(this.#fd);
  }

  #flush(): void {
    if (this.#used > 0) writeSync(this.#fd, this.buf, 0, this.#used);
    this.#used = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// In-place frame writers

const PAYLOAD_SIZE = 1 << 16;

/** Random payload bytes and their running word sums (cum[i] = sum of the first i 16-bit words). */
export class PayloadBlock {
  readonly bytes: Buffer;
  readonly cum: Float64Array;

  constructor(seed: number) {
    const r = mulberry32(seed);
    this.bytes = Buffer.allocUnsafe(PAYLOAD_SIZE);
    for (let i = 0; i < PAYLOAD_SIZE; i++) this.bytes[i] = r() & 0xff;
    this.cum = new Float64Array(PAYLOAD_SIZE / 2 + 1);
    for (let i = 0; i < PAYLOAD_SIZE / 2; i++) this.cum[i + 1] = this.cum[i] + ((this.bytes[2 * i] << 8) | this.bytes[2 * i + 1]);
  }

  /** Word sum of the first `len` bytes (odd length padded with a zero byte). */
  sum(len: number): number {
    const s = this.cum[len >> 1];
    return len & 1 ? s + (this.bytes[len - 1] << 8) : s;
  }
}

export function words(b: Buffer, o: number, n: number): number {
  let s = 0;
  const end = o + (n & ~1);
  for (let i = o; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (n & 1) s += b[end] << 8;
  return s;
}

export function fold(s: number): number {
  s = (s & 0xffff) + Math.floor(s / 65536);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function put16(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function put32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Ethernet header with MACs 02:00:<IPv4 address> of each end. Returns 14. */
function ethernet(b: Buffer, o: number, src: number, dst: number): number {
  b[o] = 0x02;
  b[o + 1] = 0;
  put32(b, o + 2, dst);
  b[o + 6] = 0x02;
  b[o + 7] = 0;
  put32(b, o + 8, src);
  b[o + 12] = 0x08;
  b[o + 13] = 0x00;
  return 14;
}

/** 20-byte IPv4 header with checksum. Returns 20. */
function ipv4(b: Buffer, o: number, total: number, id: number, df: boolean, ttl: number, proto: number, src: number, dst: number): number {
  b[o] = 0x45;
  b[o + 1] = 0;
  put16(b, o + 2, total);
  put16(b, o + 4, id);
  b[o + 6] = df ? 0x40 : 0;
  b[o + 7] = 0;
  b[o + 8] = ttl;
  b[o + 9] = proto;
  b[o + 10] = 0;
  b[o + 11] = 0;
  put32(b, o + 12, src);
  put32(b, o + 16, dst);
  const s = 0x4500 + total + id + (df ? 0x4000 : 0) + ((ttl << 8) | proto) + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  put16(b, o + 10, fold(s));
  return 20;
}

export const OPT_NONE = 0;
export const OPT_MSS = 1; // 4 bytes: what scanners send
export const OPT_LINUX_SYN = 2; // 20 bytes: mss, sackOK, TS, nop, wscale
export const OPT_TS = 3; // 12 bytes: nop, nop, TS
export const OPT_LEN = [0, 4, 20, 12];

export function pseudo(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/**
 * Ethernet + IPv4 + TCP frame with `payLen` bytes from `pay`. Returns the frame length.
 */
export function tcpFrame(
  b: Buffer,
  o: number,
  pay: PayloadBlock,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  win: number,
  opt: number,
  tsVal: number,
  tsEcr: number,
  payLen: number,
  ttl: number,
  id: number,
  df: boolean,
): number {
  const optLen = OPT_LEN[opt];
  const segLen = 20 + optLen + payLen;
  let p = o + ethernet(b, o, src, dst);
  p += ipv4(b, p, 20 + segLen, id, df, ttl, 6, src, dst);
  const t = p;
  put16(b, t, sport);
  put16(b, t + 2, dport);
  put32(b, t + 4, seq);
  put32(b, t + 8, ack);
  b[t + 12] = ((20 + optLen) >> 2) << 4;
  b[t + 13] = flags;
  put16(b, t + 14, win);
  b[t + 16] = 0;
  b[t + 17] = 0;
  b[t + 18] = 0;
  b[t + 19] = 0;
  let q = t + 20;
  if (opt === OPT_MSS) {
    b[q] = 2;
    b[q + 1] = 4;
    put16(b, q + 2, 1460);
  } else if (opt === OPT_LINUX_SYN) {
    b[q] = 2;
    b[q + 1] = 4;
    put16(b, q + 2, 1460);
    b[q + 4] = 4;
    b[q + 5] = 2;
    b[q + 6] = 8;
    b[q + 7] = 10;
    put32(b, q + 8, tsVal);
    put32(b, q + 12, tsEcr);
    b[q + 16] = 1;
    b[q + 17] = 3;
    b[q + 18] = 3;
    b[q + 19] = 7;
  } else if (opt === OPT_TS) {
    b[q] = 1;
    b[q + 1] = 1;
    b[q + 2] = 8;
    b[q + 3] = 10;
    put32(b, q + 4, tsVal);
    put32(b, q + 8, tsEcr);
  }
  q += optLen;
  if (payLen > 0) pay.bytes.copy(b, q, 0, payLen);
  const s = pseudo(src, dst, 6, segLen) + words(b, t, 20 + optLen) + pay.sum(payLen);
  put16(b, t + 16, fold(s));
  return q + payLen - o;
}

/** Ethernet + IPv4 + UDP frame carrying `payload[0, len)` of an arbitrary buffer. Returns the frame length. */
function udpFrame(
  b: Buffer,
  o: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  payload: Buffer,
  payOff: number,
  len: number,
  ttl: number,
  id: number,
): number {
  let p = o + ethernet(b, o, src, dst);
  p += ipv4(b, p, 28 + len, id, true, ttl, 17, src, dst);
  put16(b, p, sport);
  put16(b, p + 2, dport);
  put16(b, p + 4, 8 + len);
  b[p + 6] = 0;
  b[p + 7] = 0;
  payload.copy(b, p + 8, payOff, payOff + len);
  const c = fold(pseudo(src, dst, 17, 8 + len) + words(b, p, 8 + len));
  put16(b, p + 6, c === 0 ? 0xffff : c);
  return 14 + 28 + len;
}

/** ICMP port unreachable from `src` quoting `quote[0, 28)` (an IPv4 header + 8 bytes). */
function icmpUnreachableFrame(b: Buffer, o: number, src: number, dst: number, quote: Buffer, id: number): number {
  let p = o + ethernet(b, o, src, dst);
  p += ipv4(b, p, 20 + 8 + 28, id, false, 64, 1, src, dst);
  b[p] = 3;
  b[p + 1] = 3;
  b.fill(0, p + 2, p + 8);
  quote.copy(b, p + 8, 0, 28);
  put16(b, p + 2, fold(words(b, p, 36)));
  return 14 + 20 + 36;
}

// ---------------------------------------------------------------------------------------------
// DNS messages (prebuilt per name; only the ID changes)

function dnsMessages(names: readonly string[]): { queries: Buffer[]; answers: Buffer[] } {
  const queries: Buffer[] = [];
  const answers: Buffer[] = [];
  names.forEach((name, i) => {
    const qname = Buffer.concat([...name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]), Buffer.from([0])]);
    const head = Buffer.from([0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const tail = Buffer.from([0, 1, 0, 1]);
    const q = Buffer.concat([head, qname, tail]);
    const a = Buffer.from(q);
    a[2] = 0x81;
    a[3] = 0x80;
    a[7] = 1;
    const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 198, 51, 100, 1 + (i % 50)]);
    queries.push(q);
    answers.push(Buffer.concat([a, rr]));
  });
  return { queries, answers };
}

// ---------------------------------------------------------------------------------------------
// Mixed traffic

interface Session {
  client: number;
  server: number;
  cport: number;
  sport: number;
  cseq: number;
  sseq: number;
  cts: number;
  sts: number;
  cid: number;
  sid: number;
  ttlC: number;
  state: number;
  reqLen: number;
  respLeft: number;
  unacked: number;
}

interface Scanner {
  addr: number;
  kind: 0 | 1 | 2; // SYN, FIN, UDP
  target: number;
  targetIsServer: boolean;
  sport: number;
  cursor: number;
  offset: number;
  ttl: number;
}

/** An answer waiting for its packet time. */
interface Pending {
  due: number;
  kind: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  /** DNS: name index; TCP: sequence or acknowledgement number. */
  x: number;
  /** DNS: message ID; scanner RST: its TTL. */
  y: number;
  quote: Buffer;
}

const P_DNS = 0;
const P_RST_ACK = 1;
const P_SYN_ACK = 2;
const P_RST = 3;
const P_ICMP = 4;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const MAX_FRAME = 14 + 20 + 60 + 1500;

/**
 * Mixed traffic: about 90% of frames from benign TCP sessions between 2,000 clients (10.1.0.0/16)
 * and 50 servers (198.51.100.1-50; handshake with Linux options, request, 1-4 response segments,
 * FIN exchange, 256 sessions interleaved), about 5% DNS query/answer pairs with the resolver
 * 198.51.100.53, about 5% scanning: 20 scanners (203.0.113.1-20) doing SYN, FIN or UDP scans of ports
 * 1-1000 of hosts in 198.51.100.0/24, answered with RST|ACK (closed), SYN-ACK then the scanner's
 * RST (open), or ICMP port unreachable (UDP, about half the time). All checksums are correct.
 * Writes at least `packets` frames (a DNS pair or a probe and its answer may add one more).
 */
export function writeMixedCapture(path: string, packets: number, seed = 1): GenerateResult {
  const r = mulberry32(seed);
  const rand = (n: number): number => r() % n;
  const pay = new PayloadBlock(seed ^ 0x5a5a5a5a);
  const sink = new FrameSink(path);
  const b = sink.buf;
  let ts = T0;

  const clients = Array.from({ length: 2000 }, (_, i) => (ip4(10, 1, 0, 0) + 1 + i) >>> 0);
  const servers = Array.from({ length: 50 }, (_, i) => ip4(198, 51, 100, 1 + i));
  const serverPorts = [443, 443, 443, 443, 80, 80, 22, 25, 993, 8443];
  const openPorts = new Set([22, 25, 80, 443, 993, 8443]);
  const resolver = ip4(198, 51, 100, 53);
  const names = Array.from({ length: 64 }, (_, i) => `host${i}.service${i % 7}.example.com`);
  const dns = dnsMessages(names);

  const newSession = (): Session => ({
    client: clients[rand(clients.length)],
    server: servers[rand(servers.length)],
    cport: 32768 + rand(28232),
    sport: serverPorts[rand(serverPorts.length)],
    cseq: r(),
    sseq: r(),
    cts: r(),
    sts: r(),
    cid: rand(65536),
    sid: rand(65536),
    ttlC: 64 - rand(20),
    state: 0,
    reqLen: 60 + rand(500),
    respLeft: 100 + rand(5000),
    unacked: 0,
  });
  const pool: Session[] = Array.from({ length: 256 }, newSession);

  const scanners: Scanner[] = Array.from({ length: 20 }, (_, i) => {
    const targetIsServer = rand(2) === 0;
    return {
      addr: ip4(203, 0, 113, 1 + i),
      kind: (i % 3) as 0 | 1 | 2,
      target: targetIsServer ? servers[rand(50)] : ip4(198, 51, 100, 60 + rand(180)),
      targetIsServer,
      sport: 30000 + rand(30000),
      cursor: 0,
      offset: rand(1000),
      ttl: 40 + rand(20),
    };
  });
  // One shared pseudo-random order of ports 1-1000; each scanner starts at its own offset.
  const portOrder = Array.from({ length: 1000 }, (_, i) => i + 1);
  for (let i = portOrder.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [portOrder[i], portOrder[j]] = [portOrder[j], portOrder[i]];
  }

  const ms = (): number => Math.floor((ts - T0) / 1000);

  const benignStep = (s: Session): boolean => {
    const o = sink.begin(MAX_FRAME);
    const c = s.client;
    const v = s.server;
    const tsC = (s.cts + ms()) >>> 0;
    const tsS = (s.sts + ms()) >>> 0;
    let len: number;
    switch (s.state) {
      case 0: // SYN
        len = tcpFrame(b, o, pay, c, v, s.cport, s.sport, s.cseq, 0, SYN, 64240, OPT_LINUX_SYN, tsC, 0, 0, s.ttlC, s.cid++ & 0xffff, true);
        s.cseq = (s.cseq + 1) >>> 0;
        s.state = 1;
        break;
      case 1: // SYN-ACK
        len = tcpFrame(b, o, pay, v, c, s.sport, s.cport, s.sseq, s.cseq, SYN | ACK, 65160, OPT_LINUX_SYN, tsS, tsC, 0, 64, 0, true);
        s.sseq = (s.sseq + 1) >>> 0;
        s.state = 2;
        break;
      case 2: // ACK
        len = tcpFrame(b, o, pay, c, v, s.cport, s.sport, s.cseq, s.sseq, ACK, 502, OPT_TS, tsC, tsS, 0, s.ttlC, s.cid++ & 0xffff, true);
        s.state = 3;
        break;
      case 3: // request
        len = tcpFrame(b, o, pay, c, v, s.cport, s.sport, s.cseq, s.sseq, PSH | ACK, 502, OPT_TS, tsC, tsS, s.reqLen, s.ttlC, s.cid++ & 0xffff, true);
        s.cseq = (s.cseq + s.reqLen) >>> 0;
        s.state = 4;
        break;
      case 4: {
        // response segments; the client acknowledges every second one
        if (s.unacked >= 2 || (s.respLeft === 0 && s.unacked > 0)) {
          len = tcpFrame(b, o, pay, c, v, s.cport, s.sport, s.cseq, s.sseq, ACK, 502, OPT_TS, tsC, tsS, 0, s.ttlC, s.cid++ & 0xffff, true);
          s.unacked = 0;
          if (s.respLeft === 0) s.state = 5;
        } else {
          const n = Math.min(1448, s.respLeft);
          s.respLeft -= n;
          len = tcpFrame(b, o, pay, v, c, s.sport, s.cport, s.sseq, s.cseq, s.respLeft === 0 ? PSH | ACK : ACK, 509, OPT_TS, tsS, tsC, n, 64, s.sid++ & 0xffff, true);
          s.sseq = (s.sseq + n) >>> 0;
          s.unacked++;
        }
        break;
      }
      case 5: // client FIN
        len = tcpFrame(b, o, pay, c, v, s.cport, s.sport, s.cseq, s.sseq, FIN | ACK, 502, OPT_TS, tsC, tsS, 0, s.ttlC, s.cid++ & 0xffff, true);
        s.cseq = (s.cseq + 1) >>> 0;
        s.state = 6;
        break;
      case 6: // server FIN
        len = tcpFrame(b, o, pay, v, c, s.sport, s.cport, s.sseq, s.cseq, FIN | ACK, 509, OPT_TS, tsS, tsC, 0, 64, s.sid++ & 0xffff, true);
        s.sseq = (s.sseq + 1) >>> 0;
        s.state = 7;
        break;
      default: // last ACK
        len = tcpFrame(b, o, pay, c, v, s.cport, s.sport, s.cseq, s.sseq, ACK, 502, OPT_TS, tsC, tsS, 0, s.ttlC, s.cid++ & 0xffff, true);
        s.state = 8;
    }
    sink.commit(ts, len);
    return s.state === 8;
  };

  // Answers are scheduled for later packet time and written once the clock passes them, so a
  // delayed answer never holds back the rest of the traffic. Pending records are recycled.
  const pending: Pending[] = []; // sorted by due time, latest first
  const spare: Pending[] = [];
  const schedule = (due: number, kind: number, src: number, dst: number, sport: number, dport: number, x: number, y: number): Pending => {
    const e = spare.pop() ?? { due: 0, kind: 0, src: 0, dst: 0, sport: 0, dport: 0, x: 0, y: 0, quote: Buffer.alloc(28) };
    e.due = due;
    e.kind = kind;
    e.src = src;
    e.dst = dst;
    e.sport = sport;
    e.dport = dport;
    e.x = x;
    e.y = y;
    let i = pending.length;
    pending.push(e);
    while (i > 0 && pending[i - 1].due < due) {
      pending[i] = pending[i - 1];
      i--;
    }
    pending[i] = e;
    return e;
  };
  const emit = (e: Pending): void => {
    const o = sink.begin(MAX_FRAME);
    let len: number;
    switch (e.kind) {
      case P_DNS: {
        const a = dns.answers[e.x];
        put16(a, 0, e.y);
        len = udpFrame(b, o, e.src, e.dst, 53, e.dport, a, 0, a.length, 64, rand(65536));
        break;
      }
      case P_RST_ACK:
        len = tcpFrame(b, o, pay, e.src, e.dst, e.sport, e.dport, 0, e.x, RST | ACK, 0, OPT_NONE, 0, 0, 0, 64, 0, true);
        break;
      case P_SYN_ACK:
        len = tcpFrame(b, o, pay, e.src, e.dst, e.sport, e.dport, r(), e.x, SYN | ACK, 64240, OPT_MSS, 0, 0, 0, 64, 0, true);
        // the scanner's kernel resets the connection it never opened
        schedule(e.due + 100 + rand(2000), P_RST, e.dst, e.src, e.dport, e.sport, e.x, e.y);
        break;
      case P_RST:
        len = tcpFrame(b, o, pay, e.src, e.dst, e.sport, e.dport, e.x, 0, RST, 0, OPT_NONE, 0, 0, 0, e.y, 0, true);
        break;
      default:
        len = icmpUnreachableFrame(b, o, e.src, e.dst, e.quote, rand(65536));
    }
    sink.commit(e.due, len);
    spare.push(e);
  };

  const dnsStep = (): void => {
    const client = clients[rand(clients.length)];
    const k = rand(names.length);
    const id = rand(65536);
    const port = 32768 + rand(28232);
    const q = dns.queries[k];
    put16(q, 0, id);
    const o = sink.begin(MAX_FRAME);
    sink.commit(ts, udpFrame(b, o, client, resolver, port, 53, q, 0, q.length, 64 - rand(10), rand(65536)));
    schedule(ts + 200 + rand(3000), P_DNS, resolver, client, 53, port, k, id);
  };

  const scanStep = (): void => {
    const sc = scanners[rand(scanners.length)];
    if (sc.cursor === 1000) {
      sc.cursor = 0;
      sc.offset = rand(1000);
      sc.targetIsServer = rand(2) === 0;
      sc.target = sc.targetIsServer ? servers[rand(50)] : ip4(198, 51, 100, 60 + rand(180));
      sc.sport = 30000 + rand(30000);
    }
    const port = portOrder[(sc.offset + sc.cursor++) % 1000];
    const open = sc.targetIsServer && openPorts.has(port);
    const seq = r();
    const o = sink.begin(MAX_FRAME);
    const answerAt = ts + 30 + rand(400);
    if (sc.kind === 2) {
      sink.commit(ts, udpFrame(b, o, sc.addr, sc.target, sc.sport, port, pay.bytes, 0, rand(33), sc.ttl, rand(65536)));
      if (!open && rand(2) === 0) {
        const e = schedule(answerAt, P_ICMP, sc.target, sc.addr, 0, 0, 0, 0);
        b.copy(e.quote, 0, o + 14, o + 14 + 28);
      }
      return;
    }
    const flags = sc.kind === 0 ? SYN : FIN;
    sink.commit(ts, tcpFrame(b, o, pay, sc.addr, sc.target, sc.sport, port, seq, 0, flags, 1024, sc.kind === 0 ? OPT_MSS : OPT_NONE, 0, 0, 0, sc.ttl, rand(65536), false));
    if (!open) schedule(answerAt, P_RST_ACK, sc.target, sc.addr, port, sc.sport, (seq + 1) >>> 0, 0);
    else if (flags === SYN) schedule(answerAt, P_SYN_ACK, sc.target, sc.addr, port, sc.sport, (seq + 1) >>> 0, sc.ttl + 4);
  };

  while (sink.frames < packets) {
    ts += 1 + rand(16);
    while (pending.length > 0 && pending[pending.length - 1].due <= ts) emit(pending.pop()!);
    const x = r() / 4294967296;
    if (x < 0.0263) dnsStep();
    else if (x < 0.054) scanStep();
    else {
      const i = rand(pool.length);
      if (benignStep(pool[i])) pool[i] = newSession();
    }
  }
  while (pending.length > 0) emit(pending.pop()!);
  sink.close();
  return { frames: sink.frames, bytes: sink.bytes };
}

// ---------------------------------------------------------------------------------------------
// Spoofed SYN flood

/** True for addresses a spoofing tool would not use: 0/8, 10/8, 127/8, multicast and above, the target. */
export function unusableSource(a: number, target: number): boolean {
  const first = a >>> 24;
  return first === 0 || first === 10 || first === 127 || first >= 224 || a === target;
}

/**
 * A SYN flood against 198.51.100.99:80 from `sources` distinct random IPv4 source addresses, one SYN
 * each (hping3 --flood --rand-source style: random source port, sequence and IP ID, window 512, no
 * options), about 50,000 packets per second of packet time. The sources are a bijective 32-bit mix
 * of a counter, so they never repeat; 0/8, 10/8, 127/8 and 224/3 are skipped. All checksums are
 * correct (computed incrementally from a fixed template).
 */
export function writeSpoofedFlood(path: string, sources: number, seed = 1): GenerateResult {
  const r = mulberry32(seed);
  const key = r();
  const sink = new FrameSink(path);
  const b = sink.buf;
  const target = ip4(198, 51, 100, 99);
  const LEN = 54;

  // Template: Ethernet, IPv4 (id, src, checksum zero), TCP SYN (sport, seq, checksum zero).
  const tpl = Buffer.alloc(LEN);
  const pay = new PayloadBlock(1);
  tcpFrame(tpl, 0, pay, 0, target, 0, 80, 0, 0, SYN, 512, OPT_NONE, 0, 0, 0, 64, 0, false);
  tpl.fill(0, 6, 12); // source MAC: the upstream router, fixed
  tpl[6] = 0x02;
  tpl[11] = 0x01;
  tpl.fill(0, 14 + 10, 14 + 12); // IP checksum
  tpl.fill(0, 34 + 16, 34 + 18); // TCP checksum
  const ipBase = words(tpl, 14, 20); // everything but id and src (both zero in the template)
  const tcpBase = pseudo(0, target, 6, 20) + words(tpl, 34, 20);

  let ts = T0;
  let counter = 0;
  for (let n = 0; n < sources; n++) {
    let src: number;
    do src = mix32((counter++ ^ key) >>> 0);
    while (unusableSource(src, target));
    const id = r() & 0xffff;
    const sport = 1024 + (r() % 64512);
    const seq = r();
    const o = sink.begin(LEN);
    tpl.copy(b, o);
    put16(b, o + 18, id);
    put32(b, o + 26, src);
    put16(b, o + 24, fold(ipBase + id + (src >>> 16) + (src & 0xffff)));
    put16(b, o + 34, sport);
    put32(b, o + 38, seq);
    put16(b, o + 50, fold(tcpBase + (src >>> 16) + (src & 0xffff) + sport + (seq >>> 16) + (seq & 0xffff)));
    ts += 10 + (r() % 21); // 20 µs on average: 50,000 packets per second
    sink.commit(ts, LEN);
  }
  sink.close();
  return { frames: sink.frames, bytes: sink.bytes };
}

// ---------------------------------------------------------------------------------------------
// CLI

function cli(argv: string[]): void {
  const [kind, path, countText, seedText] = argv;
  const count = Number(countText ?? 1_000_000);
  const seed = Number(seedText ?? 1);
  if ((kind !== 'mixed' && kind !== 'flood') || !path || !Number.isInteger(count) || count < 1) {
    console.error('usage: npx tsx bench/generate.ts mixed|flood FILE [FRAMES=1000000] [SEED=1]');
    process.exit(2);
  }
  const started = process.hrtime.bigint();
  const res = kind === 'mixed' ? writeMixedCapture(path, count, seed) : writeSpoofedFlood(path, count, seed);
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `${path}: ${res.frames} frames, ${(res.bytes / 1e6).toFixed(1)} MB in ${secs.toFixed(2)} s ` +
      `(${Math.round(res.frames / secs).toLocaleString('en-US')} frames/s)`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) cli(process.argv.slice(2));
