/**
 * Writes the crafted test captures into test/fixtures/crafted/ (NAME.pcap[ng] + NAME.expected.json):
 * patterns that are hard to record in the lab (slow, distributed, decoy, sweeps, a benign NAT gateway,
 * link-layer variants, fragments and options). Deterministic: every scenario has its own seed, so a
 * rerun writes the same bytes.
 *
 *   npx tsx scripts/craft-captures.ts [only-this-name ...]
 *
 * Addresses: attackers 203.0.113.0/24, protected hosts 198.51.100.0/24, clients 192.0.2.0/24,
 * IPv6 in 2001:db8::/32. Stacks are modelled on Linux (and Windows clients where noted): a closed port
 * answers RST|ACK (seq 0, ack = probe seq + its length), an open port SYN-ACK; the scanner's kernel
 * resets a SYN-ACK it did not ask for. Packet time starts at 2026-01-01T00:00:00Z.
 */
import { closeSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { LinkType } from '../src/model/packet.js';
import * as f from './frames.js';

const OUT_DIR = fileURLToPath(new URL('../test/fixtures/crafted/', import.meta.url));
/** 2026-01-01T00:00:00Z in microseconds. */
const T0 = Date.UTC(2026, 0, 1) * 1000;
const MS = 1000;
const S = 1_000_000;

type Rng = f.Rng;

// =============================================================================================
// Events and writers

interface Ev {
  ts: number;
  ip: Buffer;
  order: number;
}

/** IP packets with their capture times; written in time order (ties keep insertion order). */
class Trace {
  readonly #events: Ev[] = [];
  #order = 0;

  add(ts: number, ip: Buffer): void {
    this.#events.push({ ts: Math.round(ts), ip, order: this.#order++ });
  }

  /** Adds fragments (or any packet train) a few microseconds apart. */
  addAll(ts: number, ips: readonly Buffer[], gapUs = 4): void {
    ips.forEach((ip, i) => this.add(ts + i * gapUs, ip));
  }

  sorted(): Ev[] {
    return [...this.#events].sort((a, b) => a.ts - b.ts || a.order - b.order);
  }
}

function srcBytes(ip: Buffer): Buffer {
  return ip[0] >> 4 === 6 ? ip.subarray(8, 24) : ip.subarray(12, 16);
}
function dstBytes(ip: Buffer): Buffer {
  return ip[0] >> 4 === 6 ? ip.subarray(24, 40) : ip.subarray(16, 20);
}

/** A stable locally administered MAC per IP address. */
function macFor(addr: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of addr) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  const h2 = Math.imul(h ^ 0x5bd1e995, 0x01000193) >>> 0;
  return f.formatMac([0x02, h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff, h2 & 0xff]);
}

type Link = 'ethernet' | 'vlan' | 'qinq' | 'sll' | 'sll2' | 'raw' | 'null';

const LINK_TYPE: Record<Link, number> = {
  ethernet: LinkType.ETHERNET,
  vlan: LinkType.ETHERNET,
  qinq: LinkType.ETHERNET,
  sll: LinkType.LINUX_SLL,
  sll2: LinkType.LINUX_SLL2,
  raw: LinkType.RAW,
  null: LinkType.NULL,
};

/** Wraps an IP packet for `link`. `captureHost` decides the SLL packet type (sent by us or to us). */
function linkFrame(link: Link, ip: Buffer, captureHost?: string): Buffer {
  const type = f.etherTypeOf(ip);
  const src = macFor(srcBytes(ip));
  const dst = macFor(dstBytes(ip));
  const outgoing = captureHost !== undefined && srcBytes(ip).equals(f.parseIp(captureHost));
  switch (link) {
    case 'ethernet':
      return f.ethernet(dst, src, type, ip);
    case 'vlan':
      return f.ethernet(dst, src, type, ip, [{ vid: 100, pcp: 0 }]);
    case 'qinq':
      return f.ethernet(dst, src, type, ip, [{ tpid: f.EtherType.QINQ, vid: 300 }, 100]);
    case 'sll':
      return f.sll(ip, type, { packetType: outgoing ? f.SllPacketType.OUTGOING : f.SllPacketType.HOST, addr: src });
    case 'sll2':
      return f.sll2(ip, type, { packetType: outgoing ? f.SllPacketType.OUTGOING : f.SllPacketType.HOST, addr: src, ifindex: 2 });
    case 'raw':
      return f.raw(ip);
    case 'null':
      return f.bsdLoopback(ip, ip[0] >> 4 === 6 ? 30 : 2);
  }
}

interface Written {
  name: string;
  packets: number;
  bytes: number;
}

function writeClassic(path: string, link: Link, trace: Trace, captureHost?: string): number {
  const w = new PcapWriter(path, LINK_TYPE[link]);
  let n = 0;
  for (const e of trace.sorted()) {
    w.write(e.ts, linkFrame(link, e.ip, captureHost));
    n++;
  }
  w.close();
  return n;
}

/** Classic pcap, big-endian, nanosecond timestamps (magic 0xa1b23c4d), Ethernet. */
function writeNanosecondBigEndian(path: string, trace: Trace, rng: Rng): number {
  const chunks: Buffer[] = [];
  const h = Buffer.alloc(24);
  h.writeUInt32BE(0xa1b23c4d, 0);
  h.writeUInt16BE(2, 4);
  h.writeUInt16BE(4, 6);
  h.writeUInt32BE(262144, 16);
  h.writeUInt32BE(LinkType.ETHERNET, 20);
  chunks.push(h);
  let n = 0;
  for (const e of trace.sorted()) {
    const frame = linkFrame('ethernet', e.ip);
    const r = Buffer.alloc(16);
    const sec = Math.floor(e.ts / S);
    const ns = (e.ts - sec * S) * 1000 + rng.int(0, 999);
    r.writeUInt32BE(sec, 0);
    r.writeUInt32BE(ns, 4);
    r.writeUInt32BE(frame.length, 8);
    r.writeUInt32BE(frame.length, 12);
    chunks.push(r, frame);
    n++;
  }
  writeFileSync(path, Buffer.concat(chunks));
  return n;
}

// ---- pcapng ----------------------------------------------------------------------------------

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function pcapngOption(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function pcapngBlock(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

const END_OF_OPTIONS = Buffer.alloc(4);

function pcapngSectionHeader(): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(0x1a2b3c4d, 0);
  fixed.writeUInt16LE(1, 4);
  fixed.writeUInt16LE(0, 6);
  fixed.writeBigInt64LE(-1n, 8); // section length unknown
  const opts = Buffer.concat([
    pcapngOption(4, Buffer.from('portwarden craft-captures.ts')), // shb_userappl
    END_OF_OPTIONS,
  ]);
  return pcapngBlock(0x0a0d0d0a, Buffer.concat([fixed, opts]));
}

function pcapngInterface(linkType: number, name: string, tsresol?: number): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(linkType, 0);
  fixed.writeUInt32LE(262144, 4);
  const opts = [pcapngOption(2, Buffer.from(name))]; // if_name
  if (tsresol !== undefined) opts.push(pcapngOption(9, Buffer.from([tsresol]))); // if_tsresol
  opts.push(END_OF_OPTIONS);
  return pcapngBlock(1, Buffer.concat([fixed, ...opts]));
}

function pcapngEnhancedPacket(iface: number, ticks: bigint, frame: Buffer): Buffer {
  const fixed = Buffer.alloc(20);
  fixed.writeUInt32LE(iface, 0);
  fixed.writeUInt32LE(Number(ticks >> 32n), 4);
  fixed.writeUInt32LE(Number(ticks & 0xffffffffn), 8);
  fixed.writeUInt32LE(frame.length, 12);
  fixed.writeUInt32LE(frame.length, 16);
  const data = Buffer.alloc(pad4(frame.length));
  frame.copy(data);
  return pcapngBlock(6, Buffer.concat([fixed, data]));
}

/**
 * pcapng with two interfaces: 0 = Ethernet "eth0" with nanosecond timestamps (if_tsresol 9), 1 =
 * Linux cooked "any" with the default microseconds. Packets sent by `captureHost` go on interface 1.
 */
function writePcapngTwoInterfaces(path: string, trace: Trace, captureHost: string, rng: Rng): number {
  const blocks: Buffer[] = [
    pcapngSectionHeader(),
    pcapngInterface(LinkType.ETHERNET, 'eth0', 9),
    pcapngInterface(LinkType.LINUX_SLL, 'any'),
  ];
  const host = f.parseIp(captureHost);
  let n = 0;
  for (const e of trace.sorted()) {
    if (srcBytes(e.ip).equals(host)) {
      blocks.push(pcapngEnhancedPacket(1, BigInt(e.ts), linkFrame('sll', e.ip, captureHost)));
    } else {
      const ns = BigInt(e.ts) * 1000n + BigInt(rng.int(0, 999));
      blocks.push(pcapngEnhancedPacket(0, ns, linkFrame('ethernet', e.ip)));
    }
    n++;
  }
  const fd = openSync(path, 'w');
  for (const b of blocks) writeSync(fd, b);
  closeSync(fd);
  return n;
}

// ---- expected files --------------------------------------------------------------------------

type Incident =
  | { kind: 'scan'; class: string; source: string; destination?: string }
  | { kind: 'sweep'; class: string; source: string }
  | { kind: 'distributed-scan' | 'decoy-scan'; class: string; sources: string[]; destination: string };

function writeExpected(name: string, provenance: string, incidents: Incident[]): void {
  const body = {
    provenance: `crafted by scripts/craft-captures.ts: ${provenance}`,
    profile: 'normal',
    incidents,
  };
  writeFileSync(join(OUT_DIR, `${name}.expected.json`), JSON.stringify(body, null, 2) + '\n');
}

// =============================================================================================
// Stack models

type Style = 'linux' | 'windows';

/** One end of a TCP connection as its operating system would send it. */
interface Side {
  addr: string;
  port: number;
  style: Style;
  /** TTL / hop limit as seen at the capture point. */
  ttl: number;
  snd: number;
  rcv: number;
  tsOff: number;
  lastPeerTs: number;
  ipId: number;
  flowLabel: number;
}

function side(rng: Rng, addr: string, port: number, style: Style, ttl: number): Side {
  return {
    addr,
    port,
    style,
    ttl,
    snd: rng.uint32(),
    rcv: 0,
    tsOff: rng.uint32(),
    lastPeerTs: 0,
    ipId: rng.int(0, 0xffff),
    flowLabel: rng.int(1, 0xfffff),
  };
}

/** Linux SYN-ACK options answering a SYN without timestamps: mss,nop,nop,sackOK,nop,wscale 7. */
const LINUX_SYNACK_NO_TS = Buffer.from([2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]);

/**
 * Sends one segment from `a` to `b` at `t` and advances the sequence state. `tsOk`: both ends
 * negotiated timestamps.
 */
function segment(tr: Trace, t: number, a: Side, b: Side, flags: string, payload: Buffer = Buffer.alloc(0)): void {
  const fl = f.tcpFlags(flags);
  const syn = (fl & f.Flags.SYN) !== 0;
  const ack = (fl & f.Flags.ACK) !== 0;
  const tsOk = a.style === 'linux' && b.style === 'linux';
  const tsVal = (a.tsOff + Math.floor((t - T0) / MS)) >>> 0;
  let options: f.TcpOptionSet = 'none';
  let window: number;
  if (syn) {
    if (!ack) options = a.style === 'linux' ? 'linux' : 'windows';
    else options = tsOk ? 'linux' : LINUX_SYNACK_NO_TS;
    window = ack ? 65160 : 64240;
  } else {
    if (tsOk) options = 'ts';
    window = a.style === 'linux' ? (a.port < 1024 ? 509 : 502) : 1026;
  }
  if (syn && ack && !tsOk) window = 64240;
  const seg = f.tcp({
    src: a.addr,
    dst: b.addr,
    srcPort: a.port,
    dstPort: b.port,
    seq: a.snd,
    ack: ack ? a.rcv : 0,
    flags: fl,
    window,
    options,
    tsVal,
    tsEcr: ack ? a.lastPeerTs : 0,
    wscale: a.style === 'linux' ? 7 : 8,
    payload,
  });
  // Linux sends SYN-ACKs (and RSTs) of an unconnected socket with IP ID 0.
  const id = syn && ack && a.style === 'linux' ? 0 : a.ipId++ & 0xffff;
  tr.add(
    t,
    f.ipPacket({
      src: a.addr,
      dst: b.addr,
      protocol: f.Proto.TCP,
      payload: seg,
      ttl: a.ttl,
      id,
      dontFragment: true,
      flowLabel: a.flowLabel,
    }),
  );
  a.snd = (a.snd + payload.length + (syn ? 1 : 0) + (fl & f.Flags.FIN ? 1 : 0)) >>> 0;
  b.rcv = a.snd;
  b.lastPeerTs = tsVal;
}

interface SessionSpec {
  t: number;
  client: Side;
  server: Side;
  /** Round-trip time between the two ends (µs). */
  rtt: number;
  /** Where the capture point sits: next to the client or next to the server. */
  vantage: 'client' | 'server';
  request: Buffer;
  response: Buffer;
  /** Who closes first. */
  closer: 'client' | 'server';
  /** Client think/idle time before it closes (µs); default a few ms. */
  idle?: number;
  /** Server application time before it responds (µs). */
  appTime?: number;
}

/**
 * A complete TCP session: handshake, request, response (MSS-sized segments), FIN exchange.
 * Returns the time of its last packet.
 */
function tcpSession(tr: Trace, rng: Rng, s: SessionSpec): number {
  const { client: c, server: v } = s;
  const near = (): number => rng.int(12, 90);
  /** Delay from a packet sent by `from` until the other side's reaction is seen at the vantage. */
  const react = (from: 'client' | 'server'): number => (from === s.vantage ? s.rtt + near() : near());
  const mss = c.style === 'linux' ? 1448 : 1460;
  let t = s.t;
  segment(tr, t, c, v, 'S');
  t += react('client');
  segment(tr, t, v, c, 'SA');
  t += react('server');
  segment(tr, t, c, v, 'A');
  t += rng.int(20, 400);
  segment(tr, t, c, v, 'PA', s.request);
  t += react('client') + (s.appTime ?? rng.int(150, 3000));
  for (let at = 0; at < s.response.length; at += mss) {
    const last = at + mss >= s.response.length;
    segment(tr, t, v, c, last ? 'PA' : 'A', s.response.subarray(at, at + mss));
    if (!last) t += rng.int(5, 40);
  }
  if (s.closer === 'server') {
    t += rng.int(10, 60);
    segment(tr, t, v, c, 'FA');
    t += react('server');
    segment(tr, t, c, v, 'A');
    t += rng.int(30, 300);
    segment(tr, t, c, v, 'FA');
    t += react('client');
    segment(tr, t, v, c, 'A');
  } else {
    t += react('server');
    segment(tr, t, c, v, 'A');
    t += s.idle ?? rng.int(1 * MS, 20 * MS);
    segment(tr, t, c, v, 'FA');
    t += react('client');
    segment(tr, t, v, c, 'FA');
    t += react('server');
    segment(tr, t, c, v, 'A');
  }
  return t;
}

/** A connection attempt refused by the server (RST|ACK) or never answered (SYN retransmitted at +1 s, +3 s). */
function tcpFailedAttempt(
  tr: Trace,
  rng: Rng,
  t: number,
  c: Side,
  v: Side,
  rtt: number,
  vantage: 'client' | 'server',
  outcome: 'refused' | 'silent',
): number {
  if (outcome === 'refused') {
    const syn = c.snd;
    segment(tr, t, c, v, 'S');
    const tr2 = t + (vantage === 'client' ? rtt : 0) + rng.int(15, 80);
    tr.add(tr2, rstFor(v.addr, c.addr, v.port, c.port, 0, syn + 1, 'RA', v.ttl, v.flowLabel));
    return tr2;
  }
  const isn = c.snd;
  for (const delay of [0, 1 * S, 3 * S]) {
    c.snd = isn;
    segment(tr, t + delay + (delay ? rng.int(0, 4 * MS) : 0), c, v, 'S');
  }
  return t + 3 * S;
}

function rstFor(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: string,
  ttl: number,
  flowLabel = 0,
): Buffer {
  return f.ipPacket({
    src,
    dst,
    protocol: f.Proto.TCP,
    payload: f.tcp({ src, dst, srcPort: sport, dstPort: dport, seq, ack, flags, window: 0 }),
    ttl,
    id: 0,
    dontFragment: true,
    flowLabel,
  });
}

// ---- scanners --------------------------------------------------------------------------------

interface Probe {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: string;
  seq: number;
  ack?: number;
  ipId: number;
  ttl: number;
  window?: number;
  options?: f.TcpOptionSet;
  payload?: Buffer;
  ipOptions?: Buffer;
  ext?: f.Ipv6ExtensionHeader[];
}

function probeSegment(p: Probe): Buffer {
  return f.tcp({
    src: p.src,
    dst: p.dst,
    srcPort: p.sport,
    dstPort: p.dport,
    seq: p.seq,
    ack: p.ack ?? 0,
    flags: p.flags,
    window: p.window ?? 1024,
    options: p.options ?? 'none',
    payload: p.payload,
  });
}

function probePacket(p: Probe): Buffer {
  return f.ipPacket({
    src: p.src,
    dst: p.dst,
    protocol: f.Proto.TCP,
    payload: probeSegment(p),
    ttl: p.ttl,
    id: p.ipId,
    ipOptions: p.ipOptions,
    extensionHeaders: p.ext,
  });
}

/** The target's answer to a probe at a closed port (RFC 793 reset generation, Linux style). */
function closedAnswer(p: Probe, flowLabel = 0): Buffer {
  const fl = f.tcpFlags(p.flags);
  if (fl & f.Flags.ACK) return rstFor(p.dst, p.src, p.dport, p.sport, p.ack ?? 0, 0, 'R', 64, flowLabel);
  const len = (p.payload?.length ?? 0) + (fl & f.Flags.SYN ? 1 : 0) + (fl & f.Flags.FIN ? 1 : 0);
  return rstFor(p.dst, p.src, p.dport, p.sport, 0, (p.seq + len) >>> 0, 'RA', 64, flowLabel);
}

/** The target's SYN-ACK to a SYN probe at an open port (Linux: only MSS when the SYN had only MSS). */
function synAckAnswer(p: Probe, isn: number, flowLabel = 0): Buffer {
  const seg = f.tcp({
    src: p.dst,
    dst: p.src,
    srcPort: p.dport,
    dstPort: p.sport,
    seq: isn,
    ack: (p.seq + 1) >>> 0,
    flags: 'SA',
    window: 64240,
    options: 'mss',
  });
  return f.ipPacket({ src: p.dst, dst: p.src, protocol: f.Proto.TCP, payload: seg, ttl: 64, id: 0, dontFragment: true, flowLabel });
}

/** The scanner's kernel resetting a SYN-ACK for a connection it never opened. */
function scannerKernelRst(p: Probe, kernelTtl: number): Buffer {
  return rstFor(p.src, p.dst, p.sport, p.dport, (p.seq + 1) >>> 0, 0, 'R', kernelTtl);
}

/**
 * Adds a probe and the target's reaction. The capture sits next to the target (`rtt` only delays the
 * scanner's own kernel RST) unless `answerDelay` says otherwise.
 */
function scanStep(
  tr: Trace,
  rng: Rng,
  t: number,
  p: Probe,
  state: 'closed' | 'open' | 'silent',
  opts: { rtt: number; kernelTtl: number; answerDelay?: number; fragments?: Buffer[] },
): void {
  if (opts.fragments) tr.addAll(t, opts.fragments);
  else tr.add(t, probePacket(p));
  const answerAt = t + (opts.answerDelay ?? 0) + rng.int(25, 180);
  const label = f.isIpv6(p.dst) ? rng.int(1, 0xfffff) : 0;
  if (state === 'closed') tr.add(answerAt, closedAnswer(p, label));
  else if (state === 'open' && f.tcpFlags(p.flags) & f.Flags.SYN) {
    tr.add(answerAt, synAckAnswer(p, rng.uint32(), label));
    tr.add(answerAt + opts.rtt + rng.int(20, 120), scannerKernelRst(p, opts.kernelTtl));
  }
}

// ---- payloads --------------------------------------------------------------------------------

function httpRequest(host: string, path: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n`);
}

function httpResponse(rng: Rng, bodyLen: number): Buffer {
  const body = Buffer.alloc(bodyLen);
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'portwarden', 'status', 'ok', 'html'];
  let o = 0;
  while (o < bodyLen) o += body.write(rng.pick(words) + ' ', o);
  const head = `HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: ${bodyLen}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

/** A TLS-looking record: handshake (22) or application data (23) header, then random bytes. */
function tlsRecord(rng: Rng, type: 22 | 23, len: number): Buffer {
  const b = rng.bytes(len);
  b[0] = type;
  b[1] = 3;
  b[2] = type === 22 ? 1 : 3;
  b.writeUInt16BE(len - 5, 3);
  if (type === 22) b[5] = 1; // ClientHello
  return b;
}

const TOP_PORTS = [
  21, 22, 23, 25, 53, 80, 110, 111, 113, 135, 139, 143, 179, 199, 389, 443, 445, 465, 514, 515, 548, 554, 587, 631,
  646, 873, 990, 993, 995, 1025, 1026, 1433, 1521, 1720, 1723, 2000, 2049, 2121, 3000, 3128, 3306, 3389, 5000, 5060,
  5432, 5900, 6000, 6379, 8000, 8008, 8080, 8443, 8888, 9000, 9090, 9200, 10000, 27017,
];

function pickPorts(rng: Rng, n: number, mustInclude: readonly number[] = []): number[] {
  const pool = rng.shuffle(TOP_PORTS.filter((p) => !mustInclude.includes(p)));
  const out = [...mustInclude, ...pool.slice(0, n - mustInclude.length)];
  if (out.length < n) {
    const extra = rng.shuffle(Array.from({ length: 1024 }, (_, i) => i + 1).filter((p) => !out.includes(p)));
    out.push(...extra.slice(0, n - out.length));
  }
  return rng.shuffle(out);
}

// =============================================================================================
// Scenarios

interface Scenario {
  name: string;
  run(): Written[];
}

function classic(
  name: string,
  trace: Trace,
  provenance: string,
  incidents: Incident[],
  link: Link = 'ethernet',
  captureHost?: string,
): Written {
  const path = join(OUT_DIR, `${name}.pcap`);
  const packets = writeClassic(path, link, trace, captureHost);
  writeExpected(name, provenance, incidents);
  return { name, packets, bytes: statSync(path).size };
}

/** Background: a client fetching a page from a web server every ~`every` µs over [from, to). */
function webBackground(
  tr: Trace,
  rng: Rng,
  client: string,
  server: string,
  port: number,
  from: number,
  to: number,
  every: number,
  rtt: number,
): number {
  let t = from;
  let cport = rng.int(33000, 40000);
  let n = 0;
  while (t < to) {
    const c = side(rng, client, cport, 'linux', 64);
    const v = side(rng, server, port, 'linux', 64);
    const https = port === 443;
    tcpSession(tr, rng, {
      t,
      client: c,
      server: v,
      rtt,
      vantage: 'server',
      request: https ? tlsRecord(rng, 22, rng.int(250, 330)) : httpRequest(server.includes(':') ? 'www6.example' : 'www.example', '/status'),
      response: https ? tlsRecord(rng, 23, rng.int(300, 900)) : httpResponse(rng, rng.int(200, 900)),
      closer: 'client',
    });
    cport += rng.int(1, 9);
    t += every + rng.int(-5 * S, 5 * S);
    n++;
  }
  return n;
}

function slowVerticalScan(): Written[] {
  const rng = f.createRng(1001);
  const tr = new Trace();
  const scanner = '203.0.113.5';
  const target = '198.51.100.10';
  const ports = pickPorts(rng, 40, [22, 80]);
  const open = new Set([22, 80]);
  const sport = rng.int(40000, 60000);
  let t = T0 + 10 * 60 * S;
  for (const port of ports) {
    const p: Probe = { src: scanner, dst: target, sport, dport: port, flags: 'S', seq: rng.uint32(), ipId: rng.int(0, 0xffff), ttl: 47, options: 'mss' };
    scanStep(tr, rng, t, p, open.has(port) ? 'open' : 'closed', { rtt: 38 * MS, kernelTtl: 52 });
    t += rng.int(90 * S, 300 * S);
  }
  const end = Math.max(t, T0 + 3 * 3600 * S);
  webBackground(tr, rng, '192.0.2.10', target, 80, T0 + 7 * S, end, 60 * S, rng.int(400, 900));
  return [
    classic(
      'slow_vertical_scan',
      tr,
      '203.0.113.5 SYN-scans 40 ports of 198.51.100.10 (2 open, 38 RST), one probe every 90-300 s over about 2.5 hours, amid an HTTP fetch from 192.0.2.10 every ~60 s for 3 hours',
      [{ kind: 'scan', class: 'syn', source: scanner, destination: target }],
    ),
  ];
}

function slowVerticalScanIpv6(): Written[] {
  const rng = f.createRng(1002);
  const tr = new Trace();
  const scanner = '2001:db8:bad::5';
  const target = '2001:db8:1::10';
  const ports = pickPorts(rng, 30, [22, 443]);
  const open = new Set([22, 443]);
  const sport = rng.int(40000, 60000);
  let t = T0 + 5 * 60 * S;
  for (const port of ports) {
    const p: Probe = { src: scanner, dst: target, sport, dport: port, flags: 'S', seq: rng.uint32(), ipId: 0, ttl: 51, options: 'mss' };
    scanStep(tr, rng, t, p, open.has(port) ? 'open' : 'closed', { rtt: 45 * MS, kernelTtl: 51 });
    t += rng.int(120 * S, 240 * S);
  }
  webBackground(tr, rng, '2001:db8:2::20', target, 443, T0 + 3 * S, t + 5 * 60 * S, 60 * S, rng.int(500, 1500));
  return [
    classic(
      'slow_vertical_scan_ipv6',
      tr,
      '2001:db8:bad::5 SYN-scans 30 ports of 2001:db8:1::10 (2 open, 28 RST), one probe every 120-240 s, amid HTTPS fetches from 2001:db8:2::20 every ~60 s',
      [{ kind: 'scan', class: 'syn', source: scanner, destination: target }],
    ),
  ];
}

function fastScanIpv6Fin(): Written[] {
  const rng = f.createRng(1003);
  const tr = new Trace();
  const scanner = '2001:db8:bad::7';
  const target = '2001:db8:1::10';
  const open = new Set([22, 80, 443]);
  const ports = pickPorts(rng, 200, [...open]);
  const sport = rng.int(40000, 60000);
  let t = T0 + 2 * S;
  for (const port of ports) {
    const p: Probe = { src: scanner, dst: target, sport, dport: port, flags: 'F', seq: rng.uint32(), ipId: 0, ttl: 55 };
    scanStep(tr, rng, t, p, open.has(port) ? 'silent' : 'closed', { rtt: 20 * MS, kernelTtl: 55 });
    t += rng.int(5 * MS, 9500);
  }
  return [
    classic(
      'fast_scan_ipv6_fin',
      tr,
      '2001:db8:bad::7 FIN-scans 200 ports of 2001:db8:1::10 within 2 s; closed ports answer RST|ACK, 3 open ports stay silent',
      [{ kind: 'scan', class: 'fin', source: scanner, destination: target }],
    ),
  ];
}

function distributedScan(): Written[] {
  const rng = f.createRng(1004);
  const tr = new Trace();
  const target = '198.51.100.20';
  const sources = Array.from({ length: 12 }, (_, i) => f.ipv4Add('203.0.113.20', i));
  const ports = rng.shuffle(Array.from({ length: 96 }, (_, i) => i + 1));
  const members = sources.map((src) => ({ src, sport: rng.int(20000, 65000), ttl: rng.int(40, 60) }));
  const probes = ports.map((port, i) => ({ m: members[Math.floor(i / 8)], port }));
  rng.shuffle(probes);
  const times = probes.map(() => rng.int(0, 59 * S)).sort((a, b) => a - b);
  probes.forEach(({ m, port }, i) => {
    const p: Probe = { src: m.src, dst: target, sport: m.sport, dport: port, flags: 'S', seq: rng.uint32(), ipId: rng.int(0, 0xffff), ttl: m.ttl, options: 'mss' };
    scanStep(tr, rng, T0 + S + times[i], p, 'closed', { rtt: 30 * MS, kernelTtl: 64 });
  });
  return [
    classic(
      'distributed_scan',
      tr,
      '12 sources 203.0.113.20-31 each SYN-probe 8 of ports 1-96 of 198.51.100.20 (disjoint, shuffled), interleaved within 60 s; every port answers RST|ACK',
      [{ kind: 'distributed-scan', class: 'syn', sources, destination: target }],
    ),
  ];
}

function decoyScan(): Written[] {
  const rng = f.createRng(1005);
  const tr = new Trace();
  const target = '198.51.100.30';
  const sources = ['203.0.113.40', '203.0.113.41', '203.0.113.42', '203.0.113.43', '203.0.113.44'];
  const ports = pickPorts(rng, 100);
  const sport = rng.int(40000, 60000);
  let t = T0 + S;
  for (const port of ports) {
    const seq = rng.uint32();
    const ipId = rng.int(0, 0xffff);
    const order = rng.shuffle([...sources]);
    const offsets = order.map(() => rng.int(0, 990)).sort((a, b) => a - b);
    order.forEach((src, i) => {
      const p: Probe = { src, dst: target, sport, dport: port, flags: 'S', seq, ipId, ttl: 44, options: 'mss' };
      scanStep(tr, rng, t + offsets[i], p, 'closed', { rtt: 25 * MS, kernelTtl: 64 });
    });
    t += rng.int(4 * MS, 16 * MS);
  }
  return [
    classic(
      'decoy_scan',
      tr,
      'nmap -D style: 203.0.113.40 with decoys 203.0.113.41-44 SYN-scans 100 ports of 198.51.100.30; each probe (same source port, sequence number, IP ID, window, options) is sent from all 5 sources within 1 ms in shuffled order; each answered RST|ACK',
      [{ kind: 'decoy-scan', class: 'syn', sources, destination: target }],
    ),
  ];
}

function horizontalSweepSsh(): Written[] {
  const rng = f.createRng(1006);
  const tr = new Trace();
  const sweeper = '203.0.113.9';
  const hosts = [
    ...Array.from({ length: 254 }, (_, i) => f.ipv4Add('198.51.100.1', i)),
    ...Array.from({ length: 46 }, (_, i) => f.ipv4Add('203.0.113.100', i)),
  ];
  const protectedHosts = rng.shuffle(hosts.slice(0, 254));
  const synAck = new Set(protectedHosts.slice(0, 5));
  const rst = new Set(protectedHosts.slice(5, 25));
  rng.shuffle(hosts);
  const gaps = hosts.map(() => rng.real(60, 130));
  const scale = (29 * S) / gaps.reduce((a, b) => a + b, 0);
  const sport = rng.int(40000, 60000);
  let t = T0 + S;
  hosts.forEach((host, i) => {
    const p: Probe = { src: sweeper, dst: host, sport, dport: 22, flags: 'S', seq: rng.uint32(), ipId: rng.int(0, 0xffff), ttl: 49, options: 'mss' };
    const state = synAck.has(host) ? 'open' : rst.has(host) ? 'closed' : 'silent';
    // The sensor sits at the network edge: answers come back after the inside round trip.
    scanStep(tr, rng, t, p, state, { rtt: rng.int(300, 900), kernelTtl: 64, answerDelay: rng.int(200, 2500) });
    t += Math.round(gaps[i] * scale);
  });
  return [
    classic(
      'horizontal_sweep_ssh',
      tr,
      '203.0.113.9 sends SYN to port 22 on 300 hosts (198.51.100.1-254, 203.0.113.100-145) in random order within 30 s; 5 answer SYN-ACK (then reset by the sweeper), 20 RST|ACK, the rest are silent',
      [{ kind: 'sweep', class: 'syn', source: sweeper }],
    ),
  ];
}

function icmpSweepIpv6(): Written[] {
  const rng = f.createRng(1007);
  const tr = new Trace();
  const sweeper = '2001:db8:bad::9';
  const targets = Array.from({ length: 100 }, (_, i) => `2001:db8:2::${(i + 1).toString(16)}`);
  const alive = new Set(rng.shuffle([...targets]).slice(0, 10));
  const id = rng.int(1, 0xffff);
  let t = T0 + S;
  targets.forEach((dst, i) => {
    const req = f.icmpv6Echo({ src: sweeper, dst, type: 'request', id, seq: i + 1 });
    tr.add(t, f.ipv6({ src: sweeper, dst, nextHeader: f.Proto.ICMPV6, payload: req, hopLimit: 53 }));
    if (alive.has(dst)) {
      const rep = f.icmpv6Echo({ src: dst, dst: sweeper, type: 'reply', id, seq: i + 1 });
      tr.add(t + rng.int(300, 1500), f.ipv6({ src: dst, dst: sweeper, nextHeader: f.Proto.ICMPV6, payload: rep, hopLimit: 64, flowLabel: rng.int(1, 0xfffff) }));
    }
    t += rng.int(40 * MS, 48 * MS);
  });
  return [
    classic(
      'icmp_sweep_ipv6',
      tr,
      '2001:db8:bad::9 sends ICMPv6 echo requests to 2001:db8:2::1-::64 (100 addresses) within 5 s; 10 reply',
      [{ kind: 'sweep', class: 'icmp', source: sweeper }],
    ),
  ];
}

function udpSweep(): Written[] {
  const rng = f.createRng(1008);
  const tr = new Trace();
  const sweeper = '203.0.113.11';
  const hosts = Array.from({ length: 150 }, (_, i) => f.ipv4Add('198.51.100.1', i));
  const order = rng.shuffle([...hosts]);
  const unreachable = new Set(order.slice(0, 40));
  const ntpServers = new Set(order.slice(40, 44));
  const sport = rng.int(40000, 60000);
  let t = T0 + S;
  for (const host of rng.shuffle([...hosts])) {
    const payload = f.ntpPacket(3, t);
    const probe = f.ipv4({
      src: sweeper,
      dst: host,
      protocol: f.Proto.UDP,
      payload: f.udp({ src: sweeper, dst: host, srcPort: sport, dstPort: 123, payload }),
      ttl: 50,
      id: rng.int(0, 0xffff),
    });
    tr.add(t, probe);
    const at = t + rng.int(200, 2000);
    if (unreachable.has(host)) {
      // Linux quotes the whole datagram; routers and BSDs the RFC 792 minimum (header + 8).
      const quote = rng.chance(0.6) ? 548 : undefined;
      const icmp = f.icmpUnreachable(3, probe, quote);
      tr.add(at, f.ipv4({ src: host, dst: sweeper, protocol: f.Proto.ICMP, payload: icmp, ttl: 64, tos: 0xc0, id: rng.int(0, 0xffff) }));
    } else if (ntpServers.has(host)) {
      const reply = f.ntpPacket(4, at, t);
      tr.add(
        at,
        f.ipv4({
          src: host,
          dst: sweeper,
          protocol: f.Proto.UDP,
          payload: f.udp({ src: host, dst: sweeper, srcPort: 123, dstPort: sport, payload: reply }),
          ttl: 64,
          id: rng.int(0, 0xffff),
          dontFragment: true,
        }),
      );
    }
    t += rng.int(50 * MS, 150 * MS);
  }
  return [
    classic(
      'udp_sweep',
      tr,
      '203.0.113.11 sends a 48-byte NTP client request to UDP port 123 on 150 hosts 198.51.100.1-150 in random order within 15 s; 40 answer ICMP port unreachable quoting the probe, 4 answer NTP, the rest are silent',
      [{ kind: 'sweep', class: 'udp', source: sweeper }],
    ),
  ];
}

function benignNatGateway(): Written[] {
  const rng = f.createRng(1009);
  const tr = new Trace();
  const gw = '198.51.100.1';
  const servers = [
    ...rng.shuffle(Array.from({ length: 254 }, (_, i) => f.ipv4Add('192.0.2.1', i)).filter((a) => a !== '192.0.2.53')).slice(0, 150),
    ...rng.shuffle(Array.from({ length: 254 }, (_, i) => f.ipv4Add('203.0.113.1', i))).slice(0, 100),
  ];
  const rttOf = new Map(servers.map((s) => [s, rng.int(5 * MS, 80 * MS)]));
  const ttlOf = new Map(servers.map((s) => [s, rng.pick([64, 128, 255]) - rng.int(6, 20)]));
  // Every server at least once, then popular ones more often (a few servers take most sessions).
  const popular = servers.slice(0, 25);
  const targets = [...servers, ...Array.from({ length: 350 }, () => (rng.chance(0.7) ? rng.pick(popular) : rng.pick(servers)))];
  rng.shuffle(targets);
  const outcomes: ('ok' | 'refused' | 'silent')[] = targets.map(() => 'ok');
  const failIdx = rng.shuffle(Array.from({ length: targets.length }, (_, i) => i));
  failIdx.slice(0, 12).forEach((i) => (outcomes[i] = 'refused'));
  failIdx.slice(12, 18).forEach((i) => (outcomes[i] = 'silent'));
  const usedPorts = new Set<number>();
  const freshPort = (): number => {
    for (;;) {
      const p = rng.int(1024, 65535);
      if (!usedPorts.has(p)) {
        usedPorts.add(p);
        return p;
      }
    }
  };
  const slots = [0, 0, 0, 0, 0].map(() => T0 + rng.int(0, 2 * S));
  const tlsServer = new Map<string, boolean>();
  targets.forEach((server, i) => {
    const slot = slots.indexOf(Math.min(...slots));
    const t = slots[slot];
    const rtt = rttOf.get(server)!;
    const c = side(rng, gw, freshPort(), 'linux', 64);
    const v = side(rng, server, 443, 'linux', ttlOf.get(server)!);
    let end: number;
    if (outcomes[i] !== 'ok') end = tcpFailedAttempt(tr, rng, t, c, v, rtt, 'client', outcomes[i] === 'refused' ? 'refused' : 'silent');
    else {
      tlsServer.set(server, true);
      end = tcpSession(tr, rng, {
        t,
        client: c,
        server: v,
        rtt,
        vantage: 'client',
        request: tlsRecord(rng, 22, rng.int(180, 260)),
        response: tlsRecord(rng, 23, rng.int(300, 520)),
        closer: 'client',
        idle: rng.int(900 * MS, 3000 * MS),
      });
    }
    slots[slot] = end + rng.int(0, 900 * MS);
  });
  const last = Math.max(...slots);

  // DNS: 300 queries to the resolver, spread over the same five minutes.
  const resolver = '192.0.2.53';
  const names = [
    'www.example.com', 'cdn.example.net', 'api.example.org', 'mail.example.com', 'static.example.net',
    'updates.example.org', 'login.example.com', 'img.example.net', 'telemetry.example.org', 'news.example.com',
    'video.example.net', 'files.example.org', 'chat.example.com', 'maps.example.net', 'shop.example.org',
  ];
  const dnsTimes = Array.from({ length: 300 }, () => T0 + rng.int(0, last - T0)).sort((a, b) => a - b);
  for (const t of dnsTimes) {
    const id = rng.int(0, 0xffff);
    const name = rng.chance(0.03) ? `nosuch${rng.int(1, 999)}.example.invalid` : rng.pick(names);
    const type = rng.chance(0.7) ? 'A' : 'AAAA';
    const sport = freshPort();
    const q = f.dnsQuery(id, name, type);
    tr.add(t, f.ipv4({ src: gw, dst: resolver, protocol: f.Proto.UDP, payload: f.udp({ src: gw, dst: resolver, srcPort: sport, dstPort: 53, payload: q }), ttl: 64, id: rng.int(0, 0xffff), dontFragment: true }));
    const nx = name.endsWith('.invalid');
    const answers = nx ? [] : type === 'A' ? [rng.pick(servers), ...(rng.chance(0.4) ? [rng.pick(servers)] : [])] : [`2001:db8:f00::${rng.int(1, 0xfff).toString(16)}`];
    const r = f.dnsResponse(id, name, type, answers, rng.int(30, 3600), nx ? 3 : 0);
    tr.add(t + rng.int(800, 25 * MS), f.ipv4({ src: resolver, dst: gw, protocol: f.Proto.UDP, payload: f.udp({ src: resolver, dst: gw, srcPort: 53, dstPort: sport, payload: r }), ttl: 63, id: rng.int(0, 0xffff), dontFragment: true }));
  }

  // NTP: 20 client/server exchanges with four servers.
  const ntp = ['192.0.2.123', '192.0.2.124', '203.0.113.123', '203.0.113.124'];
  for (let i = 0; i < 20; i++) {
    const t = T0 + Math.round(((last - T0) * (i + rng.next())) / 20);
    const srv = ntp[i % ntp.length];
    const rtt = rng.int(4 * MS, 40 * MS);
    tr.add(t, f.ipv4({ src: gw, dst: srv, protocol: f.Proto.UDP, payload: f.udp({ src: gw, dst: srv, srcPort: 123, dstPort: 123, payload: f.ntpPacket(3, t) }), ttl: 64, id: rng.int(0, 0xffff), dontFragment: true, tos: 0xb8 }));
    tr.add(t + rtt, f.ipv4({ src: srv, dst: gw, protocol: f.Proto.UDP, payload: f.udp({ src: srv, dst: gw, srcPort: 123, dstPort: 123, payload: f.ntpPacket(4, t + rtt / 2, t) }), ttl: 57, id: rng.int(0, 0xffff), dontFragment: true, tos: 0xb8 }));
  }

  return [
    classic(
      'benign_nat_gateway',
      tr,
      'NAT gateway 198.51.100.1 makes 600 HTTPS connection attempts (3-5 at a time, random source ports) to 250 servers in 192.0.2.0/24 and 203.0.113.0/24 over 5 minutes: 582 complete sessions, 12 refused with RST, 6 unanswered (SYN retransmitted twice); plus 300 DNS queries to 192.0.2.53 with answers and 20 NTP exchanges',
      [],
    ),
  ];
}

function benignBusyServer(): Written[] {
  const rng = f.createRng(1010);
  const tr = new Trace();
  const server = '203.0.113.80';
  const pool = [
    ...Array.from({ length: 254 }, (_, i) => f.ipv4Add('192.0.2.1', i)),
    ...Array.from({ length: 254 }, (_, i) => f.ipv4Add('198.51.100.1', i)),
  ];
  const clients = rng.shuffle(pool).slice(0, 400);
  const closedHitters = new Set(clients.slice(0, 5));
  let sessions = 0;
  for (const client of clients) {
    const style: Style = rng.chance(0.6) ? 'linux' : 'windows';
    const ttl = (style === 'linux' ? 64 : 128) - rng.int(3, 18);
    const rtt = rng.int(1 * MS, 120 * MS);
    let cport = style === 'linux' ? rng.int(32768, 60000) : rng.int(49152, 64000);
    const n = rng.int(1, 3);
    const starts = Array.from({ length: n }, () => T0 + rng.int(0, 118 * S)).sort((a, b) => a - b);
    for (const t of starts) {
      const port = rng.chance(0.7) ? 443 : 80;
      const c = side(rng, client, cport++, style, ttl);
      const v = side(rng, server, port, 'linux', 64);
      tcpSession(tr, rng, {
        t,
        client: c,
        server: v,
        rtt,
        vantage: 'server',
        request: port === 443 ? tlsRecord(rng, 22, rng.int(100, 160)) : httpRequest('shop.example', `/item/${rng.int(1, 9999)}`),
        response: port === 443 ? tlsRecord(rng, 23, rng.int(150, 260)) : httpResponse(rng, rng.int(60, 180)),
        closer: port === 80 ? 'server' : 'client',
      });
      sessions++;
    }
    if (closedHitters.has(client)) {
      const c = side(rng, client, cport++, style, ttl);
      const v = side(rng, server, 8080, 'linux', 64);
      tcpFailedAttempt(tr, rng, T0 + rng.int(0, 118 * S), c, v, rtt, 'server', 'refused');
    }
  }
  return [
    classic(
      'benign_busy_server',
      tr,
      `web server 203.0.113.80: 400 clients from 192.0.2.0/24 and 198.51.100.0/24 (Linux and Windows stacks) open ${sessions} complete HTTP/HTTPS sessions to ports 80/443 over 2 minutes; 5 clients also try closed port 8080 once (RST)`,
      [],
    ),
  ];
}

function linkTypeVariants(): Written[] {
  const rng = f.createRng(1011);
  const tr = new Trace();
  const scanner = '203.0.113.66';
  const target = '198.51.100.66';
  const ports = pickPorts(rng, 30);
  const sport = rng.int(40000, 60000);
  let t = T0 + S;
  for (const port of ports) {
    const p: Probe = { src: scanner, dst: target, sport, dport: port, flags: 'S', seq: rng.uint32(), ipId: rng.int(0, 0xffff), ttl: 45, options: 'mss' };
    scanStep(tr, rng, t, p, 'closed', { rtt: 30 * MS, kernelTtl: 64 });
    t += rng.int(25 * MS, 32 * MS);
  }
  const incidents: Incident[] = [{ kind: 'scan', class: 'syn', source: scanner, destination: target }];
  const what = '203.0.113.66 SYN-scans 30 ports of 198.51.100.66 within 1 s, every port answers RST|ACK';
  const out: Written[] = [];
  const variants: [string, Link, string][] = [
    ['linktype_vlan', 'vlan', 'Ethernet with an 802.1Q tag (VLAN 100)'],
    ['linktype_qinq', 'qinq', 'Ethernet with QinQ tags (802.1ad 0x88a8 VLAN 300, then 802.1Q VLAN 100)'],
    ['linktype_sll', 'sll', 'LINKTYPE_LINUX_SLL (113), captured on the target: probes PACKET_HOST, answers PACKET_OUTGOING'],
    ['linktype_sll2', 'sll2', 'LINKTYPE_LINUX_SLL2 (276), captured on the target'],
    ['linktype_raw', 'raw', 'LINKTYPE_RAW (101), bare IPv4 packets'],
    ['linktype_null', 'null', 'LINKTYPE_NULL (0), BSD loopback header with family 2 little-endian'],
  ];
  for (const [name, link, desc] of variants) out.push(classic(name, tr, `${what}; ${desc}`, incidents, link, target));

  const nsPath = join(OUT_DIR, 'linktype_pcap_nanosecond_be.pcap');
  const nsPackets = writeNanosecondBigEndian(nsPath, tr, f.createRng(2011));
  writeExpected('linktype_pcap_nanosecond_be', `${what}; classic pcap, big-endian, nanosecond timestamps (magic 0xa1b23c4d), Ethernet`, incidents);
  out.push({ name: 'linktype_pcap_nanosecond_be', packets: nsPackets, bytes: statSync(nsPath).size });

  const ngPath = join(OUT_DIR, 'linktype_pcapng_multi.pcapng');
  const ngPackets = writePcapngTwoInterfaces(ngPath, tr, target, f.createRng(3011));
  writeExpected(
    'linktype_pcapng_multi',
    `${what}; pcapng with two interfaces: probes on interface 0 (Ethernet, if_tsresol 9 = nanoseconds), answers on interface 1 (LINUX_SLL, default microseconds)`,
    incidents,
  );
  out.push({ name: 'linktype_pcapng_multi', packets: ngPackets, bytes: statSync(ngPath).size });
  return out;
}

function fragmentsAndOptions(): Written[] {
  const rng = f.createRng(1012);
  const tr = new Trace();
  const scanner = '203.0.113.12';
  const target = '198.51.100.12';
  const ports = pickPorts(rng, 25, [22]);
  const sport = rng.int(40000, 60000);
  let t = T0 + S;
  let fragmented = 0;
  ports.forEach((port, i) => {
    // nmap --ip-options R --data-length 16 [--mtu 24]: record-route option on every probe, 16 data
    // bytes after the 24-byte TCP header (MSS option); every third probe split so that the first
    // fragment carries exactly the TCP header and the second the data.
    const p: Probe = {
      src: scanner,
      dst: target,
      sport,
      dport: port,
      flags: 'S',
      seq: rng.uint32(),
      ipId: rng.int(0, 0xffff),
      ttl: 46,
      options: 'mss',
      payload: rng.bytes(16),
      ipOptions: f.ipv4RecordRoute(9),
    };
    let fragments: Buffer[] | undefined;
    if (i % 3 === 1) {
      fragments = f.fragmentIpv4(probePacket(p), [24]);
      if (fragmented === 2) fragments.reverse(); // one probe's fragments arrive out of order
      fragmented++;
    }
    scanStep(tr, rng, t, p, port === 22 ? 'open' : 'closed', { rtt: 30 * MS, kernelTtl: 64, fragments, answerDelay: fragments ? 40 : 0 });
    t += rng.int(40 * MS, 90 * MS);
  });
  // Benign IPv6 traffic whose TCP sits behind hop-by-hop and destination-options headers.
  const ext = [f.ipv6OptionsHeader(0), f.ipv6OptionsHeader(60)];
  const v6client = '2001:db8:3::20';
  const v6server = '2001:db8:1::12';
  for (let k = 0; k < 2; k++) {
    const c = side(rng, v6client, 41000 + k, 'linux', 61);
    const v = side(rng, v6server, 80, 'linux', 64);
    const sub = new Trace();
    tcpSession(sub, rng, {
      t: T0 + 300 * MS + k * 900 * MS,
      client: c,
      server: v,
      rtt: 2 * MS,
      vantage: 'server',
      request: httpRequest('www6.example', '/'),
      response: httpResponse(rng, 400),
      closer: 'client',
    });
    for (const e of sub.sorted()) tr.add(e.ts, withIpv6Extensions(e.ip, ext));
  }
  return [
    classic(
      'fragments_and_options',
      tr,
      `203.0.113.12 SYN-scans 25 ports of 198.51.100.12 (1 open); every probe carries an IPv4 record-route option and 16 data bytes, ${fragmented} probes are split into two IPv4 fragments (first fragment = 24-byte TCP header; one pair sent out of order); plus two benign IPv6 HTTP sessions (2001:db8:3::20 to 2001:db8:1::12) with hop-by-hop and destination-options headers before TCP`,
      [{ kind: 'scan', class: 'syn', source: scanner, destination: target }],
    ),
  ];
}

/** Re-emits an IPv6 packet (no extension headers yet) with `ext` inserted before its upper layer. */
function withIpv6Extensions(ip: Buffer, ext: f.Ipv6ExtensionHeader[]): Buffer {
  const flow = ip.readUInt32BE(0) & 0xfffff;
  return f.ipv6({
    src: ipv6Text(ip.subarray(8, 24)),
    dst: ipv6Text(ip.subarray(24, 40)),
    nextHeader: ip[6],
    payload: ip.subarray(40),
    hopLimit: ip[7],
    flowLabel: flow,
    extensionHeaders: ext,
  });
}

function ipv6Text(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(':');
}

function ipv6ExtensionHeaderScan(): Written[] {
  const rng = f.createRng(1013);
  const tr = new Trace();
  const scanner = '2001:db8:bad::12';
  const target = '2001:db8:1::12';
  const ports = pickPorts(rng, 25, [22]);
  const sport = rng.int(40000, 60000);
  const ext = [f.ipv6OptionsHeader(0), f.ipv6OptionsHeader(60)];
  let t = T0 + S;
  let fragmented = 0;
  ports.forEach((port, i) => {
    const p: Probe = {
      src: scanner,
      dst: target,
      sport,
      dport: port,
      flags: 'S',
      seq: rng.uint32(),
      ipId: 0,
      ttl: 52,
      options: 'mss',
      payload: rng.bytes(16),
      ext,
    };
    let fragments: Buffer[] | undefined;
    if (i % 3 === 1) {
      // Fragmentable part: destination options (8) + TCP header (24) + data (16); the first
      // fragment carries the options header and the whole TCP header.
      fragments = f.fragmentIpv6(probePacket(p), [32], rng.uint32());
      fragmented++;
    }
    scanStep(tr, rng, t, p, port === 22 ? 'open' : 'closed', { rtt: 30 * MS, kernelTtl: 64, fragments, answerDelay: fragments ? 40 : 0 });
    t += rng.int(40 * MS, 90 * MS);
  });
  return [
    classic(
      'ipv6_ext_headers_scan',
      tr,
      `2001:db8:bad::12 SYN-scans 25 ports of 2001:db8:1::12 (1 open); every probe carries hop-by-hop and destination-options headers before TCP and 16 data bytes; ${fragmented} probes are split into two IPv6 fragments (the first carries the whole TCP header)`,
      [{ kind: 'scan', class: 'syn', source: scanner, destination: target }],
    ),
  ];
}

const SCENARIOS: Scenario[] = [
  { name: 'slow_vertical_scan', run: slowVerticalScan },
  { name: 'slow_vertical_scan_ipv6', run: slowVerticalScanIpv6 },
  { name: 'fast_scan_ipv6_fin', run: fastScanIpv6Fin },
  { name: 'distributed_scan', run: distributedScan },
  { name: 'decoy_scan', run: decoyScan },
  { name: 'horizontal_sweep_ssh', run: horizontalSweepSsh },
  { name: 'icmp_sweep_ipv6', run: icmpSweepIpv6 },
  { name: 'udp_sweep', run: udpSweep },
  { name: 'benign_nat_gateway', run: benignNatGateway },
  { name: 'benign_busy_server', run: benignBusyServer },
  { name: 'linktype', run: linkTypeVariants },
  { name: 'fragments_and_options', run: fragmentsAndOptions },
  { name: 'ipv6_ext_headers_scan', run: ipv6ExtensionHeaderScan },
];

export function main(only: readonly string[] = []): Written[] {
  mkdirSync(OUT_DIR, { recursive: true });
  const written: Written[] = [];
  for (const s of SCENARIOS) {
    if (only.length > 0 && !only.some((o) => s.name.startsWith(o) || o.startsWith(s.name))) continue;
    written.push(...s.run());
  }
  const w = Math.max(...written.map((x) => x.name.length), 4);
  console.log(`${'name'.padEnd(w)}  ${'packets'.padStart(8)}  ${'bytes'.padStart(9)}`);
  for (const x of written) {
    console.log(`${x.name.padEnd(w)}  ${String(x.packets).padStart(8)}  ${String(x.bytes).padStart(9)}`);
    if (x.bytes >= 1 << 20) console.log(`  warning: ${x.name} is over 1 MB`);
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
