/**
 * nf_tables over netlink, just the parts enforcement and the feed sets need: set-element batches, one
 * table query and one table deletion. Our netlink addon (src/netlink/socket.ts) gives the raw NETLINK_NETFILTER socket;
 * the messages are encoded here the way nft (libnftnl) encodes them, which `nft --debug=mnl` shows.
 *
 * A batch is one sendmsg: NFNL_MSG_BATCH_BEGIN, the messages, NFNL_MSG_BATCH_END. The kernel runs it
 * as one transaction: all of it or nothing. It processes every message even after one fails and
 * reports each failure with the failing message's sequence number, then answers the last message
 * (which alone asks for an ACK), so that answer means every report has arrived.
 */
import { constants as osConstants, endianness } from 'node:os';
import { performance } from 'node:perf_hooks';
import { NETLINK_NETFILTER, NetlinkSocket, SOL_SOCKET, SO_RCVBUF, SO_SNDBUF, SO_SNDBUFFORCE } from './netlink-socket.js';
import { PortwardenError } from '../errors.js';
import { familyWidth, intervalEnd, rangeToTargets, type Family, type ParsedTarget } from '../net/target.js';

/** One element change of a set of addresses (enforce's ElementChange has this shape). */
export type SetElementChange =
  | { readonly kind: 'add'; readonly set: string; readonly target: ParsedTarget; readonly timeoutMs: number | null }
  | { readonly kind: 'delete'; readonly set: string; readonly target: ParsedTarget };

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_GETTABLE = 1;
const NFT_MSG_DELTABLE = 2;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_GETSETELEM = 13;
const NFT_MSG_DELSETELEM = 14;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NFPROTO_INET = 1;
const NLA_F_NESTED = 0x8000;
const NFTA_TABLE_NAME = 1;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_FLAGS = 3;
const NFTA_SET_ELEM_TIMEOUT = 4;
const NFTA_SET_ELEM_EXPIRATION = 5;
const NFTA_SET_ELEM_USERDATA = 6;
const NFTA_DATA_VALUE = 1;
const NFT_SET_ELEM_INTERVAL_END = 1;
/** libnftnl's element user data: TLV type NFTNL_UDATA_SET_ELEM_FLAGS, value NFTNL_SET_ELEM_F_INTERVAL_OPEN. */
const UDATA_SET_ELEM_FLAGS = 1;
const SET_ELEM_F_INTERVAL_OPEN = 1;
const HEADER_BYTES = 16;
/** Sequence numbers stay positive 31-bit. */
export const SEQ_MASK = 0x7fffffff;

// Netlink headers and attribute headers are in host byte order, attribute payloads big-endian.
const LITTLE = endianness() === 'LE';

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));
export const errnoName = (errno: number): string => ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
export const ENOENT = osConstants.errno.ENOENT;

const readU16 = (buf: Buffer, offset: number): number => (LITTLE ? buf.readUInt16LE(offset) : buf.readUInt16BE(offset));
const readU32 = (buf: Buffer, offset: number): number => (LITTLE ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset));
const readS32 = (buf: Buffer, offset: number): number => (LITTLE ? buf.readInt32LE(offset) : buf.readInt32BE(offset));
const nftType = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;
const MASK64 = (1n << 64n) - 1n;

/**
 * Writes netlink messages back to back into one growing buffer: a batch of a thousand elements is
 * one allocation, not tens of thousands of small buffers (that was most of a commit's time).
 */
export class MessageWriter {
  #buf: Buffer;
  #length = 0;

  /** `capacity`: the expected size; a batch sized up front is never copied while it grows (each doubling held the old copy too). */
  constructor(capacity = 4096) {
    this.#buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.#length;
  }

  /** The bytes written so far (a view, valid until the next write). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#length);
  }

  /** nlmsghdr (length patched by `end`) + nfgenmsg; returns the message's offset. */
  begin(type: number, flags: number, seq: number, family: number, resId: number): number {
    const at = this.#reserve(20);
    this.#u32(at, 0);
    this.#u16(at + 4, type);
    this.#u16(at + 6, flags);
    this.#u32(at + 8, seq);
    this.#u32(at + 12, 0); // port 0: the kernel fills in ours
    this.#buf[at + 16] = family;
    this.#buf[at + 17] = 0; // NFNETLINK_V0
    this.#buf.writeUInt16BE(resId, at + 18);
    return at;
  }

  end(at: number): void {
    this.#u32(at, this.#length - at);
  }

  /** Opens an attribute (nested ones get NLA_F_NESTED); close it with `close`. */
  open(type: number, nested: boolean): number {
    const at = this.#reserve(4);
    this.#u16(at + 2, nested ? type | NLA_F_NESTED : type);
    return at;
  }

  close(at: number): void {
    this.#u16(at, this.#length - at);
    this.#pad();
  }

  cstring(type: number, text: string): void {
    const at = this.open(type, false);
    const size = Buffer.byteLength(text);
    const where = this.#reserve(size + 1);
    this.#buf.write(text, where, 'utf8');
    this.#buf[where + size] = 0;
    this.close(at);
  }

  u32be(type: number, value: number): void {
    const at = this.open(type, false);
    const where = this.#reserve(4); // before reading #buf: reserving may replace it
    this.#buf.writeUInt32BE(value >>> 0, where);
    this.close(at);
  }

  u64be(type: number, value: number): void {
    const at = this.open(type, false);
    const where = this.#reserve(8);
    // Two halves: exact for any safe integer, no BigInt.
    this.#buf.writeUInt32BE(Math.floor(value / 0x100000000), where);
    this.#buf.writeUInt32BE(value >>> 0, where + 4);
    this.close(at);
  }

  /** An address as the kernel compares it: big-endian, 4 or 16 bytes. */
  key(type: number, family: 4 | 6, value: bigint): void {
    const at = this.open(type, false);
    if (family === 4) {
      const where = this.#reserve(4);
      this.#buf.writeUInt32BE(Number(value), where);
    } else {
      const where = this.#reserve(16);
      this.#buf.writeBigUInt64BE(value >> 64n, where);
      this.#buf.writeBigUInt64BE(value & MASK64, where + 8);
    }
    this.close(at);
  }

  raw(type: number, payload: Uint8Array): void {
    const at = this.open(type, false);
    const where = this.#reserve(payload.length);
    this.#buf.set(payload, where);
    this.close(at);
  }

  #reserve(size: number): number {
    const at = this.#length;
    if (at + size > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, at + size));
      this.#buf.copy(grown, 0, 0, at);
      this.#buf = grown;
    }
    this.#length = at + size;
    return at;
  }

  #pad(): void {
    const padded = (this.#length + 3) & ~3;
    if (padded > this.#length) this.#buf.fill(0, this.#length, padded);
    this.#length = padded;
  }

  #u16(at: number, value: number): void {
    if (LITTLE) this.#buf.writeUInt16LE(value, at);
    else this.#buf.writeUInt16BE(value, at);
  }

  #u32(at: number, value: number): void {
    if (LITTLE) this.#buf.writeUInt32LE(value >>> 0, at);
    else this.#buf.writeUInt32BE(value >>> 0, at);
  }
}

function batchMarker(writer: MessageWriter, type: number, seq: number): void {
  writer.end(writer.begin(type, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES));
}

/**
 * The elements of one prefix in an interval set, as nft sends them: the start key (with the
 * timeout), then the first address after the prefix flagged as an interval end. A prefix that
 * reaches the top of the address space has no end element; libnftnl marks it "open" in the
 * element's user data so `nft list` prints it as a prefix.
 */
function writePrefixElements(w: MessageWriter, target: ParsedTarget, timeoutMs: number | null, forDelete: boolean): void {
  writeRange(w, target.family, target.start, intervalEnd(target), forDelete, timeoutMs);
}

const OPEN_INTERVAL_UDATA = (() => {
  const udata = Buffer.alloc(6);
  udata[0] = UDATA_SET_ELEM_FLAGS;
  udata[1] = 4;
  if (LITTLE) udata.writeUInt32LE(SET_ELEM_F_INTERVAL_OPEN, 2);
  else udata.writeUInt32BE(SET_ELEM_F_INTERVAL_OPEN, 2);
  return udata;
})();

/** One NEWSETELEM or DELSETELEM message for one element change, so the kernel's report names it. */
export function writeSetElementMessage(w: MessageWriter, table: string, change: SetElementChange, seq: number, ack: boolean): void {
  const add = change.kind === 'add';
  const flags = NLM_F_REQUEST | (add ? NLM_F_CREATE : 0) | (ack ? NLM_F_ACK : 0);
  const at = w.begin(nftType(add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM), flags, seq, NFPROTO_INET, 0);
  w.cstring(NFTA_SET_ELEM_LIST_TABLE, table);
  w.cstring(NFTA_SET_ELEM_LIST_SET, change.set);
  const list = w.open(NFTA_SET_ELEM_LIST_ELEMENTS, true);
  writePrefixElements(w, change.target, add ? change.timeoutMs : null, !add);
  w.close(list);
  w.end(at);
}

/**
 * BATCH_BEGIN (firstSeq - 1), one message per change (firstSeq…, the last asking for an ACK),
 * BATCH_END: the bytes of one sendmsg.
 */
export function encodeSetElementBatch(table: string, changes: readonly SetElementChange[], firstSeq: number): Buffer {
  const w = new MessageWriter();
  batchMarker(w, NFNL_MSG_BATCH_BEGIN, (firstSeq - 1) & SEQ_MASK);
  changes.forEach((change, i) => writeSetElementMessage(w, table, change, (firstSeq + i) & SEQ_MASK, i === changes.length - 1));
  batchMarker(w, NFNL_MSG_BATCH_END, (firstSeq + changes.length) & SEQ_MASK);
  return w.bytes();
}

/**
 * Ranges of one interval set to change: [start, end) pairs, ends exclusive; an end at the top of the
 * address space (2^32, 2^128) is an open interval. IPv4 as numbers, IPv6 as bigint.
 */
export interface RangeList {
  readonly start: ArrayLike<number> | readonly bigint[];
  readonly end: ArrayLike<number> | readonly bigint[];
}

/** What one batch does to one interval set without timeouts: optionally flush it, then delete, then add. */
export interface IntervalSetChange {
  readonly set: string;
  readonly family: 4 | 6;
  readonly flush: boolean;
  readonly remove: RangeList;
  readonly add: RangeList;
}

/** Ranges per NEWSETELEM/DELSETELEM message: the element list is one attribute, whose length is 16 bits. */
const RANGES_PER_MESSAGE = { 4: 1200, 6: 600 } as const;

function writeRangeKey(w: MessageWriter, family: 4 | 6, value: number | bigint): void {
  if (family === 4) w.u32be(NFTA_DATA_VALUE, Number(value));
  else w.key(NFTA_DATA_VALUE, 6, BigInt(value));
}

/**
 * [start, end) as nft sends it: the start key (with the timeout, if any), then `end` flagged as an
 * interval end. A range that reaches the top of the address space has no end element; libnftnl marks it
 * "open" in the element's user data so `nft list` prints it as a prefix.
 */
function writeRange(w: MessageWriter, family: 4 | 6, start: number | bigint, end: number | bigint, forDelete: boolean, timeoutMs: number | null = null): void {
  const open = family === 4 ? Number(end) >= 2 ** 32 : BigInt(end) >= 1n << 128n;
  const first = w.open(NFTA_LIST_ELEM, true);
  if (!forDelete && timeoutMs !== null) w.u64be(NFTA_SET_ELEM_TIMEOUT, timeoutMs);
  const key = w.open(NFTA_SET_ELEM_KEY, true);
  writeRangeKey(w, family, start);
  w.close(key);
  if (open && !forDelete) w.raw(NFTA_SET_ELEM_USERDATA, OPEN_INTERVAL_UDATA);
  w.close(first);
  if (open) return;
  const last = w.open(NFTA_LIST_ELEM, true);
  w.u32be(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
  const endKey = w.open(NFTA_SET_ELEM_KEY, true);
  writeRangeKey(w, family, end);
  w.close(endKey);
  w.close(last);
}

function writeRangeMessages(w: MessageWriter, table: string, c: IntervalSetChange, list: RangeList, add: boolean, nextSeq: () => number): void {
  const per = RANGES_PER_MESSAGE[c.family];
  for (let from = 0; from < list.start.length; from += per) {
    const flags = NLM_F_REQUEST | (add ? NLM_F_CREATE : 0);
    const at = w.begin(nftType(add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM), flags, nextSeq(), NFPROTO_INET, 0);
    w.cstring(NFTA_SET_ELEM_LIST_TABLE, table);
    w.cstring(NFTA_SET_ELEM_LIST_SET, c.set);
    const elements = w.open(NFTA_SET_ELEM_LIST_ELEMENTS, true);
    const to = Math.min(list.start.length, from + per);
    for (let i = from; i < to; i++) writeRange(w, c.family, list.start[i], list.end[i], !add);
    w.close(elements);
    w.end(at);
  }
}

/** Bytes per range at most (two elements: 16-byte keys, nests, flags or user data), and per message (header, names). */
const RANGE_BYTES_MAX = 96;
const MESSAGE_BYTES_MAX = 64;

/**
 * An upper bound of encodeIntervalBatch's size. Over-estimating is cheap: the pages of a large
 * allocUnsafe buffer that are never written are never made resident.
 */
function intervalBatchBound(table: string, changes: readonly IntervalSetChange[]): number {
  let bytes = 4096;
  for (const c of changes) {
    const ranges = c.remove.start.length + c.add.start.length;
    const messages = 1 + Math.ceil(c.remove.start.length / RANGES_PER_MESSAGE[c.family]) + Math.ceil(c.add.start.length / RANGES_PER_MESSAGE[c.family]);
    bytes += ranges * RANGE_BYTES_MAX + messages * (MESSAGE_BYTES_MAX + 2 * Buffer.byteLength(table) + 2 * Buffer.byteLength(c.set));
  }
  return bytes;
}

/**
 * One transaction over interval sets: per set, a flush (DELSETELEM without elements), the deletions,
 * the additions, many ranges per message; the last message asks for the ACK. The kernel applies all
 * of it or none, and packets see the old contents until the commit: never neither list.
 * Returns the bytes and how many messages (numbered from firstSeq) they hold.
 */
export function encodeIntervalBatch(table: string, changes: readonly IntervalSetChange[], firstSeq: number): { data: Buffer; count: number } {
  const w = new MessageWriter(intervalBatchBound(table, changes));
  batchMarker(w, NFNL_MSG_BATCH_BEGIN, (firstSeq - 1) & SEQ_MASK);
  let count = 0;
  const nextSeq = () => (firstSeq + count++) & SEQ_MASK;
  for (const c of changes) {
    if (c.flush) {
      const at = w.begin(nftType(NFT_MSG_DELSETELEM), NLM_F_REQUEST, nextSeq(), NFPROTO_INET, 0);
      w.cstring(NFTA_SET_ELEM_LIST_TABLE, table);
      w.cstring(NFTA_SET_ELEM_LIST_SET, c.set);
      w.end(at);
    }
    writeRangeMessages(w, table, c, c.remove, false, nextSeq);
    writeRangeMessages(w, table, c, c.add, true, nextSeq);
  }
  if (count === 0) return { data: Buffer.alloc(0), count: 0 };
  // Only the last message asks for an ACK: its answer means every error report has arrived.
  const bytes = w.bytes();
  let last = 0;
  for (let at = HEADER_BYTES + 4; at < bytes.length; ) {
    last = at;
    at += readU32(bytes, at);
  }
  if (LITTLE) bytes.writeUInt16LE(bytes.readUInt16LE(last + 6) | NLM_F_ACK, last + 6);
  else bytes.writeUInt16BE(bytes.readUInt16BE(last + 6) | NLM_F_ACK, last + 6);
  batchMarker(w, NFNL_MSG_BATCH_END, (firstSeq + count) & SEQ_MASK);
  return { data: w.bytes(), count };
}

/** A batch deleting the table (the one message asks for an ACK). */
export function encodeDeleteTableBatch(table: string, seq: number): Buffer {
  const w = new MessageWriter();
  batchMarker(w, NFNL_MSG_BATCH_BEGIN, (seq - 1) & SEQ_MASK);
  const at = w.begin(nftType(NFT_MSG_DELTABLE), NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO_INET, 0);
  w.cstring(NFTA_TABLE_NAME, table);
  w.end(at);
  batchMarker(w, NFNL_MSG_BATCH_END, (seq + 1) & SEQ_MASK);
  return w.bytes();
}

export function encodeGetTable(table: string, seq: number): Buffer {
  const w = new MessageWriter();
  const at = w.begin(nftType(NFT_MSG_GETTABLE), NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO_INET, 0);
  w.cstring(NFTA_TABLE_NAME, table);
  w.end(at);
  return w.bytes();
}

/** A dump request for every element of one set (the kernel answers NEWSETELEM parts, then DONE). */
const NFT_MSG_NEWOBJ = 18;
const NFT_MSG_GETOBJ = 19;
const NFTA_OBJ_TABLE = 1;
const NFTA_OBJ_NAME = 2;
const NFTA_OBJ_TYPE = 3;
const NFTA_OBJ_DATA = 4;
const NFT_OBJECT_COUNTER = 1;
const NFTA_COUNTER_BYTES = 1;
const NFTA_COUNTER_PACKETS = 2;

/** A dump request for the named counters of one table (what `nft list counters` shows, without reading any set). */
export function encodeGetCounters(table: string, seq: number): Buffer {
  const w = new MessageWriter();
  const at = w.begin(nftType(NFT_MSG_GETOBJ), NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO_INET, 0);
  w.cstring(NFTA_OBJ_TABLE, table);
  w.u32be(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER);
  w.end(at);
  return w.bytes();
}

/** One NEWOBJ dump part: a named counter's name, packets and bytes into `out` (other objects are skipped). */
export function readCounterObject(data: Buffer, offset: number, end: number, table: string, out: Map<string, { packets: number; bytes: number }>): void {
  let name: string | null = null;
  let inTable = false;
  let isCounter = false;
  let packets = 0;
  let bytes = 0;
  for (const [type, at, length] of attributes(data, offset, end)) {
    if (type === NFTA_OBJ_TABLE) inTable = data.toString('utf8', at, at + length).replace(/\0+$/, '') === table;
    else if (type === NFTA_OBJ_NAME) name = data.toString('utf8', at, at + length).replace(/\0+$/, '');
    else if (type === NFTA_OBJ_TYPE && length >= 4) isCounter = data.readUInt32BE(at) === NFT_OBJECT_COUNTER;
    else if (type === NFTA_OBJ_DATA) {
      for (const [field, fieldAt, fieldLength] of attributes(data, at, at + length)) {
        if (field === NFTA_COUNTER_PACKETS && fieldLength >= 8) packets = readU64BE(data, fieldAt);
        else if (field === NFTA_COUNTER_BYTES && fieldLength >= 8) bytes = readU64BE(data, fieldAt);
      }
    }
  }
  if (name !== null && inTable && isCounter) out.set(name, { packets, bytes });
}

export function encodeGetSetElements(table: string, set: string, seq: number): Buffer {
  const w = new MessageWriter();
  const at = w.begin(nftType(NFT_MSG_GETSETELEM), NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO_INET, 0);
  w.cstring(NFTA_SET_ELEM_LIST_TABLE, table);
  w.cstring(NFTA_SET_ELEM_LIST_SET, set);
  w.end(at);
  return w.bytes();
}

/** One element of an interval set as the kernel dumps it: a start or an end key. */
export interface DumpedElement {
  key: bigint;
  intervalEnd: boolean;
  /** Milliseconds left before the kernel removes it; null without a timeout. */
  expiresInMs: number | null;
}

/**
 * Reads the elements of one NEWSETELEM dump part (its attributes start at `offset`, after nfgenmsg)
 * into `out`.
 */
export function readSetElements(data: Buffer, offset: number, end: number, out: DumpedElement[]): void {
  for (const [type, at, length] of attributes(data, offset, end)) {
    if (type !== NFTA_SET_ELEM_LIST_ELEMENTS) continue;
    for (const [elementType, elementAt, elementLength] of attributes(data, at, at + length)) {
      if (elementType !== NFTA_LIST_ELEM) continue;
      let key: bigint | null = null;
      let flags = 0;
      let timeoutMs: number | null = null;
      let expiresInMs: number | null = null;
      for (const [field, fieldAt, fieldLength] of attributes(data, elementAt, elementAt + elementLength)) {
        if (field === NFTA_SET_ELEM_KEY) {
          for (const [dataType, valueAt, valueLength] of attributes(data, fieldAt, fieldAt + fieldLength)) {
            if (dataType === NFTA_DATA_VALUE) key = readBigEndian(data, valueAt, valueLength);
          }
        } else if (field === NFTA_SET_ELEM_FLAGS && fieldLength >= 4) flags = data.readUInt32BE(fieldAt);
        else if (field === NFTA_SET_ELEM_TIMEOUT && fieldLength >= 8) timeoutMs = readU64BE(data, fieldAt);
        else if (field === NFTA_SET_ELEM_EXPIRATION && fieldLength >= 8) expiresInMs = readU64BE(data, fieldAt);
      }
      if (key === null) continue;
      out.push({ key, intervalEnd: (flags & NFT_SET_ELEM_INTERVAL_END) !== 0, expiresInMs: expiresInMs ?? (timeoutMs === null ? null : timeoutMs) });
    }
  }
}

/**
 * Pairs the start and end keys of a dumped interval set into the networks they cover ([start, end)
 * as prefixes), each with the time its start element has left. A start with no end after it runs to
 * the top of the address space (libnftnl's "open" interval).
 */
export function intervalsFromElements(family: Family, elements: DumpedElement[]): { targets: ParsedTarget[]; expiresInMs: number | null }[] {
  // Ascending by key; at equal keys an end first, since it closes the interval before the next opens.
  const sorted = [...elements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : Number(b.intervalEnd) - Number(a.intervalEnd)));
  const top = (1n << BigInt(familyWidth(family))) - 1n;
  const out: { targets: ParsedTarget[]; expiresInMs: number | null }[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i];
    if (start.intervalEnd) continue; // an end without its start (the element 0 end of a set): nothing covered
    const next = sorted[i + 1];
    const last = next !== undefined && next.intervalEnd ? next.key - 1n : top;
    if (next?.intervalEnd) i++;
    if (last < start.key) continue;
    out.push({ targets: rangeToTargets(family, start.key, last), expiresInMs: start.expiresInMs });
  }
  return out;
}

/** The attributes in [offset, end): [type without flags, payload offset, payload length]. */
function* attributes(data: Buffer, offset: number, end: number): Generator<[number, number, number]> {
  for (let at = offset; at + 4 <= end; ) {
    const length = readU16(data, at);
    if (length < 4 || at + length > end) return;
    yield [readU16(data, at + 2) & 0x3fff, at + 4, length - 4];
    at += (length + 3) & ~3;
  }
}

function readBigEndian(data: Buffer, at: number, length: number): bigint {
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(data[at + i]);
  return value;
}

function readU64BE(data: Buffer, at: number): number {
  return data.readUInt32BE(at) * 0x100000000 + data.readUInt32BE(at + 4);
}

/** A kernel report for one message of a request: errno 0 is an ACK. */
export interface NetlinkReply {
  seq: number;
  errno: number;
}

export interface BatchOutcome {
  /** Failures by the sequence number of the message the kernel refused (positive errno). */
  failures: Map<number, number>;
  /** A failure of the batch as a whole (reported against BATCH_BEGIN), or 0. */
  batchErrno: number;
  durationMs: number;
}

export interface NftNetlinkOptions {
  /** How long to wait for the kernel's answer before giving up on a request. */
  replyTimeoutMs: number;
}

/**
 * One NETLINK_NETFILTER socket. Requests run one at a time (the caller serialises them); replies are
 * matched by sequence number. The socket does not keep the process alive while idle.
 */
export class NftNetlink {
  readonly #socket: NetlinkSocket;
  readonly #replyTimeoutMs: number;
  /** Largest sendmsg the socket takes (the kernel refuses one above SO_SNDBUF - 32 with EMSGSIZE). */
  maxBatchBytes: number;
  #seq: number;
  #pending: ((reply: NetlinkReply | Error) => void) | null = null;
  /** During a dump: takes each data message (its type, and where its attributes are). */
  #dumpPart: ((type: number, data: Buffer, attributesAt: number, end: number) => void) | null = null;

  constructor(options: NftNetlinkOptions) {
    this.#replyTimeoutMs = options.replyTimeoutMs;
    // A fixed 64 KiB read buffer instead of peeking each message's size: the kernel sizes a dump's
    // parts by the reader's buffer (up to 32 KiB), and a set dump walks the set from its start for
    // every part, so small parts made listing 100,000 bans take seconds.
    // One wakeup's datagrams arrive back to back in one Buffer: netlink messages delimit themselves.
    this.#socket = new NetlinkSocket(NETLINK_NETFILTER, (data, _datagrams, enobufs, truncated, errno) => this.#batchIn(data, enobufs, truncated, errno), {
      recvBytes: 64 * 1024,
    });
    this.#socket.unref();
    // Big buffers so a large batch goes in one sendmsg and its error reports all fit; the kernel caps
    // both at net.core.{w,r}mem_max (best effort: the cap is what we get).
    try {
      this.#socket.setsockopt(SOL_SOCKET, SO_SNDBUF, 4 << 20);
      this.#socket.setsockopt(SOL_SOCKET, SO_RCVBUF, 4 << 20);
    } catch {
      // keep the defaults
    }
    this.maxBatchBytes = this.#socket.getsockopt(SOL_SOCKET, SO_SNDBUF) - 1024;
    this.#seq = Math.floor(Date.now() / 1000) & 0x3fffffff;
  }

  /**
   * Raises the send buffer (SO_SNDBUFFORCE, needs CAP_NET_ADMIN) so a batch of `bytes` fits one
   * sendmsg, as nft does for a large set: a transaction cannot be split across sends.
   */
  ensureSendBuffer(bytes: number): void {
    if (bytes <= this.maxBatchBytes) return;
    this.#socket.setsockopt(SOL_SOCKET, SO_SNDBUFFORCE, bytes + 4096);
    this.maxBatchBytes = this.#socket.getsockopt(SOL_SOCKET, SO_SNDBUF) - 1024;
  }

  close(): void {
    this.#socket.close();
  }

  /** Sequence numbers for the next `count` messages. */
  nextSeq(count: number): number {
    const first = this.#seq;
    this.#seq = (this.#seq + count) & SEQ_MASK;
    return first;
  }

  /**
   * Sends an encoded batch (see encodeSetElementBatch: `count` messages numbered from `firstSeq`,
   * the last one asking for an ACK) as one sendmsg, and collects the kernel's reports.
   */
  async batch(data: Buffer, firstSeq: number, count: number): Promise<BatchOutcome> {
    const beginSeq = (firstSeq - 1) & SEQ_MASK;
    const lastSeq = (firstSeq + count - 1) & SEQ_MASK;
    const failures = new Map<number, number>();
    let batchErrno = 0;
    const started = performance.now();
    await this.#exchange(data, (reply) => {
      if (reply.seq === beginSeq && reply.errno !== 0) {
        batchErrno = reply.errno;
        return true;
      }
      // A late report of an earlier, timed-out request carries a sequence number outside this batch.
      const inBatch = ((reply.seq - firstSeq) & SEQ_MASK) < count;
      if (inBatch && reply.errno !== 0) failures.set(reply.seq, reply.errno);
      return reply.seq === lastSeq;
    });
    return { failures, batchErrno, durationMs: performance.now() - started };
  }

  /** A non-batch request that asks for an ACK; resolves with the errno of its answer (0 is success). */
  async request(build: (seq: number) => Buffer): Promise<number> {
    const seq = this.nextSeq(1);
    let errno = 0;
    await this.#exchange(build(seq), (reply) => {
      if (reply.seq !== seq) return false;
      errno = reply.errno;
      return true;
    });
    return errno;
  }

  /** The named counters of one table (name → packets, bytes), through a netlink dump that reads no set. */
  async dumpCounters(table: string): Promise<Map<string, { packets: number; bytes: number }>> {
    const seq = this.nextSeq(1);
    const out = new Map<string, { packets: number; bytes: number }>();
    let errno = 0;
    this.#dumpPart = (type, data, at, end) => {
      if (type === nftType(NFT_MSG_NEWOBJ)) readCounterObject(data, at, end, table, out);
    };
    try {
      await this.#exchange(encodeGetCounters(table, seq), (reply) => {
        if (reply.seq !== seq) return false;
        errno = reply.errno;
        return true;
      });
    } finally {
      this.#dumpPart = null;
    }
    if (errno !== 0) throw enforceError(`listing the counters of table inet ${table} failed: ${errnoName(errno)}`);
    return out;
  }

  /**
   * Every element of one set, through a netlink dump: far cheaper than `nft -j list set` on a large
   * set (that parses and prints the whole ruleset). Rejects with the errno if the kernel refuses.
   */
  async dumpSetElements(table: string, set: string): Promise<DumpedElement[]> {
    const seq = this.nextSeq(1);
    const elements: DumpedElement[] = [];
    let errno = 0;
    this.#dumpPart = (type, data, at, end) => {
      if (type === nftType(NFT_MSG_NEWSETELEM)) readSetElements(data, at, end, elements);
    };
    try {
      await this.#exchange(encodeGetSetElements(table, set, seq), (reply) => {
        if (reply.seq !== seq) return false;
        errno = reply.errno;
        return true;
      });
    } finally {
      this.#dumpPart = null;
    }
    if (errno !== 0) throw enforceError(`listing set ${set} of table inet ${table} failed: ${errnoName(errno)}`);
    return elements;
  }

  /** Sends, then feeds every report to `onReply` until it returns true. */
  #exchange(data: Buffer, onReply: (reply: NetlinkReply) => boolean): Promise<void> {
    if (this.#pending !== null) return Promise.reject(enforceError('a netlink request is already in flight'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => finish(enforceError(`no answer from the kernel within ${this.#replyTimeoutMs} ms`)), this.#replyTimeoutMs);
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.#pending = null;
        if (error) reject(error);
        else resolve();
      };
      this.#pending = (reply) => {
        if (reply instanceof Error) finish(enforceError('netlink socket error', reply));
        else if (onReply(reply)) finish();
      };
      try {
        this.#socket.send(data);
      } catch (error) {
        finish(enforceError(`sending to the kernel failed (${(error as Error).message})`, error));
      }
    });
  }

  /** What one wakeup read: the replies first, then any loss (a lost report would otherwise be waited for until the timeout). */
  #batchIn(data: Buffer | undefined, enobufs: number, truncated: number, errno: number): void {
    if (data !== undefined) this.#receive(data);
    if (enobufs > 0) this.#pending?.(Object.assign(new Error('the receive buffer overflowed (ENOBUFS): replies were lost'), { code: 'ENOBUFS' }));
    else if (truncated > 0) this.#pending?.(new Error(`${truncated} reply datagram(s) over 64 KiB were cut off`));
    else if (errno !== 0) this.#pending?.(Object.assign(new Error(`receiving from the kernel failed (${errnoName(errno)})`), { errno, code: errnoName(errno) }));
  }

  #receive(data: Buffer): void {
    for (let offset = 0; offset + HEADER_BYTES <= data.length; ) {
      const length = readU32(data, offset);
      if (length < HEADER_BYTES || offset + length > data.length) return;
      const type = readU16(data, offset + 4);
      // A dump's parts go to its sink; its end (DONE) answers the request like an ACK.
      if (type === NLMSG_DONE) this.#pending?.({ seq: readU32(data, offset + 8), errno: 0 });
      else if (type !== NLMSG_ERROR) this.#dumpPart?.(type, data, offset + HEADER_BYTES + 4, offset + length);
      // Otherwise only reports matter: a reply with data (GETTABLE's NEWTABLE) is followed by the ACK.
      if (type === NLMSG_ERROR && length >= HEADER_BYTES + 4 + HEADER_BYTES) {
        // struct nlmsgerr: the (negative) error, then the header of the message it answers.
        const errno = -readS32(data, offset + HEADER_BYTES);
        const answeredSeq = readU32(data, offset + HEADER_BYTES + 4 + 8);
        this.#pending?.({ seq: answeredSeq, errno });
      }
      offset += (length + 3) & ~3;
    }
  }
}

function enforceError(message: string, cause?: unknown): PortwardenError {
  return new PortwardenError('PW_ERR_ENFORCE', message, { cause });
}
