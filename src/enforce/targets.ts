/**
 * Ban and allowlist targets: an address or a network, parsed once into the integer form the kernel
 * sets need (an interval [start, start + 2^(width - prefix))). Not on the packet path.
 */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface ParsedTarget {
  readonly family: Family;
  /** First address of the network as an unsigned integer of 32 or 128 bits. */
  readonly start: bigint;
  readonly prefixLength: number;
  /** Canonical text: '192.0.2.7' for one address, '2001:db8::/64' for a network. */
  readonly text: string;
}

export type ParseResult = { ok: true; target: ParsedTarget } | { ok: false; reason: string };

export const familyWidth = (family: Family): number => (family === 4 ? 32 : 128);

/**
 * Strict on purpose: four-part decimal IPv4 only (ipaddr.js alone also takes '10' or '0x0a.1'),
 * no zone ids, and no host bits under the prefix ('192.0.2.7/24' is refused, not silently widened,
 * because a typo there would ban or allow 255 other hosts). IPv4-mapped IPv6 is stored as IPv4:
 * the kernel sees those sources as IPv4 packets.
 */
export function parseTarget(input: string): ParseResult {
  const text = input.trim();
  const fast = parseIPv4Fast(text);
  if (fast !== null) return fast;
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const lengthText = slash < 0 ? null : text.slice(slash + 1);

  let family: Family;
  let bytes: number[];
  if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) {
    family = 4;
    bytes = ipaddr.IPv4.parse(addressText).toByteArray();
  } else if (ipaddr.IPv6.isValid(addressText) && !addressText.includes('%')) {
    const v6 = ipaddr.IPv6.parse(addressText);
    family = 6;
    bytes = v6.toByteArray();
  } else {
    return { ok: false, reason: 'not an IPv4 or IPv6 address' };
  }

  const width = familyWidth(family);
  let prefixLength = width;
  if (lengthText !== null) {
    if (!/^\d{1,3}$/.test(lengthText)) return { ok: false, reason: 'prefix length is not a number' };
    prefixLength = Number(lengthText);
    if (prefixLength > width) return { ok: false, reason: `prefix length above ${width}` };
  }

  let start = bytesToBigint(bytes);
  if (family === 6 && prefixLength >= 96 && start >> 32n === 0xffffn) {
    family = 4;
    prefixLength -= 96;
    start &= 0xffffffffn;
  }
  const hostBits = BigInt(familyWidth(family) - prefixLength);
  if (start & ((1n << hostBits) - 1n)) {
    const network = makeTarget(family, (start >> hostBits) << hostBits, prefixLength);
    return { ok: false, reason: `host bits set under the prefix (the network is ${network.text})` };
  }
  return { ok: true, target: makeTarget(family, start, prefixLength) };
}

export function makeTarget(family: Family, start: bigint, prefixLength: number): ParsedTarget {
  const address = formatAddress(family, start);
  const text = prefixLength === familyWidth(family) ? address : `${address}/${prefixLength}`;
  return { family, start, prefixLength, text };
}

/** One past the last address of the network: 2^width for a network that reaches the top. */
export function intervalEnd(target: ParsedTarget): bigint {
  return target.start + (1n << BigInt(familyWidth(target.family) - target.prefixLength));
}

/** Whether `outer` contains `inner` (equal counts). Prefixes either nest or are disjoint. */
export function contains(outer: ParsedTarget, inner: ParsedTarget): boolean {
  if (outer.family !== inner.family || outer.prefixLength > inner.prefixLength) return false;
  const shift = BigInt(familyWidth(outer.family) - outer.prefixLength);
  return inner.start >> shift === outer.start >> shift;
}

/** The network of `target` cut to a shorter prefix. */
export function widen(target: ParsedTarget, prefixLength: number): bigint {
  const shift = BigInt(familyWidth(target.family) - prefixLength);
  return (target.start >> shift) << shift;
}

/** Big-endian key bytes as the kernel compares them (network order). */
export function keyBytes(family: Family, value: bigint): Buffer {
  const size = family === 4 ? 4 : 16;
  const out = Buffer.alloc(size);
  let v = value;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function formatAddress(family: Family, value: bigint): string {
  const bytes = keyBytes(family, value);
  if (family === 4) return new ipaddr.IPv4([...bytes]).toString();
  const parts: number[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(bytes.readUInt16BE(i));
  // RFC 5952 text, so the same network always has the same key in logs and maps.
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/**
 * The fewest prefixes that cover [first, last] exactly: nft lists adjacent or merged intervals as a
 * range, and callers want the prefixes back.
 */
export function rangeToTargets(family: Family, first: bigint, last: bigint): ParsedTarget[] {
  const width = familyWidth(family);
  const out: ParsedTarget[] = [];
  let start = first;
  while (start <= last) {
    let size = width;
    // The largest aligned block that starts at `start` and ends at or before `last`.
    while (size > 0) {
      const block = 1n << BigInt(size);
      if (start % block === 0n && start + block - 1n <= last) break;
      size--;
    }
    out.push(makeTarget(family, start, width - size));
    start += 1n << BigInt(size);
  }
  return out;
}

const IPV4_CIDR = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})(?:\/(0|[1-9]\d?))?$/;

/**
 * The common case (a dotted quad, maybe with a prefix) without ipaddr.js, which costs a few µs
 * per address: restoring 100,000 bans parses 100,000 of them. Anything unusual → null → slow path.
 */
function parseIPv4Fast(text: string): ParseResult | null {
  const m = IPV4_CIDR.exec(text);
  if (m === null) return null;
  const a = Number(m[1]);
  const b = Number(m[2]);
  const c = Number(m[3]);
  const d = Number(m[4]);
  const prefixLength = m[5] === undefined ? 32 : Number(m[5]);
  if (a > 255 || b > 255 || c > 255 || d > 255 || prefixLength > 32) return null;
  const value = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const hostMask = prefixLength === 0 ? 0xffffffff : (2 ** (32 - prefixLength) - 1) >>> 0;
  if ((value & hostMask) >>> 0 !== 0) return null; // the slow path words the error
  const address = `${a}.${b}.${c}.${d}`;
  return { ok: true, target: { family: 4, start: BigInt(value), prefixLength, text: prefixLength === 32 ? address : `${address}/${prefixLength}` } };
}

function bytesToBigint(bytes: readonly number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}
