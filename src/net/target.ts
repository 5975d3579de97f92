/**
 * Ban and allowlist targets: an address or a network, parsed once into the integer form the kernel
 * sets need (an interval [start, start + 2^(width - prefix))). Not on the packet path.
 */
import { formatNetwork, tryParseNetwork } from './address-set.js';

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
 * The decide layer's parser (decide/address-set.ts), so a ban and an allowlist entry follow the same
 * rules: four-part decimal IPv4 only, no zone ids, and no host bits under the prefix ('192.0.2.7/24'
 * is refused, not silently widened, because a typo there would ban or allow 255 other hosts).
 * IPv4-mapped IPv6 is IPv4: the kernel sees those sources as IPv4 packets.
 */
export function parseTarget(input: string): ParseResult {
  const parsed = tryParseNetwork(input.trim());
  if (typeof parsed === 'string') return { ok: false, reason: parsed.startsWith('host bits') ? parsed : `not an IPv4 or IPv6 address or network (${parsed})` };
  const [w0, w1, w2, w3] = parsed.words;
  const start = parsed.family === 4 ? BigInt(w3) : (BigInt(w0) << 96n) | (BigInt(w1) << 64n) | (BigInt(w2) << 32n) | BigInt(w3);
  return { ok: true, target: { family: parsed.family, start, prefixLength: parsed.length, text: parsed.text } };
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
export function targetContains(outer: ParsedTarget, inner: ParsedTarget): boolean {
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
  if (family === 4) return formatNetwork(4, 32, 0, 0, 0, Number(value));
  const word = (i: number): number => Number((value >> BigInt(96 - 32 * i)) & 0xffffffffn);
  return formatNetwork(6, 128, word(0), word(1), word(2), word(3));
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
