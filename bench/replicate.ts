/**
 * Replicated real scans: the repository's public and lab captures (test/fixtures/public, test/fixtures/lab;
 * the public ones are copies of /work/shared/pcaps, see its INDEX.md) written one after another, over and
 * over, up to a frame count. Each replica maps every address through a bijection of its own, so its
 * conversations stay consistent (a probe and its answer, an ICMP error and the packet it quotes, ARP) but
 * it is new hosts to the detector; checksums are recomputed (IPv4 header, TCP, UDP, ICMP, ICMPv6, and the
 * headers quoted by ICMP errors); timestamps are shifted so every capture, and every replica, follows the
 * previous one in packet time.
 *
 *   npx tsx bench/replicate.ts OUT.pcap [FRAMES=1000000]
 */
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GenerateResult } from './generate.js';

/** Gap of packet time between two captures of a replica (and between replicas). */
const GAP_US = 1_000_000;
/** 2026-01-01T00:00:00Z in microseconds. */
const T0 = Date.UTC(2026, 0, 1) * 1000;

interface Capture {
  name: string;
  data: Buffer;
  /** Offsets of each record header (16 bytes), and the first/last timestamp in microseconds. */
  records: number[];
  firstUs: number;
  lastUs: number;
}

/** The captures replicated, in a fixed order (directory, then name). Only classic little-endian µs pcap. */
export function scanCaptures(repoRoot: string): Capture[] {
  const out: Capture[] = [];
  for (const dir of ['test/fixtures/public', 'test/fixtures/lab']) {
    const abs = join(repoRoot, dir);
    for (const name of readdirSync(abs).filter((n) => n.endsWith('.pcap')).sort()) {
      const data = readFileSync(join(abs, name));
      if (data.readUInt32LE(0) !== 0xa1b2c3d4 || data.readUInt32LE(20) !== 1) throw new Error(`${name}: not a little-endian µs Ethernet pcap`);
      const records: number[] = [];
      let firstUs = Infinity;
      let lastUs = -Infinity;
      for (let o = 24; o + 16 <= data.length; ) {
        const incl = data.readUInt32LE(o + 8);
        if (o + 16 + incl > data.length) break;
        const us = data.readUInt32LE(o) * 1e6 + data.readUInt32LE(o + 4);
        if (us < firstUs) firstUs = us;
        if (us > lastUs) lastUs = us;
        records.push(o);
        o += 16 + incl;
      }
      out.push({ name: `${dir.split('/').pop()}/${name}`, data, records, firstUs, lastUs });
    }
  }
  return out;
}

// ---- address bijections --------------------------------------------------------------------------

/** A keyed bijection on 16-bit values (every step is invertible modulo 2^16). */
function perm16(x: number, key: number): number {
  for (let round = 0; round < 3; round++) {
    x = (x ^ (key >>> (round * 5))) & 0xffff;
    x = Math.imul(x, 0x9e37 | 1) & 0xffff;
    x ^= x >>> 7;
    x = (x + (key & 0xffff) + round) & 0xffff;
  }
  return x;
}

/**
 * IPv4: the middle two octets go through the replica's 16-bit bijection; the first octet (so private,
 * public, loopback and multicast stay what they were) and the last (.0, .255) are kept. 0/8, 127/8
 * and 224/3 are left alone. A bijection on addresses: distinct addresses stay distinct.
 */
function map4(b: Buffer, o: number, key: number): void {
  const first = b[o];
  if (first === 0 || first === 127 || first >= 224) return;
  const mid = perm16((b[o + 1] << 8) | b[o + 2], key);
  b[o + 1] = mid >>> 8;
  b[o + 2] = mid & 0xff;
}

/** IPv6: bytes 10-11 (inside the interface identifier) through the bijection; multicast, ::, ::1 kept. */
function map6(b: Buffer, o: number, key: number): void {
  if (b[o] === 0xff) return;
  let zero = true;
  for (let i = 0; i < 15 && zero; i++) zero = b[o + i] === 0;
  if (zero) return;
  const mid = perm16((b[o + 10] << 8) | b[o + 11], key);
  b[o + 10] = mid >>> 8;
  b[o + 11] = mid & 0xff;
}

// ---- checksums --------------------------------------------------------------------------------------

function sum16(b: Buffer, o: number, n: number): number {
  let s = 0;
  const end = o + (n & ~1);
  for (let i = o; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (n & 1) s += b[end] << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

/** Incremental update (RFC 1624) of the checksum at `at` for 16-bit words that changed from `before`. */
function adjust(b: Buffer, at: number, before: number, after: number): void {
  let s = (~((b[at] << 8) | b[at + 1]) & 0xffff) + (~before & 0xffff) + after;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  b[at] = c >>> 8;
  b[at + 1] = c;
}

/**
 * Sets the transport checksum at `ck` over `len` bytes at `t` plus `pseudo`, when the whole segment
 * was captured; a truncated one is updated incrementally by the change in the pseudo-header sum.
 */
function transportChecksum(b: Buffer, t: number, len: number, end: number, ck: number, pseudo: number, oldPseudo: number, udp: boolean): void {
  if (ck + 2 > end) return;
  if (udp && b[ck] === 0 && b[ck + 1] === 0) return; // UDP over IPv4 without checksum
  if (t + len <= end) {
    b[ck] = 0;
    b[ck + 1] = 0;
    let c = fold(pseudo + sum16(b, t, len));
    if (udp && c === 0) c = 0xffff;
    b[ck] = c >>> 8;
    b[ck + 1] = c;
  } else adjust(b, ck, foldSum(oldPseudo), foldSum(pseudo));
}

function foldSum(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

function ipv4HeaderChecksum(b: Buffer, ip: number, ihl: number): void {
  b[ip + 10] = 0;
  b[ip + 11] = 0;
  const c = fold(sum16(b, ip, ihl));
  b[ip + 10] = c >>> 8;
  b[ip + 11] = c;
}

// ---- frame rewriting ---------------------------------------------------------------------------------

/** Rewrites the IPv4 packet at `ip` (up to `end`) for replica `key`; `quoted` for a header inside an ICMP error. */
function rewrite4(b: Buffer, ip: number, end: number, key: number, quoted: boolean): void {
  if (ip + 20 > end || b[ip] >> 4 !== 4) return;
  const ihl = (b[ip] & 15) * 4;
  if (ip + ihl > end) return;
  const oldPseudo = sum16(b, ip + 12, 8);
  map4(b, ip + 12, key);
  map4(b, ip + 16, key);
  ipv4HeaderChecksum(b, ip, ihl);
  const proto = b[ip + 9];
  const total = (b[ip + 2] << 8) | b[ip + 3];
  const later = ((b[ip + 6] & 0x1f) << 8 | b[ip + 7]) !== 0;
  const t = ip + ihl;
  const len = total - ihl;
  const pseudo = (p: number) => p + proto + len;
  const newPseudo = sum16(b, ip + 12, 8);
  if (later) return;
  if (quoted) {
    // Only the first 8 bytes are quoted: a UDP checksum there follows the addresses; TCP's is further.
    if (proto === 17 && t + 8 <= end && (b[t + 6] | b[t + 7]) !== 0) adjust(b, t + 6, foldSum(oldPseudo), foldSum(newPseudo));
    return;
  }
  if (proto === 6) transportChecksum(b, t, len, end, t + 16, pseudo(newPseudo), pseudo(oldPseudo), false);
  else if (proto === 17) transportChecksum(b, t, len, end, t + 6, pseudo(newPseudo), pseudo(oldPseudo), true);
  else if (proto === 1 && t + 8 <= end) {
    const type = b[t];
    if (type === 3 || type === 4 || type === 5 || type === 11 || type === 12) rewrite4(b, t + 8, end, key, true);
    if (t + len <= end) {
      b[t + 2] = 0;
      b[t + 3] = 0;
      const c = fold(sum16(b, t, len));
      b[t + 2] = c >>> 8;
      b[t + 3] = c;
    }
  }
}

const EXTENSION_HEADERS = new Set([0, 43, 60]);

function rewrite6(b: Buffer, ip: number, end: number, key: number, quoted: boolean): void {
  if (ip + 40 > end || b[ip] >> 4 !== 6) return;
  const oldPseudo = sum16(b, ip + 8, 32);
  map6(b, ip + 8, key);
  map6(b, ip + 24, key);
  if (quoted) return;
  const newPseudo = sum16(b, ip + 8, 32);
  let next = b[ip + 6];
  let t = ip + 40;
  const payloadEnd = ip + 40 + ((b[ip + 4] << 8) | b[ip + 5]);
  while (EXTENSION_HEADERS.has(next) && t + 8 <= end) {
    next = b[t];
    t += (b[t + 1] + 1) * 8;
  }
  if (next === 44) return; // fragments: their transport header is not checksummed per fragment
  const len = payloadEnd - t;
  const pseudo = (p: number) => p + len + next;
  if (next === 6) transportChecksum(b, t, len, end, t + 16, pseudo(newPseudo), pseudo(oldPseudo), false);
  else if (next === 17) transportChecksum(b, t, len, end, t + 6, pseudo(newPseudo), pseudo(oldPseudo), false);
  else if (next === 58 && t + 8 <= end) {
    const type = b[t];
    if (type >= 1 && type <= 4) rewrite6(b, t + 8, end, key, true);
    else if ((type === 135 || type === 136) && t + 24 <= end) map6(b, t + 8, key); // neighbour solicitation/advert target
    transportChecksum(b, t, len, end, t + 2, pseudo(newPseudo), pseudo(oldPseudo), false);
  }
}

/** Rewrites one Ethernet frame in place for replica `key`. */
function rewriteFrame(b: Buffer, o: number, end: number, key: number): void {
  let p = o + 12;
  let type = (b[p] << 8) | b[p + 1];
  while ((type === 0x8100 || type === 0x88a8) && p + 6 <= end) {
    p += 4;
    type = (b[p] << 8) | b[p + 1];
  }
  p += 2;
  if (type === 0x0800) rewrite4(b, p, end, key, false);
  else if (type === 0x86dd) rewrite6(b, p, end, key, false);
  else if (type === 0x0806 && p + 28 <= end && b[p + 4] === 6 && b[p + 5] === 4) {
    map4(b, p + 14, key);
    map4(b, p + 24, key);
  }
}

/**
 * Writes the captures of `repoRoot`, replicated, until exactly `frames` frames. Returns what was written
 * and how many replicas it took (the last one may be partial).
 */
export function writeReplicatedScans(path: string, repoRoot: string, frames: number): GenerateResult & { replicas: number; perReplica: number; spanSeconds: number } {
  const captures = scanCaptures(repoRoot);
  const perReplica = captures.reduce((n, c) => n + c.records.length, 0);
  const fd = openSync(path, 'w');
  const header = Buffer.from(captures[0].data.subarray(0, 24));
  header.writeUInt32LE(262144, 16);
  writeSync(fd, header);
  const out = Buffer.allocUnsafe(8 << 20);
  let used = 0;
  let bytes = 24;
  let written = 0;
  let cursorUs = T0;
  let replica = 0;
  while (written < frames) {
    const key = (Math.imul(replica + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
    for (const c of captures) {
      const shift = cursorUs - c.firstUs;
      for (const r of c.records) {
        if (written === frames) break;
        const incl = c.data.readUInt32LE(r + 8);
        if (used + 16 + incl > out.length) {
          writeSync(fd, out, 0, used);
          used = 0;
        }
        c.data.copy(out, used, r, r + 16 + incl);
        const us = c.data.readUInt32LE(r) * 1e6 + c.data.readUInt32LE(r + 4) + shift;
        const sec = Math.floor(us / 1e6);
        out.writeUInt32LE(sec, used);
        out.writeUInt32LE(us - sec * 1e6, used + 4);
        rewriteFrame(out, used + 16, used + 16 + incl, key);
        used += 16 + incl;
        bytes += 16 + incl;
        written++;
      }
      cursorUs += c.lastUs - c.firstUs + GAP_US;
    }
    replica++;
  }
  writeSync(fd, out, 0, used);
  closeSync(fd);
  return { frames: written, bytes, replicas: replica, perReplica, spanSeconds: (cursorUs - T0) / 1e6 };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [path, countText] = process.argv.slice(2);
  if (!path) {
    console.error('usage: npx tsx bench/replicate.ts OUT.pcap [FRAMES=1000000]');
    process.exit(2);
  }
  const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
  const r = writeReplicatedScans(path, root, Number(countText ?? 1_000_000));
  console.log(`${path}: ${r.frames} frames (${r.replicas} replicas of ${r.perReplica}), ${(r.bytes / 1e6).toFixed(1)} MB, ${(r.spanSeconds / 3600).toFixed(1)} h of packet time`);
}
