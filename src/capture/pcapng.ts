import { CaptureError } from '../errors.js';
import type { FrameHandler, RecordParser } from './file-format.js';

/**
 * pcapng: a sequence of blocks (type, total length, body, total length again). A Section Header
 * Block starts each section and fixes its byte order; Interface Description Blocks define the
 * section's interfaces in order (ids restart per section); packet blocks refer to them. Blocks
 * this reader has no use for (name resolution, statistics, custom, secrets...) are skipped by length.
 */

/** The Section Header Block type; a palindrome, so it reads the same in both byte orders. */
export const PCAPNG_MAGIC = 0x0a0d0d0a;

const BLOCK_SHB = PCAPNG_MAGIC;
const BLOCK_IDB = 1;
const BLOCK_OPB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

/** Type and total length. */
const BLOCK_HEADER_BYTES = 8;
/** Type, length, byte-order magic: enough to know how to read the section's lengths. */
const SHB_PREFIX_BYTES = 12;
/** Header + trailing length copy. */
const MIN_BLOCK_BYTES = 12;
/** Smallest valid block of each type (fixed fields included). */
const MIN_SHB_BYTES = 28;
const MIN_IDB_BYTES = 20;
const MIN_SPB_BYTES = 16;
/** EPB and OPB: header, interface, timestamp high/low, captured and original lengths, trailer. */
const MIN_TIMESTAMPED_BYTES = 32;
const TIMESTAMPED_DATA_OFFSET = 28;

const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
/** if_tsresol default: 10^-6 s. */
const DEFAULT_TSRESOL = 6;

/** How an interface's 64-bit tick count becomes microseconds, exactly. */
const TickScale = {
  /** 10^-n with n <= 6: ticks x 10^(6-n). */
  MultiplyDecimal: 0,
  /** 10^-n with 6 < n <= 12: ticks / 10^(n-6), split so every step stays below 2^53. */
  DivideDecimal: 1,
  /** 2^-n with n <= 32: whole seconds from the shifted ticks, then the binary fraction. */
  Binary: 2,
  /** Anything finer: BigInt arithmetic (allocates, but no real capture uses such resolutions). */
  Big: 3,
} as const;
type TickScale = (typeof TickScale)[keyof typeof TickScale];

const TWO_POW_32 = 4294967296;

/** One interface of the current section: link type, snaplen and timestamp conversion. */
class Interface {
  readonly linkType: number;
  /** 0 means no limit. */
  readonly snaplen: number;
  readonly #scale: TickScale;
  /** Multiplier or divisor (decimal scales), or 2^n (binary scale). */
  readonly #factor: number;
  /** 2^(32-n) for the binary scale: seconds per unit of the high word. */
  readonly #highSeconds: number;
  readonly #ticksPerSecond: bigint;
  readonly #offsetUs: number;

  constructor(linkType: number, snaplen: number, tsresol: number, offsetSeconds: number) {
    this.linkType = linkType;
    this.snaplen = snaplen;
    this.#offsetUs = offsetSeconds * 1e6;
    const binary = (tsresol & 0x80) !== 0;
    const exponent = tsresol & 0x7f;
    this.#ticksPerSecond = binary ? 1n << BigInt(exponent) : 10n ** BigInt(exponent);
    this.#highSeconds = 0;
    if (!binary && exponent <= 6) {
      this.#scale = TickScale.MultiplyDecimal;
      this.#factor = 10 ** (6 - exponent);
    } else if (!binary && exponent <= 12) {
      this.#scale = TickScale.DivideDecimal;
      this.#factor = 10 ** (exponent - 6);
    } else if (binary && exponent <= 32) {
      this.#scale = TickScale.Binary;
      this.#factor = 2 ** exponent;
      this.#highSeconds = 2 ** (32 - exponent);
    } else {
      this.#scale = TickScale.Big;
      this.#factor = 0;
    }
  }

  /** Microseconds since the epoch (floor) for a timestamp of `high`:`low` ticks. */
  toMicros(high: number, low: number): number {
    switch (this.#scale) {
      case TickScale.MultiplyDecimal:
        return (high * TWO_POW_32 + low) * this.#factor + this.#offsetUs;
      case TickScale.DivideDecimal: {
        // ticks / d = floor(high / d) * 2^32 + (high % d * 2^32 + low) / d; the last numerator
        // is below d * 2^32 <= 2^53, so every step is exact.
        const d = this.#factor;
        const highRest = high % d;
        const rest = highRest * TWO_POW_32 + low;
        return ((high - highRest) / d) * TWO_POW_32 + (rest - (rest % d)) / d + this.#offsetUs;
      }
      case TickScale.Binary: {
        const p = this.#factor;
        const fraction = low % p;
        const seconds = high * this.#highSeconds + (low - fraction) / p;
        return seconds * 1e6 + Math.floor((fraction * 1e6) / p) + this.#offsetUs;
      }
      case TickScale.Big: {
        const ticks = (BigInt(high) << 32n) | BigInt(low);
        return Number((ticks * 1000000n) / this.#ticksPerSecond) + this.#offsetUs;
      }
    }
  }
}

export class PcapngParser implements RecordParser {
  readonly format = 'pcapng' as const;
  frames = 0;
  need = SHB_PREFIX_BYTES;
  pendingRecord = 'section header block';

  readonly #file: string;
  readonly #onFrame: FrameHandler;
  /** Byte order of the current section. */
  #le = true;
  #interfaces: Interface[] = [];
  /** Simple Packet Blocks carry no timestamp: they inherit the previous frame's. */
  #lastTsUs = 0;

  constructor(file: string, onFrame: FrameHandler) {
    this.#file = file;
    this.#onFrame = onFrame;
  }

  parse(buf: Buffer, start: number, end: number, base: number): number {
    let pos = start;
    for (;;) {
      const available = end - pos;
      if (available < BLOCK_HEADER_BYTES) return this.#pending(pos, BLOCK_HEADER_BYTES, 'block header');
      const type = this.#u32(buf, pos);
      if (type === BLOCK_SHB) {
        if (available < SHB_PREFIX_BYTES) return this.#pending(pos, SHB_PREFIX_BYTES, 'section header block');
        this.#le = this.#sectionByteOrder(buf, pos, base);
      }
      const length = this.#u32(buf, pos + 4);
      if (length < MIN_BLOCK_BYTES || length % 4 !== 0) {
        throw this.#corrupt(base + pos, `block of type 0x${hex(type)} has total length ${length}, not a multiple of 4 of at least 12`);
      }
      if (available < length) return this.#pending(pos, length, this.#blockName(type));
      const trailer = this.#u32(buf, pos + length - 4);
      if (trailer !== length) {
        throw this.#corrupt(base + pos, `block of type 0x${hex(type)}: total length ${length} at the start but ${trailer} at the end`);
      }
      this.#block(type, buf, pos, length, base);
      pos += length;
    }
  }

  #block(type: number, buf: Buffer, pos: number, length: number, base: number): void {
    switch (type) {
      case BLOCK_EPB:
        return this.#timestampedPacket(buf, pos, length, base, this.#u32(buf, pos + 8));
      case BLOCK_SPB:
        return this.#simplePacket(buf, pos, length, base);
      case BLOCK_IDB:
        return this.#interfaceDescription(buf, pos, length, base);
      case BLOCK_SHB:
        return this.#sectionHeader(buf, pos, length, base);
      case BLOCK_OPB:
        // Obsolete Packet Block: as an EPB, but a 16-bit interface id followed by a drop count.
        return this.#timestampedPacket(buf, pos, length, base, this.#u16(buf, pos + 8));
      default:
        return; // Every other block type is of no use to intrusion detection.
    }
  }

  /** Enhanced (and obsolete) Packet Block: interface, 64-bit timestamp, lengths, data. */
  #timestampedPacket(buf: Buffer, pos: number, length: number, base: number, interfaceId: number): void {
    const frame = this.frames + 1;
    if (length < MIN_TIMESTAMPED_BYTES) throw this.#corrupt(base + pos, `packet block (frame ${frame}) of ${length} bytes is too short`);
    const iface = this.#interfaces[interfaceId];
    if (iface === undefined) {
      throw this.#corrupt(base + pos, `packet block (frame ${frame}) refers to interface ${interfaceId}, but the section defines ${this.#interfaces.length}`);
    }
    const caplen = this.#u32(buf, pos + 20);
    if (caplen > length - MIN_TIMESTAMPED_BYTES) {
      throw this.#corrupt(base + pos, `packet block (frame ${frame}) claims ${caplen} captured bytes in a ${length}-byte block`);
    }
    const tsUs = iface.toMicros(this.#u32(buf, pos + 12), this.#u32(buf, pos + 16));
    this.#lastTsUs = tsUs;
    this.frames++;
    this.#onFrame(buf, pos + TIMESTAMPED_DATA_OFFSET, caplen, tsUs, iface.linkType, this.#u32(buf, pos + 24), base + pos);
  }

  /** Simple Packet Block: interface 0, no timestamp, captured length implied by the block. */
  #simplePacket(buf: Buffer, pos: number, length: number, base: number): void {
    const frame = this.frames + 1;
    if (length < MIN_SPB_BYTES) throw this.#corrupt(base + pos, `simple packet block (frame ${frame}) of ${length} bytes is too short`);
    const iface = this.#interfaces[0];
    if (iface === undefined) throw this.#corrupt(base + pos, `simple packet block (frame ${frame}) before any interface description`);
    const originalLength = this.#u32(buf, pos + 8);
    let caplen = Math.min(originalLength, length - MIN_SPB_BYTES);
    if (iface.snaplen !== 0) caplen = Math.min(caplen, iface.snaplen);
    this.frames++;
    this.#onFrame(buf, pos + 12, caplen, this.#lastTsUs, iface.linkType, originalLength, base + pos);
  }

  #interfaceDescription(buf: Buffer, pos: number, length: number, base: number): void {
    if (length < MIN_IDB_BYTES) throw this.#corrupt(base + pos, `interface description block of ${length} bytes is too short`);
    const linkType = this.#u16(buf, pos + 8);
    const snaplen = this.#u32(buf, pos + 12);
    let tsresol = DEFAULT_TSRESOL;
    let offsetSeconds = 0;
    const end = pos + length - 4;
    for (let o = pos + 16; o + 4 <= end; ) {
      const code = this.#u16(buf, o);
      const size = this.#u16(buf, o + 2);
      if (code === OPT_END) break;
      const value = o + 4;
      if (value + size > end) {
        throw this.#corrupt(base + pos, `interface description option ${code} of ${size} bytes runs past the block`);
      }
      if (code === OPT_IF_TSRESOL && size >= 1) tsresol = buf[value];
      else if (code === OPT_IF_TSOFFSET && size >= 8) offsetSeconds = Number(this.#i64(buf, value));
      o = value + ((size + 3) & ~3); // option values are padded to 32 bits
    }
    this.#interfaces.push(new Interface(linkType, snaplen, tsresol, offsetSeconds));
  }

  #sectionHeader(buf: Buffer, pos: number, length: number, base: number): void {
    if (length < MIN_SHB_BYTES) throw this.#corrupt(base + pos, `section header block of ${length} bytes is too short`);
    const major = this.#u16(buf, pos + 12);
    const minor = this.#u16(buf, pos + 14);
    if (major !== 1) {
      throw new CaptureError('PW_ERR_CAPTURE_FORMAT', this.#file, base + pos, `unsupported pcapng version ${major}.${minor}`);
    }
    // Interface ids are per section: a new section starts with none.
    this.#interfaces = [];
  }

  /** True for a little-endian section; the magic is what tells. */
  #sectionByteOrder(buf: Buffer, pos: number, base: number): boolean {
    const magic = buf.readUInt32LE(pos + 8);
    if (magic === BYTE_ORDER_MAGIC) return true;
    if (magic === BYTE_ORDER_MAGIC_SWAPPED) return false;
    throw new CaptureError('PW_ERR_CAPTURE_FORMAT', this.#file, base + pos, `section header with a bad byte-order magic 0x${hex(magic)}`);
  }

  #blockName(type: number): string {
    return blockName(type, this.frames + 1);
  }

  #pending(pos: number, need: number, record: string): number {
    this.need = need;
    this.pendingRecord = record;
    return pos;
  }

  #corrupt(offset: number, detail: string): CaptureError {
    return new CaptureError('PW_ERR_CAPTURE_CORRUPT', this.#file, offset, detail);
  }

  // Manual reads: about three times faster than Buffer#readUInt32LE/BE on the per-block path.
  #u16(buf: Buffer, pos: number): number {
    return this.#le ? buf[pos] | (buf[pos + 1] << 8) : (buf[pos] << 8) | buf[pos + 1];
  }

  #u32(buf: Buffer, pos: number): number {
    return this.#le
      ? (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)) >>> 0
      : ((buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]) >>> 0;
  }

  #i64(buf: Buffer, pos: number): bigint {
    return this.#le ? buf.readBigInt64LE(pos) : buf.readBigInt64BE(pos);
  }
}

function blockName(type: number, frame: number): string {
  switch (type) {
    case BLOCK_SHB:
      return 'section header block';
    case BLOCK_IDB:
      return 'interface description block';
    case BLOCK_EPB:
      return `enhanced packet block (frame ${frame})`;
    case BLOCK_SPB:
      return `simple packet block (frame ${frame})`;
    case BLOCK_OPB:
      return `packet block (frame ${frame})`;
    default:
      return `block of type 0x${hex(type)}`;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
