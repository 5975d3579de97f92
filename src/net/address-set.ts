/**
 * Sets of addresses and networks (IPv4 and IPv6) with longest-prefix matching: the allowlist, the
 * lockout guard's protected addresses, later threat feeds. Up to a million entries must load in
 * seconds and answer in well under a microsecond, so each prefix length has its own map of masked
 * keys (a plain number for IPv4, for IPv6 a number up to /32 and a short string of the masked bits
 * beyond), and a lookup probes only the lengths the set holds, longest first: the first hit is the
 * most specific entry. The maps hold the reason string itself (one shared string for a whole feed);
 * the network's text is formatted only for a hit.
 *
 * IPv4-mapped IPv6 (::ffff:0:0/96) is IPv4 everywhere: `::ffff:192.0.2.1` is stored, matched and
 * printed as `192.0.2.1`, so a ban or an allowlist entry cannot be dodged by switching notation. An
 * IPv6 network shorter than /96 that covers the mapped range (`::/0`, `::/80`) also matches the
 * IPv4 addresses inside it.
 *
 * Parsing is strict (inet_pton's rules: four decimal octets without leading zeros, no zone index)
 * and a network with host bits set is refused rather than silently widened: an allowlist entry
 * that allows more than its author wrote is a hole. Every refusal is a PortwardenError with code
 * PW_ERR_DECIDE_INPUT that quotes the bad entry.
 */
import { formatIPv4, formatIPv6 } from './address.js';
import { PortwardenError } from '../errors.js';

/** An address or network, parsed. IPv4 keeps its address in `words[3]` (as in ::ffff:a.b.c.d) and zeros before it. */
export interface Network {
  readonly family: 4 | 6;
  /** Prefix length: 0–32 for IPv4, 0–128 for IPv6. */
  readonly length: number;
  /** The network address as four unsigned big-endian 32-bit words, host bits zero. */
  readonly words: readonly [number, number, number, number];
  /** Canonical text: '192.0.2.7' or '2001:db8::1' for one address, '192.0.2.0/24' or '2001:db8::/64' for a network. */
  readonly text: string;
}

/** The entry that matched: its canonical network text and the reason it was added with. */
export interface AddressMatch {
  network: string;
  reason: string;
}

// ---------------------------------------------------------------------------------------------------
// Parsing. The parsers write into module scratch (no allocation per lookup) and return null, or a
// short description of what is wrong for the error message.

const W = new Uint32Array(4);
let pFamily: 4 | 6 = 4;
let pLength = 0;
const GROUPS = new Array<number>(8).fill(0);

function parseIPv4(text: string, start: number, end: number): number | string {
  let value = 0;
  let part = 0;
  let digits = 0;
  let octet = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 46; // a virtual '.' closes the last octet
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return 'octet with a leading zero (ambiguous: octal or decimal?)';
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return 'octet over 255';
    } else if (c === 46) {
      if (digits === 0) return 'empty octet';
      if (part === 4) return 'more than four octets';
      value = value * 256 + octet;
      part++;
      digits = 0;
      octet = 0;
    } else {
      return `unexpected character ${JSON.stringify(text[i])}`;
    }
  }
  if (part !== 4) return 'fewer than four octets';
  return value >>> 0;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Groups of `text[start, end)` split on ':' into GROUPS from `at`; returns the count or an error. */
function parseGroups(text: string, start: number, end: number, at: number, allowV4Tail: boolean): number | string {
  if (start === end) return 0;
  let n = 0;
  let i = start;
  while (i <= end) {
    let j = i;
    while (j < end && text.charCodeAt(j) !== 58) j++;
    if (j === i) return 'empty group';
    if (j === end && allowV4Tail && text.indexOf('.', i) !== -1 && text.indexOf('.', i) < end) {
      const v4 = parseIPv4(text, i, j);
      if (typeof v4 === 'string') return `embedded IPv4: ${v4}`;
      if (at + n + 2 > 8) return 'too many groups';
      GROUPS[at + n++] = v4 >>> 16;
      GROUPS[at + n++] = v4 & 0xffff;
      return n;
    }
    if (j - i > 4) return 'group of more than four hex digits';
    let g = 0;
    for (let k = i; k < j; k++) {
      const h = hexValue(text.charCodeAt(k));
      if (h < 0) return `unexpected character ${JSON.stringify(text[k])}`;
      g = (g << 4) | h;
    }
    if (at + n >= 8) return 'too many groups';
    GROUPS[at + n++] = g;
    i = j + 1;
  }
  return n;
}

function parseIPv6(text: string, start: number, end: number): string | null {
  if (text.indexOf('%', start) !== -1) return 'zone index (%…) is not allowed';
  const gap = text.indexOf('::', start);
  if (gap !== -1 && gap < end) {
    if (text.indexOf('::', gap + 1) !== -1 && text.indexOf('::', gap + 1) < end) return "more than one '::'";
    const head = parseGroups(text, start, gap, 0, false);
    if (typeof head === 'string') return head;
    // The tail is parsed after the head, then moved to the end of the eight groups.
    const tail = parseGroups(text, gap + 2, end, head, true);
    if (typeof tail === 'string') return tail;
    if (head + tail > 7) return "'::' stands for no group";
    for (let k = tail - 1; k >= 0; k--) GROUPS[8 - tail + k] = GROUPS[head + k];
    for (let k = head; k < 8 - tail; k++) GROUPS[k] = 0;
  } else {
    const n = parseGroups(text, start, end, 0, true);
    if (typeof n === 'string') return n;
    if (n !== 8) return n < 8 ? 'fewer than eight groups' : 'too many groups';
  }
  W[0] = ((GROUPS[0] << 16) | GROUPS[1]) >>> 0;
  W[1] = ((GROUPS[2] << 16) | GROUPS[3]) >>> 0;
  W[2] = ((GROUPS[4] << 16) | GROUPS[5]) >>> 0;
  W[3] = ((GROUPS[6] << 16) | GROUPS[7]) >>> 0;
  return null;
}

function isMapped(w0: number, w1: number, w2: number): boolean {
  return w0 === 0 && w1 === 0 && w2 === 0xffff;
}

/**
 * Parses an address (`allowPrefix` false) or an address or network into W / pFamily / pLength.
 * Mapped IPv6 becomes IPv4. Host bits are left as written; the caller decides whether they matter.
 */
function parseInto(text: string, allowPrefix: boolean): string | null {
  if (typeof text !== 'string') return 'not a string';
  if (text.length === 0) return 'empty';
  let end = text.length;
  let length = -1;
  const slash = text.indexOf('/');
  if (slash !== -1) {
    if (!allowPrefix) return 'a network where one address is expected';
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(digits)) return 'prefix length is not a number';
    length = Number(digits);
    end = slash;
  }
  if (text.indexOf(':') !== -1) {
    const err = parseIPv6(text, 0, end);
    if (err !== null) return err;
    if (length > 128) return 'IPv6 prefix length over 128';
    if (length === -1) length = 128;
    if (isMapped(W[0], W[1], W[2]) && length >= 96) {
      pFamily = 4;
      pLength = length - 96;
      W[2] = 0;
    } else {
      pFamily = 6;
      pLength = length;
    }
    return null;
  }
  const v4 = parseIPv4(text, 0, end);
  if (typeof v4 === 'string') return text.indexOf('.') === -1 ? 'neither an IPv4 nor an IPv6 address' : v4;
  if (length > 32) return 'IPv4 prefix length over 32';
  W[0] = 0;
  W[1] = 0;
  W[2] = 0;
  W[3] = v4;
  pFamily = 4;
  pLength = length === -1 ? 32 : length;
  return null;
}

function inputError(text: unknown, detail: string): PortwardenError {
  const shown = typeof text === 'string' ? JSON.stringify(text) : String(text);
  return new PortwardenError('PW_ERR_DECIDE_INPUT', `${shown} is not an IP address or network: ${detail}`);
}

/** Bits of word `i` (0–3) kept by an IPv6 prefix of `length`. */
function maskWord(w: number, i: number, length: number): number {
  const keep = length - 32 * i;
  if (keep <= 0) return 0;
  if (keep >= 32) return w;
  return (w & (0xffffffff << (32 - keep))) >>> 0;
}

const V4_MASK = new Int32Array(33);
for (let l = 1; l <= 32; l++) V4_MASK[l] = l === 32 ? -1 : ~(0xffffffff >>> l);

const FORMAT_BUF = new Uint8Array(16);

/** Canonical text of a network given as words (IPv4 in w3). */
export function formatNetwork(family: 4 | 6, length: number, w0: number, w1: number, w2: number, w3: number): string {
  if (family === 4) {
    const text = formatIPv4(w3);
    return length === 32 ? text : `${text}/${length}`;
  }
  const words = [w0, w1, w2, w3];
  for (let i = 0; i < 4; i++) {
    FORMAT_BUF[4 * i] = words[i] >>> 24;
    FORMAT_BUF[4 * i + 1] = (words[i] >>> 16) & 255;
    FORMAT_BUF[4 * i + 2] = (words[i] >>> 8) & 255;
    FORMAT_BUF[4 * i + 3] = words[i] & 255;
  }
  const text = formatIPv6(FORMAT_BUF, 0);
  return length === 128 ? text : `${text}/${length}`;
}

function hostBitsSet(family: 4 | 6, length: number): boolean {
  if (family === 4) return length < 32 && (W[3] & ~V4_MASK[length]) !== 0;
  for (let i = 0; i < 4; i++) if (maskWord(W[i], i, length) !== W[i]) return true;
  return false;
}

function snapshot(): Network {
  const words: [number, number, number, number] = [W[0], W[1], W[2], W[3]];
  return { family: pFamily, length: pLength, words, text: formatNetwork(pFamily, pLength, W[0], W[1], W[2], W[3]) };
}

/** Parses one address or network (host bits must be zero). Throws PW_ERR_DECIDE_INPUT. */
export function parseNetwork(text: string): Network {
  const parsed = tryParseNetwork(text);
  if (typeof parsed === 'string') throw inputError(text, parsed);
  return parsed;
}

/** parseNetwork without the throw: the network, or what is wrong with the text. */
export function tryParseNetwork(text: string): Network | string {
  const err = parseInto(text, true);
  if (err !== null) return err;
  if (hostBitsSet(pFamily, pLength)) {
    for (let i = 0; i < 4; i++) W[i] = pFamily === 4 && i < 3 ? 0 : maskWord(W[i], i, pFamily === 4 ? pLength + 96 : pLength);
    return `host bits are set (the network is ${formatNetwork(pFamily, pLength, W[0], W[1], W[2], W[3])})`;
  }
  return snapshot();
}

/**
 * Parses an address or network into `out` (four big-endian words, IPv4 in out[3]) without
 * allocating: for bulk input (a threat feed of a million lines). Returns `family * 256 + length`,
 * or what is wrong with the text (host bits set included).
 */
export function parseNetworkInto(text: string, out: Uint32Array): number | string {
  const err = parseInto(text, true);
  if (err !== null) return err;
  if (hostBitsSet(pFamily, pLength)) return 'host bits are set';
  out[0] = W[0];
  out[1] = W[1];
  out[2] = W[2];
  out[3] = W[3];
  return pFamily * 256 + pLength;
}

/** Parses one address (no prefix). Throws PW_ERR_DECIDE_INPUT. */
export function parseAddress(text: string): Network {
  const err = parseInto(text, false);
  if (err !== null) throw inputError(text, err);
  return snapshot();
}

/** The network of `length` bits around `net` (length no longer than the network's own). */
export function prefixOf(net: Network, length: number): Network {
  const max = net.family === 4 ? 32 : 128;
  if (!Number.isInteger(length) || length < 0 || length > max) {
    throw new PortwardenError('PW_ERR_DECIDE_INPUT', `prefix length ${length} is out of range for IPv${net.family} (0–${max})`);
  }
  const l = Math.min(length, net.length);
  const bits = net.family === 4 ? l + 96 : l;
  const w = net.words;
  const words: [number, number, number, number] =
    net.family === 4 ? [0, 0, 0, maskWord(w[3], 3, bits)] : [maskWord(w[0], 0, bits), maskWord(w[1], 1, bits), maskWord(w[2], 2, bits), maskWord(w[3], 3, bits)];
  return { family: net.family, length: l, words, text: formatNetwork(net.family, l, words[0], words[1], words[2], words[3]) };
}

/** Whether `outer` contains `inner` (same family, outer no longer, same leading bits). */
export function contains(outer: Network, inner: Network): boolean {
  if (outer.family !== inner.family || outer.length > inner.length) return false;
  const bits = outer.family === 4 ? outer.length + 96 : outer.length;
  for (let i = 0; i < 4; i++) if (maskWord(inner.words[i], i, bits) !== outer.words[i]) return false;
  return true;
}

/** Canonical text of an address or network ('::ffff:192.0.2.1' → '192.0.2.1'). Throws PW_ERR_DECIDE_INPUT. */
export function canonical(text: string): string {
  return parseNetwork(text).text;
}

// ---------------------------------------------------------------------------------------------------

type Key = number | string;

/** Stands in for the map of a length never added to; never written (add replaces it first). */
const EMPTY: Map<Key, string> = new Map();

/*
 * IPv6 keys beyond /32 are the masked address as 16-bit code units (String.fromCharCode): a flat
 * string of 4, 6 or 8 units, about 30 bytes, where decimal words joined by ':' made a rope of number
 * strings near 300 bytes per entry.
 */
function keyOf(family: 4 | 6, length: number, w0: number, w1: number, w2: number, w3: number): Key {
  if (family === 4) return w3 & V4_MASK[length];
  if (length <= 32) return maskWord(w0, 0, length) | 0;
  const m1 = maskWord(w1, 1, length);
  if (length <= 64) return String.fromCharCode(w0 >>> 16, w0 & 0xffff, m1 >>> 16, m1 & 0xffff);
  const m2 = maskWord(w2, 2, length);
  if (length <= 96) return String.fromCharCode(w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, m2 >>> 16, m2 & 0xffff);
  const m3 = maskWord(w3, 3, length);
  return String.fromCharCode(w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, m3 >>> 16, m3 & 0xffff);
}

/** Words of a stored key (the inverse of keyOf). */
function wordsOfKey(family: 4 | 6, key: Key, out: Uint32Array): void {
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  if (family === 4) {
    out[3] = (key as number) >>> 0;
  } else if (typeof key === 'number') {
    out[0] = key >>> 0;
  } else {
    for (let i = 0; 2 * i < key.length; i++) out[i] = ((key.charCodeAt(2 * i) << 16) | key.charCodeAt(2 * i + 1)) >>> 0;
  }
}

class Family {
  /** One map per prefix length, created on first use (a set is cheap to build: the guard rebuilds small ones often). */
  readonly maps: Map<Key, string>[];
  readonly counts: Int32Array;
  /** Prefix lengths present, longest first. */
  lengths: number[] = [];
  /**
   * Lazily built, then kept in step: for a prefix length L that `overlapping` was asked about, how
   * many entries longer than L lie in each L-bit network. Built on first use so a set nobody asks
   * about prefixes pays nothing.
   */
  readonly children = new Map<number, Map<Key, number>>();

  constructor(
    readonly family: 4 | 6,
    readonly bits: number,
  ) {
    this.maps = new Array<Map<Key, string>>(bits + 1).fill(EMPTY);
    this.counts = new Int32Array(bits + 1);
  }

  relist(): void {
    const out: number[] = [];
    for (let l = this.bits; l >= 0; l--) if (this.counts[l] > 0) out.push(l);
    this.lengths = out;
  }

  childIndex(length: number): Map<Key, number> {
    let index = this.children.get(length);
    if (index !== undefined) return index;
    index = new Map<Key, number>();
    const w = new Uint32Array(4);
    for (let m = length + 1; m <= this.bits; m++) {
      for (const key of this.maps[m].keys()) {
        wordsOfKey(this.family, key, w);
        const parent = keyOf(this.family, length, w[0], w[1], w[2], w[3]);
        index.set(parent, (index.get(parent) ?? 0) + 1);
      }
    }
    this.children.set(length, index);
    return index;
  }

  noteChild(length: number, w0: number, w1: number, w2: number, w3: number, delta: 1 | -1): void {
    for (const [l, index] of this.children) {
      if (l >= length) continue;
      const parent = keyOf(this.family, l, w0, w1, w2, w3);
      const n = (index.get(parent) ?? 0) + delta;
      if (n <= 0) index.delete(parent);
      else index.set(parent, n);
    }
  }
}

/**
 * A set of IPv4 and IPv6 addresses and networks, each with the reason it was added. `match` returns
 * the most specific entry containing an address; `overlapping` whether any entry intersects a
 * network (what a prefix ban must check).
 */
export class AddressSet {
  readonly #v4 = new Family(4, 32);
  readonly #v6 = new Family(6, 128);
  #size = 0;

  /** Number of entries (addresses and networks). */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds an address or network; adding one that is already there replaces its reason. Throws
   * PW_ERR_DECIDE_INPUT (quoting the entry) for anything that is not an address or network, or a
   * network with host bits set.
   */
  add(cidrOrAddress: string, reason: string): void {
    const err = parseInto(cidrOrAddress, true);
    if (err !== null) throw inputError(cidrOrAddress, err);
    if (hostBitsSet(pFamily, pLength)) parseNetwork(cidrOrAddress); // throws with the network spelled out
    const fam = pFamily === 4 ? this.#v4 : this.#v6;
    const length = pLength;
    const key = keyOf(fam.family, length, W[0], W[1], W[2], W[3]);
    let map = fam.maps[length];
    if (map === EMPTY) map = fam.maps[length] = new Map<Key, string>();
    const had = map.has(key);
    map.set(key, reason);
    if (had) return;
    this.#size++;
    if (fam.counts[length]++ === 0) fam.relist();
    if (fam.children.size > 0) fam.noteChild(length, W[0], W[1], W[2], W[3], 1);
  }

  /** Removes exactly this address or network (not what it contains); returns whether it was there. */
  delete(cidrOrAddress: string): boolean {
    const err = parseInto(cidrOrAddress, true);
    if (err !== null) throw inputError(cidrOrAddress, err);
    if (hostBitsSet(pFamily, pLength)) return false;
    const fam = pFamily === 4 ? this.#v4 : this.#v6;
    const length = pLength;
    if (!fam.maps[length].delete(keyOf(fam.family, length, W[0], W[1], W[2], W[3]))) return false;
    this.#size--;
    if (--fam.counts[length] === 0) fam.relist();
    if (fam.children.size > 0) fam.noteChild(length, W[0], W[1], W[2], W[3], -1);
    return true;
  }

  clear(): void {
    for (const fam of [this.#v4, this.#v6]) {
      fam.maps.fill(EMPTY);
      fam.counts.fill(0);
      fam.lengths = [];
      fam.children.clear();
    }
    this.#size = 0;
  }

  /**
   * The most specific entry containing `address`, or null. Throws PW_ERR_DECIDE_INPUT when `address`
   * is not one address (a network belongs in `overlapping`).
   */
  match(address: string): AddressMatch | null {
    const err = parseInto(address, false);
    if (err !== null) throw inputError(address, err);
    return this.#longest(pFamily, W[0], W[1], W[2], W[3], 128);
  }

  /**
   * An entry that intersects `network` (an address, or a network such as a prefix about to be
   * banned): one containing it (the most specific), else one inside it. Null when they are disjoint.
   * Cost: a `match` for the first; for the second, one map lookup in an index of children per prefix
   * length asked about, built on first use (one pass over the longer entries) and kept in step after.
   */
  overlapping(network: string | Network): AddressMatch | null {
    const net = typeof network === 'string' ? parseNetwork(network) : network;
    const w = net.words;
    const outer = this.#longest(net.family, w[0], w[1], w[2], w[3], net.length);
    if (outer !== null) return outer;
    const fam = net.family === 4 ? this.#v4 : this.#v6;
    if (fam.lengths.length === 0 || fam.lengths[0] <= net.length) {
      return net.family === 4 ? null : this.#mappedInside(net);
    }
    const parent = keyOf(fam.family, net.length, w[0], w[1], w[2], w[3]);
    if ((fam.childIndex(net.length).get(parent) ?? 0) === 0) return net.family === 4 ? null : this.#mappedInside(net);
    return this.#someChild(fam, net);
  }

  /**
   * Whether some entry contains the address given as words (IPv4: the address in `w3`, the others
   * ignored; IPv6: four big-endian words): `match` without parsing or formatting, for a per-packet
   * check (inline mode's banned sources).
   */
  containsWords(family: 4 | 6, w0: number, w1: number, w2: number, w3: number): boolean {
    if (family === 4) {
      const fam = this.#v4;
      const lengths = fam.lengths;
      for (let i = 0; i < lengths.length; i++) if (fam.maps[lengths[i]].has(w3 & V4_MASK[lengths[i]])) return true;
      return this.#v6Has(0, 0, 0xffff, w3, 96);
    }
    return this.#v6Has(w0, w1, w2, w3, 128);
  }

  #v6Has(w0: number, w1: number, w2: number, w3: number, maxLength: number): boolean {
    const fam = this.#v6;
    const lengths = fam.lengths;
    for (let i = 0; i < lengths.length; i++) {
      const l = lengths[i];
      if (l <= maxLength && fam.maps[l].has(keyOf(6, l, w0, w1, w2, w3))) return true;
    }
    return false;
  }

  /** Every entry, IPv4 first, longest prefixes first. */
  *entries(): IterableIterator<AddressMatch> {
    const w = new Uint32Array(4);
    for (const fam of [this.#v4, this.#v6]) {
      for (const length of fam.lengths) {
        for (const [key, reason] of fam.maps[length]) {
          wordsOfKey(fam.family, key, w);
          yield { network: formatNetwork(fam.family, length, w[0], w[1], w[2], w[3]), reason };
        }
      }
    }
  }

  /**
   * Longest entry containing the address or network given by words, considering only entries no
   * longer than `maxLength` (the network's own length; 128 for an address). IPv4 falls back to IPv6
   * entries of /96 or shorter, which may cover the mapped range.
   */
  #longest(family: 4 | 6, w0: number, w1: number, w2: number, w3: number, maxLength: number): AddressMatch | null {
    if (family === 4) {
      const fam = this.#v4;
      const lengths = fam.lengths;
      for (let i = 0; i < lengths.length; i++) {
        const l = lengths[i];
        if (l > maxLength) continue;
        const reason = fam.maps[l].get(w3 & V4_MASK[l]);
        if (reason !== undefined) return { network: formatNetwork(4, l, 0, 0, 0, (w3 & V4_MASK[l]) >>> 0), reason };
      }
      return this.#v6Covering(0, 0, 0xffff, w3, Math.min(96, maxLength + 96));
    }
    return this.#v6Covering(w0, w1, w2, w3, maxLength);
  }

  #v6Covering(w0: number, w1: number, w2: number, w3: number, maxLength: number): AddressMatch | null {
    const fam = this.#v6;
    const lengths = fam.lengths;
    for (let i = 0; i < lengths.length; i++) {
      const l = lengths[i];
      if (l > maxLength) continue;
      const reason = fam.maps[l].get(keyOf(6, l, w0, w1, w2, w3));
      if (reason !== undefined) {
        return {
          network: formatNetwork(6, l, maskWord(w0, 0, l), maskWord(w1, 1, l), maskWord(w2, 2, l), maskWord(w3, 3, l)),
          reason,
        };
      }
    }
    return null;
  }

  /** An IPv6 network shorter than /96 that covers mapped space contains every IPv4 entry there. */
  #mappedInside(net: Network): AddressMatch | null {
    if (net.length > 96 || this.#v4.lengths.length === 0) return null;
    const w = net.words;
    if (maskWord(0, 0, net.length) !== w[0] || maskWord(0, 1, net.length) !== w[1] || maskWord(0xffff, 2, net.length) !== w[2]) return null;
    for (const length of this.#v4.lengths) {
      for (const [key, reason] of this.#v4.maps[length]) return { network: formatNetwork(4, length, 0, 0, 0, (key as number) >>> 0), reason };
    }
    return null;
  }

  /**
   * One entry inside `net` (the child index says there is one). Enumerates the candidate keys when
   * that is cheaper than a pass over the map of that length (a /24 holds 256 addresses), else scans
   * the map: this runs only when a prefix is refused, never per lookup.
   */
  #someChild(fam: Family, net: Network): AddressMatch | null {
    const w = new Uint32Array(4);
    const offset = fam.family === 4 ? 96 : 0;
    const bits = net.length + offset;
    for (let i = fam.lengths.length - 1; i >= 0; i--) {
      const m = fam.lengths[i];
      if (m <= net.length) continue;
      const map = fam.maps[m];
      const span = m - net.length;
      const word = (bits / 32) | 0;
      const sameWord = span <= 16 && word === (((m + offset - 1) / 32) | 0);
      if (sameWord && 2 ** span < map.size) {
        const shift = 32 * (word + 1) - (m + offset);
        for (let k = 0; k < 2 ** span; k++) {
          for (let j = 0; j < 4; j++) w[j] = net.words[j];
          w[word] = (net.words[word] | (k << shift)) >>> 0;
          const reason = map.get(keyOf(fam.family, m, w[0], w[1], w[2], w[3]));
          if (reason !== undefined) return { network: formatNetwork(fam.family, m, w[0], w[1], w[2], w[3]), reason };
        }
        continue;
      }
      for (const [key, reason] of map) {
        wordsOfKey(fam.family, key, w);
        let inside = true;
        for (let k = 0; k < 4 && inside; k++) if (maskWord(w[k], k, bits) !== net.words[k]) inside = false;
        if (inside) return { network: formatNetwork(fam.family, m, w[0], w[1], w[2], w[3]), reason };
      }
    }
    return null;
  }
}
