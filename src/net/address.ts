/**
 * Address text and hashing. Formatting and parsing allocate and are for output, config and tests;
 * only `hashIPv6` runs on the packet path.
 */

/** Dotted quad of an unsigned 32-bit IPv4 address: 0xc0000201 → '192.0.2.1'. */
export function formatIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * RFC 5952 canonical text of the 16 bytes at `offset`: lower-case hex without leading zeros, the
 * longest run of two or more zero groups (the first on a tie) as `::`, and IPv4-mapped addresses
 * (::ffff:0:0/96) in mixed notation as §5 recommends, e.g. '::ffff:192.0.2.1'.
 */
export function formatIPv6(buf: Uint8Array, offset: number): string {
  const groups: number[] = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = (buf[offset + 2 * i] << 8) | buf[offset + 2 * i + 1];

  const mapped =
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
  if (mapped) {
    const v4 = ((groups[6] << 16) | groups[7]) >>> 0;
    return `::ffff:${formatIPv4(v4)}`;
  }

  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  // RFC 5952 §4.2.2: a single zero group is never shortened to '::'.
  if (bestLength < 2) return groups.map((g) => g.toString(16)).join(':');

  const head = groups.slice(0, bestStart).map((g) => g.toString(16)).join(':');
  const tail = groups.slice(bestStart + bestLength).map((g) => g.toString(16)).join(':');
  return `${head}::${tail}`;
}

/**
 * A 32-bit hash of the 16 address bytes at `offset`, unsigned. Each big-endian word is folded in
 * with a multiply (so every input bit reaches the high bits), then murmur3's finaliser spreads
 * the high bits back down: tables may index by the low bits, and sources that differ only in the
 * interface identifier, or only in the prefix, still spread. Unrolled and single-pass because it
 * runs twice per IPv6 packet (measured about half the cost of murmur3_32's loop).
 */
export function hashIPv6(buf: Uint8Array, offset: number): number {
  return hashIPv6Signed(buf, offset) >>> 0;
}

/**
 * hashIPv6 as a signed int32, for the decoder: a signed result stays a small integer when the
 * call is not inlined, where an unsigned one above 2^31 would be boxed (an allocation per call).
 * The caller applies `>>> 0` where it stores the value.
 */
export function hashIPv6Signed(buf: Uint8Array, offset: number): number {
  const o = offset;
  const w0 = (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
  const w1 = (buf[o + 4] << 24) | (buf[o + 5] << 16) | (buf[o + 6] << 8) | buf[o + 7];
  const w2 = (buf[o + 8] << 24) | (buf[o + 9] << 16) | (buf[o + 10] << 8) | buf[o + 11];
  const w3 = (buf[o + 12] << 24) | (buf[o + 13] << 16) | (buf[o + 14] << 8) | buf[o + 15];
  let h = Math.imul(w0 ^ 0x9747b28c, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ w1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w3, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

export type ParsedAddress = { version: 4; v4: number } | { version: 6; v6: Uint8Array };

/**
 * Parses an IPv4 dotted quad or IPv6 text (any valid RFC 4291 form, including '::' and a trailing
 * dotted quad); null for anything else. Strict on purpose: no leading zeros in IPv4 octets (they
 * mean octal to some tools), no zone ids, no brackets or prefix lengths.
 */
export function parseAddressBytes(text: string): ParsedAddress | null {
  if (text.includes(':')) {
    const v6 = parseIPv6(text);
    return v6 === null ? null : { version: 6, v6 };
  }
  const v4 = parseIPv4(text);
  return v4 === null ? null : { version: 4, v4 };
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

function parseIPv6(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];

  // A dotted quad may only end the address and stands for two groups.
  const groups: number[] = [];
  const parseGroups = (parts: string[], isLast: boolean): boolean => {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (isLast && i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIPv4(part);
        if (v4 === null) return false;
        groups.push(v4 >>> 16, v4 & 0xffff);
      } else if (HEX_GROUP.test(part)) {
        groups.push(parseInt(part, 16));
      } else {
        return false;
      }
    }
    return true;
  };

  if (!parseGroups(head, halves.length === 1)) return null;
  const headCount = groups.length;
  if (!parseGroups(tail, true)) return null;
  const tailCount = groups.length - headCount;

  if (halves.length === 1) {
    if (groups.length !== 8) return null;
  } else if (groups.length > 7) {
    // '::' stands for at least one zero group.
    return null;
  }

  const out = new Uint8Array(16);
  const write = (index: number, value: number): void => {
    out[2 * index] = value >>> 8;
    out[2 * index + 1] = value & 0xff;
  };
  for (let i = 0; i < headCount; i++) write(i, groups[i]);
  for (let i = 0; i < tailCount; i++) write(8 - tailCount + i, groups[headCount + i]);
  return out;
}
