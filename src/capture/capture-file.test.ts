import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCaptureFile, readCaptureFile, readCaptureFileSync, type CaptureFileSummary, type FrameHandler } from './capture-file.js';
import { PcapWriter } from './pcap-writer.js';
import { CaptureError, type ErrorCodeName } from '../errors.js';
import { LinkType } from '../model/packet.js';

// Specification of the capture-file reader: every case is a real file, built byte by byte below,
// read by the real reader three ways (async with the default 4 MiB chunk, async with 64-byte
// chunks, sync with 1-byte chunks) so that every record also straddles chunk boundaries.

const dir = mkdtempSync(join(tmpdir(), 'pw-capture-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Byte builders

type Order = 'le' | 'be';

function u16(order: Order, value: number): Buffer {
  const b = Buffer.alloc(2);
  if (order === 'le') b.writeUInt16LE(value);
  else b.writeUInt16BE(value);
  return b;
}

function u32(order: Order, value: number): Buffer {
  const b = Buffer.alloc(4);
  if (order === 'le') b.writeUInt32LE(value >>> 0);
  else b.writeUInt32BE(value >>> 0);
  return b;
}

function i64(order: Order, value: bigint): Buffer {
  const b = Buffer.alloc(8);
  if (order === 'le') b.writeBigInt64LE(value);
  else b.writeBigInt64BE(value);
  return b;
}

/** Frame bytes that differ from frame to frame: seed, seed+1, ... */
function frame(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (seed + i) & 0xff;
  return b;
}

function pad4(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
}

interface PcapHeader {
  ns?: boolean;
  linkTypeField?: number;
  snaplen?: number;
  major?: number;
  minor?: number;
}

function pcapHeader(order: Order, h: PcapHeader = {}): Buffer {
  const magic = h.ns ? 0xa1b23c4d : 0xa1b2c3d4;
  return Buffer.concat([
    u32(order, magic),
    u16(order, h.major ?? 2),
    u16(order, h.minor ?? 4),
    u32(order, 0), // thiszone
    u32(order, 0), // sigfigs
    u32(order, h.snaplen ?? 65535),
    u32(order, h.linkTypeField ?? LinkType.ETHERNET),
  ]);
}

interface PcapRecord {
  seconds: number;
  fraction: number;
  data: Buffer;
  originalLength?: number;
  /** Overrides the captured-length field, to build corrupt records. */
  caplen?: number;
}

function pcapRecord(order: Order, r: PcapRecord): Buffer {
  return Buffer.concat([
    u32(order, r.seconds),
    u32(order, r.fraction),
    u32(order, r.caplen ?? r.data.length),
    u32(order, r.originalLength ?? r.data.length),
    r.data,
  ]);
}

function pcap(order: Order, header: PcapHeader, records: PcapRecord[]): Buffer {
  return Buffer.concat([pcapHeader(order, header), ...records.map((r) => pcapRecord(order, r))]);
}

const SHB = 0x0a0d0d0a;
const IDB = 1;
const OPB = 2;
const SPB = 3;
const NRB = 4;
const ISB = 5;
const EPB = 6;
const DSB = 0x0a;
const CUSTOM = 0xbad;

interface BlockOverrides {
  length?: number;
  trailer?: number;
}

/** type, total length, body padded to 32 bits, total length again. */
function block(order: Order, type: number, body: Buffer, o: BlockOverrides = {}): Buffer {
  const padded = pad4(body);
  const length = 12 + padded.length;
  return Buffer.concat([u32(order, type), u32(order, o.length ?? length), padded, u32(order, o.trailer ?? length)]);
}

function option(order: Order, code: number, value: Buffer): Buffer {
  return Buffer.concat([u16(order, code), u16(order, value.length), pad4(value)]);
}

function endOfOptions(order: Order): Buffer {
  return Buffer.concat([u16(order, 0), u16(order, 0)]);
}

function shb(order: Order, major = 1, minor = 0): Buffer {
  const body = Buffer.concat([u32(order, 0x1a2b3c4d), u16(order, major), u16(order, minor), i64(order, -1n)]);
  return block(order, SHB, body);
}

interface Iface {
  linkType: number;
  snaplen?: number;
  /** if_tsresol byte: high bit clear = 10^-n, set = 2^-n. */
  tsresol?: number;
  /** if_tsoffset, seconds. */
  tsoffset?: bigint;
}

function idb(order: Order, i: Iface): Buffer {
  const options: Buffer[] = [];
  if (i.tsresol !== undefined) options.push(option(order, 9, Buffer.from([i.tsresol])));
  if (i.tsoffset !== undefined) options.push(option(order, 14, i64(order, i.tsoffset)));
  if (options.length > 0) options.push(endOfOptions(order));
  return block(order, IDB, Buffer.concat([u16(order, i.linkType), u16(order, 0), u32(order, i.snaplen ?? 0), ...options]));
}

interface PacketBlock {
  iface: number;
  ticks: bigint;
  data: Buffer;
  originalLength?: number;
  caplen?: number;
  options?: Buffer;
}

function timestamped(order: Order, p: PacketBlock, ifaceField: Buffer): Buffer {
  return Buffer.concat([
    ifaceField,
    u32(order, Number(p.ticks >> 32n)),
    u32(order, Number(p.ticks & 0xffffffffn)),
    u32(order, p.caplen ?? p.data.length),
    u32(order, p.originalLength ?? p.data.length),
    pad4(p.data),
    p.options ?? Buffer.alloc(0),
  ]);
}

function epb(order: Order, p: PacketBlock, o: BlockOverrides = {}): Buffer {
  return block(order, EPB, timestamped(order, p, u32(order, p.iface)), o);
}

/** Obsolete Packet Block: 16-bit interface id and a 16-bit drop count in place of the EPB's 32-bit id. */
function opb(order: Order, p: PacketBlock): Buffer {
  return block(order, OPB, timestamped(order, p, Buffer.concat([u16(order, p.iface), u16(order, 0)])));
}

function spb(order: Order, originalLength: number, data: Buffer): Buffer {
  return block(order, SPB, Buffer.concat([u32(order, originalLength), data]));
}

function concat(...parts: Buffer[]): Buffer {
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Running the reader

interface Frame {
  data: string;
  tsUs: number;
  linkType: number;
  originalLength: number;
}

function f(data: Buffer, tsUs: number, linkType: number, originalLength = data.length): Frame {
  return { data: data.toString('hex'), tsUs, linkType, originalLength };
}

type Reader = (path: string, onFrame: FrameHandler) => Promise<CaptureFileSummary>;

const readers: { name: string; read: Reader }[] = [
  { name: 'async, default chunk', read: (path, onFrame) => readCaptureFile(path, onFrame) },
  { name: 'async, 64-byte chunks', read: (path, onFrame) => readCaptureFile(path, onFrame, { chunkSize: 64 }) },
  { name: 'sync, 1-byte chunks', read: async (path, onFrame) => readCaptureFileSync(path, onFrame, { chunkSize: 1 }) },
];

interface Outcome {
  frames: Frame[];
  summary?: CaptureFileSummary;
  error?: unknown;
}

async function run(read: Reader, path: string): Promise<Outcome> {
  const frames: Frame[] = [];
  const onFrame: FrameHandler = (buf, offset, length, tsUs, linkType, originalLength) => {
    // The buffer is reused: keep a copy.
    frames.push({ data: buf.toString('hex', offset, offset + length), tsUs, linkType, originalLength });
  };
  try {
    return { frames, summary: await read(path, onFrame) };
  } catch (error) {
    return { frames, error };
  }
}

let fileCounter = 0;
function writeCapture(bytes: Buffer): string {
  const path = join(dir, `case-${fileCounter++}.cap`);
  writeFileSync(path, bytes);
  return path;
}

function assertCaptureError(error: unknown, code: ErrorCodeName, offset: number): void {
  assert.ok(error instanceof CaptureError, `expected a CaptureError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.equal(error.offset, offset, error.message);
}

// ---------------------------------------------------------------------------------------------
// The specification

interface Case {
  name: string;
  file: Buffer;
  /** Frames delivered, in order; when `error` is set, the ones delivered before it. */
  frames: Frame[];
  format?: 'pcap' | 'pcapng';
  error?: { code: ErrorCodeName; offset: number };
}

const T = 1700000000; // 2023-11-14T22:13:20Z, seconds
const EN10MB = LinkType.ETHERNET;
const RAW = LinkType.RAW;
const SLL = LinkType.LINUX_SLL;

const a = frame(60, 0x10);
const b = frame(1, 0x20);
const c = frame(0, 0);
const d = frame(1514, 0x30);
const big = frame(1000, 0x40);

const classicCases: Case[] = (['le', 'be'] as const).flatMap((order): Case[] => [
  {
    name: `pcap ${order}, microseconds: frames in order, timestamps exact, original length kept`,
    file: pcap(order, {}, [
      { seconds: T, fraction: 123456, data: a, originalLength: 1514 },
      { seconds: T + 1, fraction: 999999, data: b },
      { seconds: T + 2, fraction: 0, data: c },
    ]),
    format: 'pcap',
    frames: [f(a, 1700000000123456, EN10MB, 1514), f(b, 1700000001999999, EN10MB), f(c, 1700000002000000, EN10MB)],
  },
  {
    name: `pcap ${order}, nanoseconds: timestamps floored to microseconds`,
    file: pcap(order, { ns: true, linkTypeField: RAW }, [
      { seconds: T, fraction: 123456789, data: a },
      { seconds: T, fraction: 999999999, data: b },
      { seconds: T, fraction: 999, data: c },
    ]),
    format: 'pcap',
    frames: [f(a, 1700000000123456, RAW), f(b, 1700000000999999, RAW), f(c, 1700000000000000, RAW)],
  },
]);

const manySizes = Array.from({ length: 40 }, (_, i) => frame((i * 37) % 150, i));

const pcapCases: Case[] = [
  ...classicCases,
  {
    name: 'pcap link-type field with FCS length and F bit set: the link type is the low 16 bits',
    file: pcap('le', { linkTypeField: (1 << 28) | (2 << 26) | SLL }, [{ seconds: T, fraction: 5, data: a }]),
    format: 'pcap',
    frames: [f(a, 1700000000000005, SLL)],
  },
  {
    name: 'pcap version 2.3 reads like 2.4',
    file: pcap('be', { minor: 3 }, [{ seconds: T, fraction: 5, data: b }]),
    format: 'pcap',
    frames: [f(b, 1700000000000005, EN10MB)],
  },
  {
    name: 'pcap with a header only: no frames, no error',
    file: pcapHeader('le'),
    format: 'pcap',
    frames: [],
  },
  {
    name: 'pcap record larger than a read chunk',
    file: pcap('le', {}, [
      { seconds: T, fraction: 1, data: b },
      { seconds: T, fraction: 2, data: big },
      { seconds: T, fraction: 3, data: d },
    ]),
    format: 'pcap',
    frames: [f(b, 1700000000000001, EN10MB), f(big, 1700000000000002, EN10MB), f(d, 1700000000000003, EN10MB)],
  },
  {
    name: 'pcap records of many sizes straddling chunk boundaries',
    file: pcap(
      'be',
      {},
      manySizes.map((data, i) => ({ seconds: T + i, fraction: i, data })),
    ),
    format: 'pcap',
    frames: manySizes.map((data, i) => f(data, (T + i) * 1e6 + i, EN10MB)),
  },
  {
    name: 'pcap frame up to 262144 bytes is believed even above the header snaplen',
    file: pcap('le', { snaplen: 64 }, [{ seconds: T, fraction: 0, data: a }, { seconds: T, fraction: 1, data: d }]),
    format: 'pcap',
    frames: [f(a, 1700000000000000, EN10MB), f(d, 1700000000000001, EN10MB)],
  },
];

/** Two interfaces: Ethernet at 10^-9 s, raw IP at 2^-10 s shifted by +100 s. */
const twoInterfaces = concat(
  shb('le'),
  idb('le', { linkType: EN10MB, snaplen: 64, tsresol: 9 }),
  idb('le', { linkType: RAW, tsresol: 0x80 | 10, tsoffset: 100n }),
);

const pcapngCases: Case[] = [
  {
    name: 'pcapng: EPBs on two interfaces, each with its link type, tsresol and tsoffset; SPBs take the previous timestamp',
    file: concat(
      twoInterfaces,
      epb('le', { iface: 0, ticks: 1700000000123456789n, data: a, originalLength: 1514 }),
      // 1700000000 s + 513/1024 s + 100 s offset
      epb('le', { iface: 1, ticks: 1700000000n * 1024n + 513n, data: b }),
      // SPB: interface 0, captured length = min(original 100, block data 80, snaplen 64)
      spb('le', 100, frame(80, 0x50)),
      // SPB whose data is padded: the padding is not part of the frame
      spb('le', 30, frame(30, 0x60)),
      epb('le', {
        iface: 0,
        ticks: 1700000001000000999n,
        data: c,
        options: concat(option('le', 2, u32('le', 1)), endOfOptions('le')), // epb_flags, ignored
      }),
    ),
    format: 'pcapng',
    frames: [
      f(a, 1700000000123456, EN10MB, 1514),
      f(b, 1700000100500976, RAW),
      f(frame(64, 0x50), 1700000100500976, EN10MB, 100),
      f(frame(30, 0x60), 1700000100500976, EN10MB),
      f(c, 1700000001000000, EN10MB),
    ],
  },
  {
    name: 'pcapng: an SPB before any EPB has timestamp 0',
    file: concat(shb('be'), idb('be', { linkType: RAW }), spb('be', 1, b)),
    format: 'pcapng',
    frames: [f(b, 0, RAW)],
  },
  {
    name: 'pcapng: without if_tsresol the resolution is microseconds',
    file: concat(shb('le'), idb('le', { linkType: EN10MB }), epb('le', { iface: 0, ticks: 1700000000123456n, data: a })),
    format: 'pcapng',
    frames: [f(a, 1700000000123456, EN10MB)],
  },
  {
    name: 'pcapng: every if_tsresol converts exactly (floor), with positive and negative if_tsoffset',
    file: concat(
      shb('be'),
      idb('be', { linkType: EN10MB, tsresol: 0 }), // seconds
      idb('be', { linkType: EN10MB, tsresol: 3 }), // milliseconds
      idb('be', { linkType: EN10MB, tsresol: 12, tsoffset: 7n }), // picoseconds
      idb('be', { linkType: EN10MB, tsresol: 15 }), // femtoseconds
      idb('be', { linkType: EN10MB, tsresol: 0x80 | 32 }), // 2^-32 s
      idb('be', { linkType: EN10MB, tsresol: 0x80 | 40 }), // 2^-40 s
      idb('be', { linkType: EN10MB, tsresol: 9, tsoffset: -3600n }),
      epb('be', { iface: 0, ticks: 1700000000n, data: b }),
      epb('be', { iface: 1, ticks: 1700000000123n, data: b }),
      epb('be', { iface: 2, ticks: 12345678901234567890n, data: b }),
      epb('be', { iface: 3, ticks: 12345678901234567890n, data: b }),
      epb('be', { iface: 4, ticks: (1700000000n << 32n) | 0xffffffffn, data: b }),
      epb('be', { iface: 5, ticks: (1000n << 40n) | (1n << 39n), data: b }),
      epb('be', { iface: 6, ticks: 1700000000000000001n, data: b }),
    ),
    format: 'pcapng',
    frames: [
      f(b, 1700000000000000, EN10MB),
      f(b, 1700000000123000, EN10MB),
      f(b, 12345678901234 + 7000000, EN10MB),
      f(b, 12345678901, EN10MB),
      f(b, 1700000000999999, EN10MB),
      f(b, 1000500000, EN10MB),
      f(b, 1699996400000000, EN10MB),
    ],
  },
  {
    name: 'pcapng: obsolete packet blocks are read like EPBs',
    file: concat(shb('le'), idb('le', { linkType: SLL }), opb('le', { iface: 0, ticks: 1700000000000001n, data: a })),
    format: 'pcapng',
    frames: [f(a, 1700000000000001, SLL)],
  },
  {
    name: 'pcapng: name resolution, statistics, secrets, custom and unknown blocks are skipped',
    file: concat(
      shb('le'),
      block('le', NRB, frame(20, 1)),
      idb('le', { linkType: EN10MB }),
      block('le', ISB, frame(24, 2)),
      epb('le', { iface: 0, ticks: 1n, data: a }),
      block('le', DSB, frame(13, 3)),
      block('le', CUSTOM, frame(0, 0)),
      block('le', 0x12345678, frame(300, 4)),
      epb('le', { iface: 0, ticks: 2n, data: b }),
    ),
    format: 'pcapng',
    frames: [f(a, 1, EN10MB), f(b, 2, EN10MB)],
  },
  {
    name: 'pcapng: two sections with different byte orders; interface ids restart per section',
    file: concat(
      shb('le'),
      idb('le', { linkType: EN10MB }),
      epb('le', { iface: 0, ticks: 1700000000000001n, data: a }),
      shb('be'),
      idb('be', { linkType: SLL, tsresol: 9 }),
      epb('be', { iface: 0, ticks: 1700000000000002000n, data: b }),
    ),
    format: 'pcapng',
    frames: [f(a, 1700000000000001, EN10MB), f(b, 1700000000000002, SLL)],
  },
  {
    name: 'pcapng: a packet block larger than a read chunk',
    file: concat(shb('be'), idb('be', { linkType: EN10MB }), epb('be', { iface: 0, ticks: 5n, data: big })),
    format: 'pcapng',
    frames: [f(big, 5, EN10MB)],
  },
];

// Error cases: the frames before the bad record are delivered, then the error names its offset.

const twoRecords = pcap('le', {}, [
  { seconds: T, fraction: 1, data: a },
  { seconds: T, fraction: 2, data: b },
]);
const twoFrames = [f(a, 1700000000000001, EN10MB), f(b, 1700000000000002, EN10MB)];
const thirdRecord = pcapRecord('le', { seconds: T, fraction: 3, data: d });

const ngHead = concat(shb('le'), idb('le', { linkType: EN10MB }), epb('le', { iface: 0, ticks: 7n, data: a }));
const ngFrames = [f(a, 7, EN10MB)];

const errorCases: Case[] = [
  { name: 'empty file: format error', file: Buffer.alloc(0), frames: [], error: { code: 'PW_ERR_CAPTURE_FORMAT', offset: 0 } },
  {
    name: 'file shorter than a magic number: format error',
    file: Buffer.from([0xd4, 0xc3, 0xb2]),
    frames: [],
    error: { code: 'PW_ERR_CAPTURE_FORMAT', offset: 0 },
  },
  {
    name: 'text file: format error',
    file: Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'),
    frames: [],
    error: { code: 'PW_ERR_CAPTURE_FORMAT', offset: 0 },
  },
  {
    name: 'pcap version 3.0: format error',
    file: pcap('le', { major: 3, minor: 0 }, [{ seconds: T, fraction: 0, data: a }]),
    frames: [],
    error: { code: 'PW_ERR_CAPTURE_FORMAT', offset: 0 },
  },
  {
    name: 'pcap file header cut short: truncated at 0',
    file: pcapHeader('be').subarray(0, 10),
    frames: [],
    error: { code: 'PW_ERR_CAPTURE_TRUNCATED', offset: 0 },
  },
  {
    name: 'pcap ending inside a record body: earlier frames delivered, truncated at the record',
    file: concat(twoRecords, thirdRecord.subarray(0, 16 + 700)),
    frames: twoFrames,
    error: { code: 'PW_ERR_CAPTURE_TRUNCATED', offset: twoRecords.length },
  },
  {
    name: 'pcap ending inside a record header: earlier frames delivered, truncated at the record',
    file: concat(twoRecords, thirdRecord.subarray(0, 5)),
    frames: twoFrames,
    error: { code: 'PW_ERR_CAPTURE_TRUNCATED', offset: twoRecords.length },
  },
  {
    name: 'pcap captured length above 262144 and the snaplen: corrupt at the record',
    file: concat(twoRecords, pcapRecord('le', { seconds: T, fraction: 3, data: d, caplen: 300000 })),
    frames: twoFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: twoRecords.length },
  },
  {
    name: 'pcap captured length above 256 MiB even with a 2^32-1 snaplen: corrupt at the record',
    file: concat(
      pcap('le', { snaplen: 0xffffffff }, [{ seconds: T, fraction: 1, data: a }]),
      pcapRecord('le', { seconds: T, fraction: 3, data: d, caplen: 0x10000001 }),
    ),
    frames: [f(a, 1700000000000001, EN10MB)],
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: 24 + 16 + a.length },
  },
  {
    name: 'pcapng block whose trailing length differs: corrupt at the block',
    file: concat(ngHead, epb('le', { iface: 0, ticks: 8n, data: b }, { trailer: 40 })),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: ngHead.length },
  },
  {
    name: 'pcapng block length not a multiple of 4: corrupt at the block',
    file: concat(ngHead, block('le', NRB, frame(8, 0), { length: 22 })),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: ngHead.length },
  },
  {
    name: 'pcapng block length below 12: corrupt at the block',
    file: concat(ngHead, block('le', NRB, Buffer.alloc(0), { length: 8 })),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: ngHead.length },
  },
  {
    name: 'pcapng block length of 512 MiB: corrupt at the block, nothing allocated',
    file: concat(ngHead, block('le', EPB, frame(40, 0), { length: 0x20000000 })),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: ngHead.length },
  },
  {
    name: 'pcapng EPB referring to an undefined interface: corrupt at the block',
    file: concat(ngHead, epb('le', { iface: 1, ticks: 8n, data: b })),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: ngHead.length },
  },
  {
    name: 'pcapng interface ids do not carry over into the next section: corrupt at the block',
    file: concat(ngHead, shb('be'), epb('be', { iface: 0, ticks: 8n, data: b })),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: ngHead.length + shb('be').length },
  },
  {
    name: 'pcapng EPB captured length beyond its block: corrupt at the block',
    file: concat(ngHead, epb('le', { iface: 0, ticks: 8n, data: b, caplen: 5 })),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: ngHead.length },
  },
  {
    name: 'pcapng SPB before any interface: corrupt at the block',
    file: concat(shb('le'), spb('le', 1, b)),
    frames: [],
    error: { code: 'PW_ERR_CAPTURE_CORRUPT', offset: shb('le').length },
  },
  {
    name: 'pcapng ending inside a block: earlier frames delivered, truncated at the block',
    file: concat(ngHead, epb('le', { iface: 0, ticks: 8n, data: d }).subarray(0, 100)),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_TRUNCATED', offset: ngHead.length },
  },
  {
    name: 'pcapng ending inside a block header: truncated at the block',
    file: concat(ngHead, Buffer.from([6, 0, 0])),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_TRUNCATED', offset: ngHead.length },
  },
  {
    name: 'pcapng section header with a bad byte-order magic: format error at the section',
    file: concat(ngHead, shb('le').fill(0x77, 8, 12)),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_FORMAT', offset: ngHead.length },
  },
  {
    name: 'pcapng version 2.0: format error at the section',
    file: concat(ngHead, shb('be', 2, 0)),
    frames: ngFrames,
    error: { code: 'PW_ERR_CAPTURE_FORMAT', offset: ngHead.length },
  },
];

for (const c of [...pcapCases, ...pcapngCases, ...errorCases]) {
  test(c.name, async (t) => {
    const path = writeCapture(c.file);
    for (const reader of readers) {
      await t.test(reader.name, async () => {
        const outcome = await run(reader.read, path);
        assert.deepEqual(outcome.frames, c.frames);
        if (c.error !== undefined) {
          assertCaptureError(outcome.error, c.error.code, c.error.offset);
        } else {
          assert.equal(outcome.error, undefined);
          assert.deepEqual(outcome.summary, { format: c.format, frames: c.frames.length, bytes: c.file.length });
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Behaviour beyond a single file's contents

test('a missing file or a directory is PW_ERR_CAPTURE_OPEN', async (t) => {
  const subdir = join(dir, 'a-directory');
  mkdirSync(subdir);
  for (const path of [join(dir, 'does-not-exist.pcap'), subdir]) {
    for (const reader of readers) {
      await t.test(`${reader.name}: ${path}`, async () => {
        const outcome = await run(reader.read, path);
        assertCaptureError(outcome.error, 'PW_ERR_CAPTURE_OPEN', 0);
        assert.ok((outcome.error as CaptureError).cause instanceof Error);
      });
    }
  }
});

test('checkCaptureFile refuses a missing file and a directory before any read, and passes files, FIFOs and -', () => {
  const subdir = join(dir, 'another-directory');
  mkdirSync(subdir);
  const missing = checkCaptureFile(join(dir, 'nothing-here.pcap'));
  assert.equal(missing?.code, 'PW_ERR_CAPTURE_OPEN');
  assert.match(missing?.message ?? '', /nothing-here\.pcap: cannot open the capture file: no such file$/);
  const directory = checkCaptureFile(subdir);
  assert.equal(directory?.code, 'PW_ERR_CAPTURE_OPEN');
  assert.match(directory?.message ?? '', /is a directory/);
  assert.equal(checkCaptureFile(writeCapture(pcap('le', {}, []))), null);
  assert.equal(checkCaptureFile('-'), null);
  assert.equal(checkCaptureFile('/dev/null'), null);
});

test('every frame carries the byte offset of its record, in pcap and in pcapng', async (t) => {
  const records = [
    { seconds: T, fraction: 0, data: frame(40, 1) },
    { seconds: T, fraction: 1, data: frame(7, 2) },
    { seconds: T, fraction: 2, data: frame(60, 3) },
  ];
  const pcapFile = writeCapture(pcap('be', {}, records));
  const pcapOffsets = [24, 24 + 16 + 40, 24 + 16 + 40 + 16 + 7];
  const parts = [
    shb('le'),
    idb('le', { linkType: LinkType.ETHERNET }),
    epb('le', { iface: 0, ticks: 1n, data: frame(41, 4) }),
    block('le', NRB, Buffer.alloc(4)),
    spb('le', 9, frame(9, 5)),
    opb('le', { iface: 0, ticks: 2n, data: frame(3, 6) }),
  ];
  const pcapngFile = writeCapture(concat(...parts));
  const start = (i: number) => parts.slice(0, i).reduce((n, b) => n + b.length, 0);
  const pcapngOffsets = [start(2), start(4), start(5)];
  for (const [path, expected] of [[pcapFile, pcapOffsets], [pcapngFile, pcapngOffsets]] as const) {
    for (const reader of readers) {
      await t.test(`${reader.name}: ${path}`, async () => {
        const offsets: (number | undefined)[] = [];
        await reader.read(path, (_buf, _offset, _length, _tsUs, _linkType, _originalLength, recordOffset) => offsets.push(recordOffset));
        assert.deepEqual(offsets, expected);
      });
    }
  }
});

test('a capture error names the frame record it stops at', async () => {
  const ok = { seconds: T, fraction: 0, data: frame(20, 1) };
  const cut = pcap('le', {}, [ok, ok, ok]).subarray(0, 24 + 2 * 36 + 10);
  assert.throws(() => readCaptureFileSync(writeCapture(cut), () => {}), /byte offset 96: file ends inside the frame record 3: 10 of 16 bytes/);
  const huge = pcap('le', {}, [ok, { ...ok, caplen: 0x7fffffff }]);
  assert.throws(() => readCaptureFileSync(writeCapture(huge), () => {}), /byte offset 60: frame record 2 claims 2147483647 captured bytes/);
  const ng = concat(shb('le'), idb('le', { linkType: 1 }), epb('le', { iface: 0, ticks: 1n, data: frame(8, 1) }), epb('le', { iface: 3, ticks: 1n, data: frame(8, 1) }));
  assert.throws(() => readCaptureFileSync(writeCapture(ng), () => {}), /packet block \(frame 2\) refers to interface 3/);
});

test('a record longer than the rest of the file is truncated at once, without growing the buffer to its length', async () => {
  const claimed = 200 * 1024 * 1024;
  const file = concat(shb('le'), idb('le', { linkType: 1 }), epb('le', { iface: 0, ticks: 1n, data: frame(20, 1) }), u32('le', EPB), u32('le', claimed), Buffer.alloc(40));
  const path = writeCapture(file);
  const blockAt = file.length - 48;
  for (const reader of readers) {
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const outcome = await run(async (p, onFrame) => reader.read(p, (...args) => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      onFrame(...args);
    }), path);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    assertCaptureError(outcome.error, 'PW_ERR_CAPTURE_TRUNCATED', blockAt);
    assert.match(String((outcome.error as Error).message), new RegExp(`48 of ${claimed} bytes present`));
    assert.equal(outcome.frames.length, 1);
    assert.ok(peak - before < 64 * 1024 * 1024, `${reader.name}: ${((peak - before) / 2 ** 20).toFixed(0)} MiB of buffers`);
  }
});

test('reads through one reusable buffer of the chunk size, not the whole file', async () => {
  const records = Array.from({ length: 200 }, (_, i) => ({ seconds: T, fraction: i, data: frame(40, i) }));
  const path = writeCapture(pcap('le', {}, records));
  const buffers = new Set<Buffer>();
  const summary = await readCaptureFile(path, (buf) => buffers.add(buf), { chunkSize: 64 });
  assert.equal(summary.frames, 200);
  assert.equal(buffers.size, 1);
  assert.equal([...buffers][0].length, 64);
});

test('a record bigger than the chunk grows the buffer once, to whole chunks', async () => {
  const path = writeCapture(pcap('le', {}, [{ seconds: T, fraction: 0, data: big }, { seconds: T, fraction: 1, data: a }]));
  const lengths: number[] = [];
  readCaptureFileSync(path, (buf) => lengths.push(buf.length), { chunkSize: 64 });
  assert.deepEqual(lengths, [1024, 1024]); // 16 + 1000 bytes rounded up to 16 chunks of 64
});

test('onProgress reports about every 4 MiB and once at the end, with the file size', async () => {
  const path = join(dir, 'progress.pcap');
  const writer = new PcapWriter(path, LinkType.ETHERNET);
  const payload = frame(1000, 0);
  for (let i = 0; i < 10000; i++) writer.write(T * 1e6 + i, payload); // ~10 MB
  writer.close();
  const size = statSync(path).size;
  const calls: [number, number][] = [];
  const summary = await readCaptureFile(path, () => {}, {
    chunkSize: 1024 * 1024,
    onProgress: (bytesRead, fileSize) => calls.push([bytesRead, fileSize]),
  });
  assert.equal(summary.frames, 10000);
  const MiB = 1024 * 1024;
  const reported = calls.map(([bytesRead]) => bytesRead);
  assert.equal(reported.length, 3);
  // Each report comes with the read (at most one 1 MiB chunk) that crosses the next multiple of 4 MiB.
  for (const [i, bytesRead] of reported.slice(0, -1).entries()) {
    const step = (i + 1) * 4 * MiB;
    assert.ok(bytesRead >= step && bytesRead < step + MiB, `report ${i} at ${bytesRead}`);
  }
  assert.equal(reported[2], size);
  assert.ok(calls.every(([, fileSize]) => fileSize === size));
});

test('an exception from the frame handler stops the read and propagates', async (t) => {
  const path = writeCapture(twoRecords);
  const boom = new Error('handler failed');
  for (const reader of readers) {
    await t.test(reader.name, async () => {
      let calls = 0;
      await assert.rejects(
        reader.read(path, () => {
          calls++;
          throw boom;
        }),
        boom,
      );
      assert.equal(calls, 1);
    });
  }
});

test('chunkSize must be a positive integer no larger than 256 MiB', async () => {
  const path = writeCapture(twoRecords);
  for (const chunkSize of [0, -1, 1.5, 512 * 1024 * 1024]) {
    await assert.rejects(readCaptureFile(path, () => {}, { chunkSize }), RangeError);
    assert.throws(() => readCaptureFileSync(path, () => {}, { chunkSize }), RangeError);
  }
});

test('real capture: scan_syn_small_29ports.pcap has 29 Ethernet SYN frames', async (t) => {
  const path = '/work/shared/pcaps/scan_syn_small_29ports.pcap';
  for (const reader of readers) {
    await t.test(reader.name, async () => {
      const outcome = await run(reader.read, path);
      assert.equal(outcome.error, undefined);
      assert.deepEqual(outcome.summary, { format: 'pcap', frames: 29, bytes: 2228 });
      assert.ok(outcome.frames.every((fr) => fr.linkType === LinkType.ETHERNET && fr.data.length === 120));
      // First and last timestamps as tcpdump -tt prints them.
      assert.equal(outcome.frames[0].tsUs, 1156430125417872);
      assert.equal(outcome.frames[28].tsUs, 1156430128237462);
    });
  }
});
