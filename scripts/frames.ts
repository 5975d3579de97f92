/**
 * A small packet builder: correct on-the-wire bytes for crafted test captures.
 *
 * Every builder returns a fresh `Buffer`. Checksums are always filled in: the IPv4 header checksum,
 * and the TCP/UDP/ICMPv6 checksums over their IPv4 or IPv6 pseudo-header (which is why the transport
 * builders take `src`/`dst`); ICMPv4 has no pseudo-header. Addresses are text ('192.0.2.1',
 * '2001:db8::1'); the address family decides IPv4 or IPv6 wherever a builder needs to know.
 *
 * Layering: transport (`tcp`, `udp`, `icmpEcho`, …) → IP (`ipv4`, `ipv6`, or `ipPacket` which picks by
 * address) → link (`ethernet`, `sll`, `sll2`, `bsdLoopback`, `raw`). `fragmentIpv4`/`fragmentIpv6`
 * split a finished IP packet. `createRng` is a seeded PRNG so generated files are reproducible.
 */

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  IPV6: 0x86dd,
} as const;

export const Proto = {
  HOPOPTS: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  IPV6_ROUTE: 43,
  IPV6_FRAG: 44,
  ICMPV6: 58,
  IPV6_NONXT: 59,
  IPV6_DSTOPTS: 60,
} as const;

export const Flags = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------------------------------------
// Seeded PRNG

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number;
  /** Uniform real in [lo, hi). */
  real(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Shuffles in place (Fisher–Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[];
  bytes(n: number): Buffer;
}

/** mulberry32: tiny, fast, good enough for test data; same seed → same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export function createRng(seed: number): Rng {
  const u32 = mulberry32(seed);
  const next = (): number => u32() / 4294967296;
  return {
    next,
    uint32: u32,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    real: (lo, hi) => lo + next() * (hi - lo),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = items[i];
        items[i] = items[j];
        items[j] = t;
      }
      return items;
    },
    bytes(n) {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = u32() & 0xff;
      return b;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Addresses

export function isIpv6(text: string): boolean {
  return text.includes(':');
}

export function parseIpv4(text: string): Buffer {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`bad IPv4 address ${text}`);
  const out = Buffer.alloc(4);
  parts.forEach((p, i) => {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) throw new Error(`bad IPv4 address ${text}`);
    out[i] = v;
  });
  return out;
}

export function parseIpv6(text: string): Buffer {
  let groups: string[];
  const halves = text.split('::');
  if (halves.length > 2) throw new Error(`bad IPv6 address ${text}`);
  const expand = (s: string): string[] => {
    if (s === '') return [];
    const g = s.split(':');
    const last = g[g.length - 1];
    if (last.includes('.')) {
      const v4 = parseIpv4(last);
      g.splice(g.length - 1, 1, v4.readUInt16BE(0).toString(16), v4.readUInt16BE(2).toString(16));
    }
    return g;
  };
  if (halves.length === 2) {
    const head = expand(halves[0]);
    const tail = expand(halves[1]);
    const fill = 8 - head.length - tail.length;
    if (fill < 1) throw new Error(`bad IPv6 address ${text}`);
    groups = [...head, ...Array<string>(fill).fill('0'), ...tail];
  } else {
    groups = expand(text);
  }
  if (groups.length !== 8) throw new Error(`bad IPv6 address ${text}`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new Error(`bad IPv6 address ${text}`);
    out.writeUInt16BE(parseInt(g, 16), i * 2);
  });
  return out;
}

/** 4 bytes for IPv4 text, 16 for IPv6 text. */
export function parseIp(text: string): Buffer {
  return isIpv6(text) ? parseIpv6(text) : parseIpv4(text);
}

export function parseMac(text: string): Buffer {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`bad MAC ${text}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(mac: ArrayLike<number>): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Adds `n` to an IPv4 address ('192.0.2.1' + 3 → '192.0.2.4'). */
export function ipv4Add(text: string, n: number): string {
  const v = (parseIpv4(text).readUInt32BE(0) + n) >>> 0;
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join('.');
}

// ---------------------------------------------------------------------------------------------
// Checksums

/** Unfolded 16-bit big-endian word sum of `data[start, end)`, added to `initial`. */
export function wordSum(data: Uint8Array, initial = 0, start = 0, end = data.length): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (i < end) sum += data[i] << 8;
  return sum;
}

export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Internet checksum (RFC 1071) of `data`, with an optional pre-summed prefix. */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return foldChecksum(wordSum(data, initial));
}

/** Word sum of the IPv4 or IPv6 pseudo-header for an upper-layer message of `length` bytes. */
export function pseudoHeaderSum(src: string, dst: string, protocol: number, length: number): number {
  const s = parseIp(src);
  const d = parseIp(dst);
  if (s.length !== d.length) throw new Error(`address family mismatch: ${src} / ${dst}`);
  let sum = wordSum(s) + wordSum(d) + protocol;
  sum += s.length === 4 ? length : Math.floor(length / 0x10000) + (length & 0xffff);
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Link layer

/** A VLAN tag: a bare number is an 802.1Q VLAN ID (TPID 0x8100). */
export type VlanTag = number | { vid: number; tpid?: number; pcp?: number };

/**
 * Ethernet II frame. `vlanTags` are outermost first; for QinQ pass `[{ tpid: 0x88a8, vid: 100 }, 200]`.
 * No FCS (captures normally don't carry it), no padding to 60 bytes unless `pad` is set.
 */
export function ethernet(
  dstMac: string,
  srcMac: string,
  etherType: number,
  payload: Uint8Array,
  vlanTags: readonly VlanTag[] = [],
  pad = false,
): Buffer {
  const header = 14 + 4 * vlanTags.length;
  let len = header + payload.length;
  if (pad && len < 60) len = 60;
  const b = Buffer.alloc(len);
  parseMac(dstMac).copy(b, 0);
  parseMac(srcMac).copy(b, 6);
  let o = 12;
  for (const tag of vlanTags) {
    const t = typeof tag === 'number' ? { vid: tag } : tag;
    b.writeUInt16BE(t.tpid ?? EtherType.VLAN, o);
    b.writeUInt16BE((((t.pcp ?? 0) & 7) << 13) | (t.vid & 0x0fff), o + 2);
    o += 4;
  }
  b.writeUInt16BE(etherType, o);
  b.set(payload, header);
  return b;
}

/** EtherType for an IP packet (by its version nibble). */
export function etherTypeOf(ipPacket: Uint8Array): number {
  return ipPacket[0] >> 4 === 6 ? EtherType.IPV6 : EtherType.IPV4;
}

export const SllPacketType = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4 } as const;

export interface SllOptions {
  /** 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us. Default 0. */
  packetType?: number;
  /** Link-layer address of the sender (a MAC). Default none (length 0). */
  addr?: string;
  /** ARPHRD_ type. Default 1 (Ethernet). */
  arphrd?: number;
  /** SLL2 only: interface index. Default 2. */
  ifindex?: number;
}

/** LINKTYPE_LINUX_SLL (113): 16-byte Linux cooked header; `protocol` is the EtherType. */
export function sll(payload: Uint8Array, protocol: number, opts: SllOptions = {}): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt16BE(opts.packetType ?? 0, 0);
  b.writeUInt16BE(opts.arphrd ?? 1, 2);
  if (opts.addr !== undefined) {
    b.writeUInt16BE(6, 4);
    parseMac(opts.addr).copy(b, 6);
  }
  b.writeUInt16BE(protocol, 14);
  b.set(payload, 16);
  return b;
}

/** LINKTYPE_LINUX_SLL2 (276): 20-byte Linux cooked v2 header; `protocol` is the EtherType. */
export function sll2(payload: Uint8Array, protocol: number, opts: SllOptions = {}): Buffer {
  const b = Buffer.alloc(20 + payload.length);
  b.writeUInt16BE(protocol, 0);
  // bytes 2-3 reserved (MBZ)
  b.writeUInt32BE(opts.ifindex ?? 2, 4);
  b.writeUInt16BE(opts.arphrd ?? 1, 8);
  b.writeUInt8(opts.packetType ?? 0, 10);
  if (opts.addr !== undefined) {
    b.writeUInt8(6, 11);
    parseMac(opts.addr).copy(b, 12);
  }
  b.set(payload, 20);
  return b;
}

/**
 * LINKTYPE_NULL (0): 4-byte address family in the byte order of the host that wrote the capture
 * (little-endian by default). AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD),
 * 30 (macOS).
 */
export function bsdLoopback(payload: Uint8Array, family: number, littleEndian = true): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  if (littleEndian) b.writeUInt32LE(family, 0);
  else b.writeUInt32BE(family, 0);
  b.set(payload, 4);
  return b;
}

/** LINKTYPE_RAW (101): the IP packet itself. */
export function raw(payload: Uint8Array): Buffer {
  return Buffer.from(payload);
}

// ---------------------------------------------------------------------------------------------
// IP

export interface Ipv4Spec {
  src: string;
  dst: string;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  id?: number;
  tos?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragmentOffset?: number;
  /** Raw option bytes; padded with EOL to a multiple of 4. */
  options?: Uint8Array;
}

export function ipv4(spec: Ipv4Spec): Buffer {
  const opts = spec.options ?? EMPTY;
  const optLen = (opts.length + 3) & ~3;
  const hl = 20 + optLen;
  if (hl > 60) throw new Error('IPv4 options longer than 40 bytes');
  const off = spec.fragmentOffset ?? 0;
  if (off % 8 !== 0) throw new Error('fragment offset must be a multiple of 8');
  const b = Buffer.alloc(hl + spec.payload.length);
  b[0] = 0x40 | (hl >> 2);
  b[1] = spec.tos ?? 0;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE((spec.id ?? 0) & 0xffff, 4);
  b.writeUInt16BE((spec.dontFragment ? 0x4000 : 0) | (spec.moreFragments ? 0x2000 : 0) | (off >> 3), 6);
  b[8] = spec.ttl ?? 64;
  b[9] = spec.protocol;
  parseIpv4(spec.src).copy(b, 12);
  parseIpv4(spec.dst).copy(b, 16);
  b.set(opts, 20);
  b.writeUInt16BE(internetChecksum(b.subarray(0, hl)), 10);
  b.set(spec.payload, hl);
  return b;
}

/** IPv4 record-route option with room for `slots` addresses (nmap --ip-options R uses 9). */
export function ipv4RecordRoute(slots = 9): Buffer {
  const b = Buffer.alloc(3 + 4 * slots);
  b[0] = 7;
  b[1] = b.length;
  b[2] = 4;
  return b;
}

/**
 * Splits a whole IPv4 packet into fragments. `sizes` are the payload bytes of each fragment but the
 * last (each a multiple of 8); the rest goes in the last fragment. Later fragments carry only the
 * options whose copied flag is set, as RFC 791 requires.
 */
export function fragmentIpv4(packet: Uint8Array, sizes: number | readonly number[]): Buffer[] {
  const p = Buffer.from(packet);
  const hl = (p[0] & 0x0f) * 4;
  const payload = p.subarray(hl, p.readUInt16BE(2));
  const options = p.subarray(20, hl);
  const copied: number[] = [];
  for (let i = 0; i < options.length; ) {
    const t = options[i];
    if (t === 0) break;
    if (t === 1) {
      i++;
      continue;
    }
    const l = options[i + 1];
    if (t & 0x80) copied.push(...options.subarray(i, i + l));
    i += l;
  }
  const base = {
    src: [...p.subarray(12, 16)].join('.'),
    dst: [...p.subarray(16, 20)].join('.'),
    protocol: p[9],
    ttl: p[8],
    id: p.readUInt16BE(4),
    tos: p[1],
    dontFragment: false,
  };
  const list = typeof sizes === 'number' ? [] : [...sizes];
  const out: Buffer[] = [];
  let at = 0;
  while (at < payload.length) {
    let n = typeof sizes === 'number' ? sizes : (list.shift() ?? payload.length - at);
    if (n % 8 !== 0 && at + n < payload.length) throw new Error('fragment sizes must be multiples of 8');
    n = Math.min(n, payload.length - at);
    out.push(
      ipv4({
        ...base,
        payload: payload.subarray(at, at + n),
        fragmentOffset: at,
        moreFragments: at + n < payload.length,
        options: at === 0 ? options : Buffer.from(copied),
      }),
    );
    at += n;
  }
  return out;
}

/** An IPv6 extension header: `bytes` is the whole header; its first byte (next header) is filled in by `ipv6`. */
export interface Ipv6ExtensionHeader {
  type: number;
  bytes: Uint8Array;
}

/**
 * Hop-by-hop (0) or destination-options (60) header holding `options` (TLV bytes), padded to a
 * multiple of 8 with Pad1/PadN.
 */
export function ipv6OptionsHeader(type: 0 | 60, options: Uint8Array = EMPTY): Ipv6ExtensionHeader {
  const len = (2 + options.length + 7) & ~7;
  const b = Buffer.alloc(len);
  b[1] = len / 8 - 1;
  b.set(options, 2);
  const padAt = 2 + options.length;
  const pad = len - padAt;
  if (pad === 1) b[padAt] = 0; // Pad1
  else if (pad > 1) {
    b[padAt] = 1; // PadN
    b[padAt + 1] = pad - 2;
  }
  return { type, bytes: b };
}

/** IPv6 router-alert hop-by-hop option (value 0: MLD). */
export function ipv6RouterAlert(value = 0): Buffer {
  return Buffer.from([5, 2, value >> 8, value & 0xff]);
}

export function ipv6FragmentHeader(offset: number, more: boolean, id: number): Ipv6ExtensionHeader {
  if (offset % 8 !== 0) throw new Error('fragment offset must be a multiple of 8');
  const b = Buffer.alloc(8);
  b.writeUInt16BE(offset | (more ? 1 : 0), 2);
  b.writeUInt32BE(id >>> 0, 4);
  return { type: Proto.IPV6_FRAG, bytes: b };
}

export interface Ipv6Spec {
  src: string;
  dst: string;
  /** Protocol of `payload` (the upper layer after any extension headers). */
  nextHeader: number;
  payload: Uint8Array;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  extensionHeaders?: readonly Ipv6ExtensionHeader[];
}

export function ipv6(spec: Ipv6Spec): Buffer {
  const ext = spec.extensionHeaders ?? [];
  const extLen = ext.reduce((n, e) => n + e.bytes.length, 0);
  const b = Buffer.alloc(40 + extLen + spec.payload.length);
  const tc = spec.trafficClass ?? 0;
  b.writeUInt32BE(((6 << 28) | (tc << 20) | ((spec.flowLabel ?? 0) & 0xfffff)) >>> 0, 0);
  b.writeUInt16BE(extLen + spec.payload.length, 4);
  b[6] = ext.length > 0 ? ext[0].type : spec.nextHeader;
  b[7] = spec.hopLimit ?? 64;
  parseIpv6(spec.src).copy(b, 8);
  parseIpv6(spec.dst).copy(b, 24);
  let o = 40;
  ext.forEach((e, i) => {
    b.set(e.bytes, o);
    b[o] = i + 1 < ext.length ? ext[i + 1].type : spec.nextHeader;
    o += e.bytes.length;
  });
  b.set(spec.payload, o);
  return b;
}

/**
 * Splits a whole IPv6 packet into fragments. The unfragmentable part is the fixed header plus a
 * leading hop-by-hop header; everything after it (further extension headers and the upper layer) is
 * fragmented. `sizes` as in `fragmentIpv4`.
 */
export function fragmentIpv6(packet: Uint8Array, sizes: number | readonly number[], id: number): Buffer[] {
  const p = Buffer.from(packet);
  let unfrag = 40;
  let nextOfUnfrag = p[6];
  let nextFieldAt = 6;
  if (p[6] === Proto.HOPOPTS) {
    nextFieldAt = 40;
    nextOfUnfrag = p[40];
    unfrag = 40 + (p[41] + 1) * 8;
  }
  const fragmentable = p.subarray(unfrag);
  const list = typeof sizes === 'number' ? [] : [...sizes];
  const out: Buffer[] = [];
  let at = 0;
  while (at < fragmentable.length) {
    let n = typeof sizes === 'number' ? sizes : (list.shift() ?? fragmentable.length - at);
    if (n % 8 !== 0 && at + n < fragmentable.length) throw new Error('fragment sizes must be multiples of 8');
    n = Math.min(n, fragmentable.length - at);
    const frag = ipv6FragmentHeader(at, at + n < fragmentable.length, id).bytes;
    frag[0] = nextOfUnfrag;
    const b = Buffer.alloc(unfrag + 8 + n);
    p.copy(b, 0, 0, unfrag);
    b[nextFieldAt] = Proto.IPV6_FRAG;
    b.writeUInt16BE(b.length - 40, 4);
    b.set(frag, unfrag);
    fragmentable.copy(b, unfrag + 8, at, at + n);
    out.push(b);
    at += n;
  }
  return out;
}

export interface IpPacketSpec {
  src: string;
  dst: string;
  protocol: number;
  payload: Uint8Array;
  /** TTL or hop limit. */
  ttl?: number;
  /** IPv4 only. */
  id?: number;
  /** IPv4 only. */
  dontFragment?: boolean;
  /** IPv4 only. */
  tos?: number;
  /** IPv4 only. */
  ipOptions?: Uint8Array;
  /** IPv6 only. */
  flowLabel?: number;
  /** IPv6 only. */
  extensionHeaders?: readonly Ipv6ExtensionHeader[];
}

/** IPv4 or IPv6 by the address family of `src`. */
export function ipPacket(spec: IpPacketSpec): Buffer {
  if (isIpv6(spec.src)) {
    return ipv6({
      src: spec.src,
      dst: spec.dst,
      nextHeader: spec.protocol,
      payload: spec.payload,
      hopLimit: spec.ttl,
      flowLabel: spec.flowLabel,
      extensionHeaders: spec.extensionHeaders,
    });
  }
  return ipv4({
    src: spec.src,
    dst: spec.dst,
    protocol: spec.protocol,
    payload: spec.payload,
    ttl: spec.ttl,
    id: spec.id,
    dontFragment: spec.dontFragment,
    tos: spec.tos,
    options: spec.ipOptions,
  });
}

// ---------------------------------------------------------------------------------------------
// TCP

/**
 * TCP options:
 * - 'none'
 * - 'mss': MSS only (what nmap and most raw-socket scanners send)
 * - 'linux': MSS, SACK-permitted, timestamps, NOP, window scale (a Linux connect() SYN or SYN-ACK)
 * - 'windows': MSS, NOP, WS, NOP, NOP, SACK-permitted (a Windows SYN)
 * - 'ts': NOP, NOP, timestamps (Linux segments after the handshake)
 * - raw bytes, padded with zeros (EOL) to a multiple of 4.
 */
export type TcpOptionSet = 'none' | 'mss' | 'linux' | 'windows' | 'ts' | Uint8Array;

export interface TcpSpec {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  /** A flag byte, or letters: F S R P A U E C (e.g. 'SA', 'RA', 'FA', 'PA'). */
  flags: number | string;
  window?: number;
  urgent?: number;
  options?: TcpOptionSet;
  mss?: number;
  wscale?: number;
  tsVal?: number;
  tsEcr?: number;
  payload?: Uint8Array;
}

export function tcpFlags(flags: number | string): number {
  if (typeof flags === 'number') return flags;
  let v = 0;
  for (const c of flags.toUpperCase()) {
    const bit = { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32, E: 64, C: 128 }[c];
    if (bit === undefined) throw new Error(`unknown TCP flag ${c}`);
    v |= bit;
  }
  return v;
}

export function tcpOptionBytes(spec: Pick<TcpSpec, 'options' | 'mss' | 'wscale' | 'tsVal' | 'tsEcr'>): Buffer {
  const o = spec.options ?? 'none';
  if (typeof o !== 'string') return Buffer.from(o);
  const mss = spec.mss ?? 1460;
  const ts = (b: Buffer, at: number): void => {
    b[at] = 8;
    b[at + 1] = 10;
    b.writeUInt32BE((spec.tsVal ?? 0) >>> 0, at + 2);
    b.writeUInt32BE((spec.tsEcr ?? 0) >>> 0, at + 6);
  };
  switch (o) {
    case 'none':
      return EMPTY;
    case 'mss':
      return Buffer.from([2, 4, mss >> 8, mss & 0xff]);
    case 'linux': {
      const b = Buffer.from([2, 4, mss >> 8, mss & 0xff, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, spec.wscale ?? 7]);
      ts(b, 6);
      return b;
    }
    case 'windows':
      return Buffer.from([2, 4, mss >> 8, mss & 0xff, 1, 3, 3, spec.wscale ?? 8, 1, 1, 4, 2]);
    case 'ts': {
      const b = Buffer.from([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      ts(b, 2);
      return b;
    }
  }
}

/** A TCP segment with its checksum over the pseudo-header of `src`/`dst`. */
export function tcp(spec: TcpSpec): Buffer {
  const opts = tcpOptionBytes(spec);
  const optLen = (opts.length + 3) & ~3;
  const hl = 20 + optLen;
  if (hl > 60) throw new Error('TCP options longer than 40 bytes');
  const payload = spec.payload ?? EMPTY;
  const b = Buffer.alloc(hl + payload.length);
  b.writeUInt16BE(spec.srcPort, 0);
  b.writeUInt16BE(spec.dstPort, 2);
  b.writeUInt32BE(spec.seq >>> 0, 4);
  b.writeUInt32BE((spec.ack ?? 0) >>> 0, 8);
  b[12] = (hl >> 2) << 4;
  b[13] = tcpFlags(spec.flags);
  b.writeUInt16BE(spec.window ?? 64240, 14);
  b.writeUInt16BE(spec.urgent ?? 0, 18);
  b.set(opts, 20);
  b.set(payload, hl);
  b.writeUInt16BE(internetChecksum(b, pseudoHeaderSum(spec.src, spec.dst, Proto.TCP, b.length)), 16);
  return b;
}

// ---------------------------------------------------------------------------------------------
// UDP

export interface UdpSpec {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
}

export function udp(spec: UdpSpec): Buffer {
  const payload = spec.payload ?? EMPTY;
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt16BE(spec.srcPort, 0);
  b.writeUInt16BE(spec.dstPort, 2);
  b.writeUInt16BE(b.length, 4);
  b.set(payload, 8);
  const c = internetChecksum(b, pseudoHeaderSum(spec.src, spec.dst, Proto.UDP, b.length));
  b.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return b;
}

// ---------------------------------------------------------------------------------------------
// ICMP (v4: no pseudo-header)

export interface EchoSpec {
  /** Default 'request'. */
  type?: 'request' | 'reply';
  id: number;
  seq: number;
  payload?: Uint8Array;
}

function icmpMessage(type: number, code: number, rest: number, body: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b[0] = type;
  b[1] = code;
  b.writeUInt32BE(rest >>> 0, 4);
  b.set(body, 8);
  b.writeUInt16BE(internetChecksum(b), 2);
  return b;
}

/** ICMPv4 echo request (8) or reply (0). */
export function icmpEcho(spec: EchoSpec): Buffer {
  return icmpMessage(spec.type === 'reply' ? 0 : 8, 0, ((spec.id & 0xffff) << 16) | (spec.seq & 0xffff), spec.payload ?? EMPTY);
}

/**
 * ICMPv4 destination unreachable (type 3) quoting `quotedIpPacket`: by default its IP header plus
 * the first 8 bytes of its payload (RFC 792; 28 bytes for a header without options). Linux quotes
 * more (up to 576 bytes in all): pass `maxQuote`.
 */
export function icmpUnreachable(code: number, quotedIpPacket: Uint8Array, maxQuote?: number): Buffer {
  const hl = (quotedIpPacket[0] & 0x0f) * 4;
  const n = Math.min(quotedIpPacket.length, maxQuote ?? hl + 8);
  return icmpMessage(3, code, 0, quotedIpPacket.subarray(0, n));
}

// ---------------------------------------------------------------------------------------------
// ICMPv6 (pseudo-header)

/** ICMPv6 neighbour solicitation (135) or advertisement (136, solicited flag set) about `target`. */
export function icmpv6Neighbour(spec: { src: string; dst: string; type: 135 | 136; target: string }): Buffer {
  return icmpv6Message(spec.src, spec.dst, spec.type, 0, spec.type === 136 ? 0x40000000 : 0, parseIpv6(spec.target));
}

function icmpv6Message(src: string, dst: string, type: number, code: number, rest: number, body: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b[0] = type;
  b[1] = code;
  b.writeUInt32BE(rest >>> 0, 4);
  b.set(body, 8);
  b.writeUInt16BE(internetChecksum(b, pseudoHeaderSum(src, dst, Proto.ICMPV6, b.length)), 2);
  return b;
}

/** ICMPv6 echo request (128) or reply (129). */
export function icmpv6Echo(spec: EchoSpec & { src: string; dst: string }): Buffer {
  return icmpv6Message(
    spec.src,
    spec.dst,
    spec.type === 'reply' ? 129 : 128,
    0,
    ((spec.id & 0xffff) << 16) | (spec.seq & 0xffff),
    spec.payload ?? EMPTY,
  );
}

/**
 * ICMPv6 destination unreachable (type 1; code 4 = port unreachable, 1 = administratively
 * prohibited, 3 = address unreachable) quoting as much of the packet as fits in 1280 bytes (RFC 4443).
 */
export function icmpv6Unreachable(spec: { src: string; dst: string; code: number; quoted: Uint8Array }): Buffer {
  const n = Math.min(spec.quoted.length, 1280 - 40 - 8);
  return icmpv6Message(spec.src, spec.dst, 1, spec.code, 0, spec.quoted.subarray(0, n));
}

// ---------------------------------------------------------------------------------------------
// DNS

export const DnsType = { A: 1, NS: 2, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, HTTPS: 65 } as const;

function dnsName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((p) => p.length > 0);
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const label = Buffer.from(p, 'ascii');
    if (label.length > 63) throw new Error(`DNS label too long in ${name}`);
    chunks.push(Buffer.from([label.length]), label);
  }
  chunks.push(Buffer.from([0]));
  return Buffer.concat(chunks);
}

function dnsTypeNumber(type: number | keyof typeof DnsType): number {
  return typeof type === 'number' ? type : DnsType[type];
}

/** A DNS query message (recursion desired, one question, class IN). */
export function dnsQuery(id: number, name: string, type: number | keyof typeof DnsType): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id & 0xffff, 0);
  h.writeUInt16BE(0x0100, 2); // RD
  h.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(dnsTypeNumber(type), 0);
  q.writeUInt16BE(1, 2);
  return Buffer.concat([h, dnsName(name), q]);
}

/**
 * A DNS response to `dnsQuery(id, name, type)`: answers are A/AAAA addresses (text), each with a
 * compressed name pointing at the question. `rcode` 3 (NXDOMAIN) with no answers for a miss.
 */
export function dnsResponse(
  id: number,
  name: string,
  type: number | keyof typeof DnsType,
  answers: readonly string[],
  ttl = 300,
  rcode = 0,
): Buffer {
  const query = dnsQuery(id, name, type);
  query.writeUInt16BE(0x8180 | (rcode & 0xf), 2); // QR, RD, RA
  query.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((a) => {
    const addr = parseIp(a);
    const rr = Buffer.alloc(12 + addr.length);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(addr.length === 4 ? DnsType.A : DnsType.AAAA, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(addr.length, 10);
    addr.copy(rr, 12);
    return rr;
  });
  return Buffer.concat([query, ...rrs]);
}

// ---------------------------------------------------------------------------------------------
// NTP

/** A 48-byte NTPv4 packet: mode 3 (client) or 4 (server). Timestamps in Unix microseconds. */
export function ntpPacket(mode: 3 | 4, transmitUs: number, originUs = 0, stratum = mode === 4 ? 2 : 0): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (4 << 3) | mode; // LI 0, VN 4
  b[1] = stratum;
  b[2] = 6; // poll
  b[3] = 0xe9; // precision -23
  const ntpTs = (us: number, at: number): void => {
    if (us === 0) return;
    const secs = Math.floor(us / 1e6) + 2208988800;
    const frac = Math.floor(((us % 1e6) / 1e6) * 4294967296);
    b.writeUInt32BE(secs >>> 0, at);
    b.writeUInt32BE(frac >>> 0, at + 4);
  };
  if (mode === 4) {
    b.writeUInt32BE(0x00000040, 4); // root delay
    b.writeUInt32BE(0x00000080, 8); // root dispersion
    b.write('GPS\0', 12, 'latin1');
    ntpTs(transmitUs - 16_000_000, 16); // reference
    ntpTs(originUs, 24);
    ntpTs(transmitUs - 20, 32); // receive
  }
  ntpTs(transmitUs, 40);
  return b;
}
