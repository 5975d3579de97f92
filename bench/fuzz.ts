/**
 * Capture fuzzing: seeded mutations of the corpus captures, fed to the analyze path, which must never
 * throw (a bad capture is a CaptureError, a bad frame a counted decoder event).
 *
 * Used twice: test/fuzz.test.ts runs a bounded number of mutations in `npm test`, and
 * `npm run bench -- fuzz` runs FUZZ_BENCH_FRAMES mutated frames and reports the rate. Everything is
 * deterministic for a seed: the failing case of a run can be rebuilt from (seed, iteration).
 *
 * Seeds are not the corpus files themselves: each iteration takes a window of a corpus capture's frames
 * and writes it anew as classic pcap (either byte order, µs or ns) or pcapng (either byte order, EPB,
 * SPB and OPB, several interfaces, odd timestamp resolutions and offsets, blocks of no interest), so
 * the writer knows where every field lies and the mutations can aim at them: truncations, bit flips,
 * length fields, timestamps, link types, pcapng block lengths and options, and the packet headers.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCaptureFileSync } from '../src/capture/capture-file.js';
import { defaultConfig } from '../src/config/load.js';
import { CaptureError, type ErrorCodeName } from '../src/errors.js';
import { analyzeFiles, Pipeline } from '../src/detect/pipeline.js';

/** xorshift32 with a splitmix-style seeding: small, fast, and the same on every machine. */
export class Rng {
  #s: number;

  constructor(seed: number) {
    let s = (seed ^ 0x9e3779b9) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b) >>> 0;
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
    this.#s = (s ^ (s >>> 16)) >>> 0 || 1;
  }

  u32(): number {
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s >>> 0;
    return this.#s;
  }

  /** 0 … n − 1. */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** One frame of a corpus capture, copied out of the reader's buffer. */
export interface SeedFrame {
  tsUs: number;
  linkType: number;
  data: Buffer;
}

export interface Corpus {
  files: { name: string; frames: SeedFrame[] }[];
  frames: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));
/** The test runs this file from bench/, the bench from dist/bench/: the fixtures are one level up or two. */
function fixturesDir(): string {
  const fromSource = join(here, '..', 'test', 'fixtures');
  const fromDist = join(here, '..', '..', 'test', 'fixtures');
  for (const dir of [fromSource, fromDist]) {
    try {
      readdirSync(dir);
      return dir;
    } catch {
      // try the next
    }
  }
  throw new Error(`test/fixtures not found from ${here}`);
}

/** Every pcap and pcapng of test/fixtures (sorted, so a seed means the same everywhere), at most `maxFrames` frames of each. */
export function loadCorpus(maxFrames = 4000): Corpus {
  const root = fixturesDir();
  const paths: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.pcap(ng)?$/.test(entry.name)) paths.push(path);
    }
  };
  walk(root);
  paths.sort();
  const files: Corpus['files'] = [];
  let total = 0;
  for (const path of paths) {
    const frames: SeedFrame[] = [];
    try {
      readCaptureFileSync(path, (buf, offset, length, tsUs, linkType) => {
        if (frames.length < maxFrames) frames.push({ tsUs, linkType, data: Buffer.from(buf.subarray(offset, offset + length)) });
      });
    } catch (err) {
      if (!(err instanceof CaptureError)) throw err;
    }
    if (frames.length === 0) continue;
    files.push({ name: path.slice(root.length + 1), frames });
    total += frames.length;
  }
  return { files, frames: total };
}

/** What a field of a written capture is, so a mutation can pick the fields it is about. */
type FieldKind =
  | 'caplen'
  | 'origlen'
  | 'ts-seconds'
  | 'ts-fraction'
  | 'ts-high'
  | 'ts-low'
  | 'linktype'
  | 'snaplen'
  | 'version'
  | 'block-length'
  | 'block-trailer'
  | 'block-type'
  | 'interface-id'
  | 'tsresol'
  | 'tsoffset'
  | 'byte-order';

interface Field {
  kind: FieldKind;
  offset: number;
  /** Bytes: 1, 2, 4 or 8. */
  size: number;
  le: boolean;
}

interface Written {
  bytes: Buffer;
  /** Fields by kind, so a mutation picks one without scanning them all. */
  fields: Map<FieldKind, Field[]>;
  /** Where each frame's bytes start and end, for packet-header mutations. */
  frames: { start: number; end: number }[];
  format: string;
}

/** Appends bytes and remembers field positions; grows by doubling. */
class Builder {
  buf = Buffer.alloc(1 << 16);
  len = 0;
  readonly fields = new Map<FieldKind, Field[]>();
  readonly frames: { start: number; end: number }[] = [];
  le = true;

  #room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const grown = Buffer.alloc(size);
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }

  #field(kind: FieldKind, size: number): void {
    const f: Field = { kind, offset: this.len, size, le: this.le };
    const list = this.fields.get(kind);
    if (list === undefined) this.fields.set(kind, [f]);
    else list.push(f);
  }

  u8(v: number, kind?: FieldKind): void {
    this.#room(1);
    if (kind !== undefined) this.#field(kind, 1);
    this.buf[this.len++] = v & 0xff;
  }

  u16(v: number, kind?: FieldKind): void {
    this.#room(2);
    if (kind !== undefined) this.#field(kind, 2);
    if (this.le) this.buf.writeUInt16LE(v & 0xffff, this.len);
    else this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }

  u32(v: number, kind?: FieldKind): void {
    this.#room(4);
    if (kind !== undefined) this.#field(kind, 4);
    if (this.le) this.buf.writeUInt32LE(v >>> 0, this.len);
    else this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  i64(v: bigint, kind?: FieldKind): void {
    this.#room(8);
    if (kind !== undefined) this.#field(kind, 8);
    if (this.le) this.buf.writeBigInt64LE(v, this.len);
    else this.buf.writeBigInt64BE(v, this.len);
    this.len += 8;
  }

  bytes(data: Buffer, frame: boolean): void {
    this.#room(data.length);
    if (frame) this.frames.push({ start: this.len, end: this.len + data.length });
    data.copy(this.buf, this.len);
    this.len += data.length;
  }

  pad4(): void {
    while (this.len % 4 !== 0) this.u8(0);
  }

  /** Overwrites a u32 written earlier (a block length known only at the block's end). */
  patch32(at: number, v: number): void {
    if (this.le) this.buf.writeUInt32LE(v >>> 0, at);
    else this.buf.writeUInt32BE(v >>> 0, at);
  }

  done(format: string): Written {
    return { bytes: Buffer.from(this.buf.subarray(0, this.len)), fields: this.fields, frames: this.frames, format };
  }
}

function writePcap(frames: readonly SeedFrame[], rng: Rng): Written {
  const b = new Builder();
  b.le = rng.chance(0.7);
  const nano = rng.chance(0.3);
  b.u32(nano ? 0xa1b23c4d : 0xa1b2c3d4);
  b.u16(2, 'version');
  b.u16(4, 'version');
  b.u32(0);
  b.u32(0);
  b.u32(rng.pick([262144, 65535, 96, 0]), 'snaplen');
  b.u32(frames[0].linkType, 'linktype');
  for (const f of frames) {
    const seconds = Math.floor(f.tsUs / 1e6);
    const us = f.tsUs - seconds * 1e6;
    b.u32(seconds, 'ts-seconds');
    b.u32(nano ? us * 1000 : us, 'ts-fraction');
    b.u32(f.data.length, 'caplen');
    b.u32(f.data.length, 'origlen');
    b.bytes(f.data, true);
  }
  return b.done(`pcap ${b.le ? 'le' : 'be'} ${nano ? 'ns' : 'us'}`);
}

/** Timestamp resolutions to write with: the default, ns, ms, s, 2^-20, 2^-32 (finer ones overflow 64 bits for a date of today; the tsresol mutation reaches them). */
const TSRESOLS = [6, 9, 3, 0, 0x80 | 20, 0x80 | 32];

function ticksOf(tsUs: number, tsresol: number, offsetSeconds: bigint): bigint {
  const us = BigInt(Math.floor(tsUs)) - offsetSeconds * 1000000n;
  const per = tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
  const ticks = (us * per) / 1000000n;
  return ticks < 0n ? 0n : ticks & 0xffffffffffffffffn;
}

function writePcapng(frames: readonly SeedFrame[], rng: Rng): Written {
  const b = new Builder();
  b.le = rng.chance(0.7);
  const linkTypes = [...new Set(frames.map((f) => f.linkType))];
  const section = (): { tsresol: number; offset: bigint }[] => {
    const start = b.len;
    b.u32(0x0a0d0d0a, 'block-type');
    b.u32(0, 'block-length');
    b.u32(0x1a2b3c4d, 'byte-order');
    b.u16(1, 'version');
    b.u16(0, 'version');
    b.i64(-1n);
    b.u32(b.len - start + 4, 'block-trailer');
    b.patch32(start + 4, b.len - start);
    const ifaces: { tsresol: number; offset: bigint }[] = [];
    // One interface per link type, sometimes a spare one of another type.
    const types = rng.chance(0.2) ? [...linkTypes, rng.pick([1, 101, 113, 0])] : linkTypes;
    for (const lt of types) {
      const tsresol = rng.chance(0.5) ? 6 : rng.pick(TSRESOLS);
      const offset = rng.chance(0.15) ? BigInt(rng.int(1000)) : 0n;
      const s = b.len;
      b.u32(1, 'block-type');
      b.u32(0, 'block-length');
      b.u16(lt, 'linktype');
      b.u16(0);
      b.u32(rng.pick([0, 262144, 65535]), 'snaplen');
      if (tsresol !== 6) {
        b.u16(9);
        b.u16(1);
        b.u8(tsresol, 'tsresol');
        b.pad4();
      }
      if (offset !== 0n) {
        b.u16(14);
        b.u16(8);
        b.i64(offset, 'tsoffset');
      }
      if (rng.chance(0.3)) {
        b.u16(2); // if_name
        b.u16(4);
        b.bytes(Buffer.from('eth0'), false);
      }
      b.u16(0);
      b.u16(0);
      b.u32(b.len - s + 4, 'block-trailer');
      b.patch32(s + 4, b.len - s);
      ifaces.push({ tsresol, offset });
    }
    return ifaces;
  };
  let ifaces = section();
  const kinds = rng.chance(0.5) ? ['epb'] : ['epb', 'epb', 'epb', 'spb', 'opb', 'other'];
  for (const f of frames) {
    const iface = linkTypes.indexOf(f.linkType);
    const kind = rng.pick(kinds);
    if (rng.chance(0.005)) ifaces = section(); // a new section restarts the interfaces
    const s = b.len;
    if (kind === 'other') {
      // A Name Resolution Block: of no use to the reader, skipped by length.
      b.u32(4, 'block-type');
      b.u32(0, 'block-length');
      b.u16(0);
      b.u16(0);
      b.u32(b.len - s + 4, 'block-trailer');
      b.patch32(s + 4, b.len - s);
    }
    const ps = b.len;
    if (kind === 'spb' && iface === 0) {
      b.u32(3, 'block-type');
      b.u32(0, 'block-length');
      b.u32(f.data.length, 'origlen');
    } else {
      const ticks = ticksOf(f.tsUs, ifaces[iface].tsresol, ifaces[iface].offset);
      const opb = kind === 'opb';
      b.u32(opb ? 2 : 6, 'block-type');
      b.u32(0, 'block-length');
      if (opb) {
        b.u16(iface, 'interface-id');
        b.u16(0);
      } else {
        b.u32(iface, 'interface-id');
      }
      b.u32(Number(ticks >> 32n), 'ts-high');
      b.u32(Number(ticks & 0xffffffffn), 'ts-low');
      b.u32(f.data.length, 'caplen');
      b.u32(f.data.length, 'origlen');
    }
    b.bytes(f.data, true);
    b.pad4();
    b.u32(b.len - ps + 4, 'block-trailer');
    b.patch32(ps + 4, b.len - ps);
  }
  return b.done(`pcapng ${b.le ? 'le' : 'be'}`);
}

/** Values that find edge cases in length and time fields more often than uniform ones. */
const INTERESTING_32 = [0, 1, 3, 4, 11, 12, 16, 28, 31, 32, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x3ffff, 0x40000, 0x40001, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000000];
/** Link types the decoder knows, and some it does not. */
const LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105, 127, 0xffff, 0x1234];

export interface Mutation {
  bytes: Buffer;
  /** What was done, for the failure message. */
  steps: string[];
}

function readField(buf: Buffer, f: Field): number {
  if (f.size === 1) return buf[f.offset];
  if (f.size === 2) return f.le ? buf.readUInt16LE(f.offset) : buf.readUInt16BE(f.offset);
  if (f.size === 4) return f.le ? buf.readUInt32LE(f.offset) : buf.readUInt32BE(f.offset);
  return Number(f.le ? buf.readBigUInt64LE(f.offset) & 0xffffffffn : buf.readBigUInt64BE(f.offset) & 0xffffffffn);
}

function writeField(buf: Buffer, f: Field, v: number): void {
  if (f.offset + f.size > buf.length) return;
  if (f.size === 1) buf[f.offset] = v & 0xff;
  else if (f.size === 2) {
    if (f.le) buf.writeUInt16LE(v & 0xffff, f.offset);
    else buf.writeUInt16BE(v & 0xffff, f.offset);
  } else if (f.size === 4) {
    if (f.le) buf.writeUInt32LE(v >>> 0, f.offset);
    else buf.writeUInt32BE(v >>> 0, f.offset);
  } else {
    const big = BigInt.asIntN(64, BigInt(Math.trunc(v)));
    if (f.le) buf.writeBigInt64LE(big, f.offset);
    else buf.writeBigInt64BE(big, f.offset);
  }
}

function fieldValue(rng: Rng, current: number): number {
  switch (rng.int(4)) {
    case 0:
      return rng.pick(INTERESTING_32);
    case 1:
      return current + rng.pick([-4, -1, 1, 4, 8, -8]);
    case 2:
      return current ^ (1 << rng.int(32));
    default:
      return rng.u32();
  }
}

/**
 * One mutated capture: a window of `frames` written in a random format, then 1–4 mutations.
 * `window` bounds the number of frames taken.
 */
export function mutate(corpus: Corpus, rng: Rng, window: number): Mutation {
  const file = rng.pick(corpus.files);
  const count = 1 + rng.int(Math.min(window, file.frames.length));
  const start = rng.int(file.frames.length - count + 1);
  const frames = file.frames.slice(start, start + count);
  const w = rng.chance(0.5) ? writePcap(frames, rng) : writePcapng(frames, rng);
  const steps = [`${file.name} frames ${start + 1}-${start + count} as ${w.format}`];
  let bytes = w.bytes;
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const pickField = (kinds: readonly FieldKind[]): Field | undefined => {
      // A kind first, then a field of it: a capture's rare header fields are as likely as its many record fields.
      const present = kinds.filter((k) => w.fields.has(k));
      return present.length === 0 ? undefined : rng.pick(w.fields.get(rng.pick(present)) ?? []);
    };
    const setField = (kinds: readonly FieldKind[], value?: (f: Field) => number): void => {
      const f = pickField(kinds);
      if (f === undefined || f.offset + f.size > bytes.length) return;
      const v = value !== undefined ? value(f) : fieldValue(rng, readField(bytes, f));
      writeField(bytes, f, v);
      steps.push(`${f.kind}@${f.offset} := 0x${(v >>> 0).toString(16)}`);
    };
    // Ten kinds; packet-header bytes get three shares, since most other kinds end the read early.
    switch (rng.int(12)) {
      case 0: {
        const at = rng.int(bytes.length + 1);
        bytes = bytes.subarray(0, at);
        steps.push(`truncate at ${at}`);
        break;
      }
      case 1: {
        const flips = 1 + rng.int(8);
        for (let i = 0; i < flips && bytes.length > 0; i++) {
          const at = rng.int(bytes.length);
          bytes[at] ^= 1 << rng.int(8);
        }
        steps.push(`${flips} bit flips`);
        break;
      }
      case 2:
        setField(['caplen', 'origlen']);
        break;
      case 3:
        if (rng.chance(0.3)) {
          // The crash of issue 11: a pcapng timestamp whose high word is 0x7fffffff.
          setField(['ts-high', 'ts-seconds'], () => rng.pick([0x7fffffff, 0xffffffff, 0x80000000]));
        } else {
          setField(['ts-seconds', 'ts-fraction', 'ts-high', 'ts-low', 'tsoffset']);
        }
        break;
      case 4:
        setField(['linktype'], () => rng.pick(LINK_TYPES));
        break;
      case 5:
        setField(['block-length', 'block-trailer']);
        break;
      case 6:
        setField(['tsresol', 'interface-id', 'snaplen', 'version', 'block-type', 'byte-order']);
        break;
      case 7:
      case 10:
      case 11: {
        // Packet headers: bytes of frames' first 64 (link, IP, transport headers) set to edge values.
        if (w.frames.length === 0) break;
        const n = 1 + rng.int(16);
        for (let i = 0; i < n; i++) {
          const frame = rng.pick(w.frames);
          const at = frame.start + rng.int(Math.min(64, frame.end - frame.start));
          if (at < bytes.length) bytes[at] = rng.pick([0, 1, 2, 5, 6, 0x11, 0x3a, 0x40, 0x45, 0x4f, 0x60, 0x7f, 0x80, 0xfe, 0xff, rng.int(256)]);
        }
        steps.push(`${n} frame header bytes`);
        break;
      }
      case 8: {
        // Splice: a range copied over another place (duplicated headers, shifted records).
        if (bytes.length < 8) break;
        const from = rng.int(bytes.length);
        const to = rng.int(bytes.length);
        const n = 1 + rng.int(Math.min(64, bytes.length - Math.max(from, to)));
        bytes.copy(bytes, to, from, from + n);
        steps.push(`splice ${n} bytes ${from} -> ${to}`);
        break;
      }
      case 9: {
        // Bytes cut out of the middle: every later record is misaligned.
        if (bytes.length < 2) break;
        const at = rng.int(bytes.length);
        const n = 1 + rng.int(Math.min(32, bytes.length - at));
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + n)]);
        steps.push(`delete ${n} bytes at ${at}`);
        break;
      }
    }
  }
  return { bytes, steps };
}

/** The outcome of analysing a batch of mutated captures in-process. */
export interface FuzzOutcome {
  frames: number;
  incidents: number;
  /** Per file, the CaptureError code that stopped its read, or null when it was read to the end. */
  errors: (ErrorCodeName | null)[];
}

/**
 * The analyze path without the CLI around it: read the files in order as one capture (as
 * `analyze a b c` does), decode, detect, flush, and format every incident record (first_seen and
 * last_seen are dates) and the decoder summary. A batch shares one pipeline, as analyze does: a
 * pipeline's engine costs tens of milliseconds to build, more than a small capture takes to analyse.
 * Throws only what analyze itself would let escape.
 */
export function analyzeBatch(paths: readonly string[]): FuzzOutcome {
  const pipeline = new Pipeline(defaultConfig('normal').detection);
  const reports = analyzeFiles(paths, pipeline);
  const records = pipeline.engine.incidents().map((i) => i.toRecord());
  for (const r of records) JSON.stringify(r);
  pipeline.decodeStats.firstSeen();
  return { frames: pipeline.decodeStats.frames, incidents: records.length, errors: reports.map((r) => r.error?.code ?? null) };
}

export const FUZZ_BENCH_FRAMES = 10_000_000;
const BENCH_SEED = 0x5eed;
/**
 * Captures per analyze run (one pipeline: building its engine costs more than analysing a small
 * capture), and frames per capture at most (half of them on average, less after truncations).
 */
const BENCH_BATCH = 32;
const BENCH_WINDOW = 20_000;

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `npm run bench -- fuzz`: FUZZ_BENCH_FRAMES mutated frames through analyze; any exception fails the run. */
export function fuzzSuite(dir: string): void {
  const frameGoal = Number(process.env.PW_FUZZ_FRAMES ?? FUZZ_BENCH_FRAMES);
  const seed = Number(process.env.PW_FUZZ_SEED ?? BENCH_SEED);
  process.stdout.write(`== fuzz: mutated corpus captures through analyze until ${fmt(frameGoal)} frames, seed ${seed}\n`);
  const corpus = loadCorpus(BENCH_WINDOW);
  process.stdout.write(`corpus: ${corpus.files.length} captures, ${fmt(corpus.frames)} seed frames\n`);
  const rng = new Rng(seed);
  const paths = Array.from({ length: BENCH_BATCH }, (_, i) => join(dir, `fuzz-${i}.capture`));
  const errors = new Map<string, number>();
  let frames = 0;
  let captures = 0;
  let batches = 0;
  let incidents = 0;
  let clean = 0;
  let analyzeCpuUs = 0;
  const cpu0 = process.cpuUsage();
  const started = process.hrtime.bigint();
  try {
    while (frames < frameGoal) {
      const steps: string[][] = [];
      for (const path of paths) {
        const m = mutate(corpus, rng, BENCH_WINDOW);
        writeFileSync(path, m.bytes);
        steps.push(m.steps);
      }
      let outcome: FuzzOutcome;
      const analyzeCpu0 = process.cpuUsage();
      try {
        outcome = analyzeBatch(paths);
      } catch (err) {
        const kept = join(process.cwd(), `fuzz-failure-${seed}-${batches}`);
        mkdirSync(kept, { recursive: true });
        paths.forEach((p, i) => copyFileSync(p, join(kept, `${i}.capture`)));
        const how = steps.map((s, i) => `${i}: ${s.join('; ')}`).join('\n');
        throw new Error(`analyze threw on a batch of mutated captures (seed ${seed}, batch ${batches}), kept in ${kept}:\n${how}`, { cause: err });
      }
      const used = process.cpuUsage(analyzeCpu0);
      analyzeCpuUs += used.user + used.system;
      batches++;
      captures += paths.length;
      frames += outcome.frames;
      incidents += outcome.incidents;
      for (const e of outcome.errors) {
        if (e === null) clean++;
        else errors.set(e, (errors.get(e) ?? 0) + 1);
      }
    }
  } finally {
    for (const p of paths) rmSync(p, { force: true });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(`  ${fmt(captures)} mutated captures in ${fmt(batches)} analyze runs, ${fmt(frames)} frames, 0 exceptions\n`);
  process.stdout.write(
    `  ${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} CPU-s (user+sys): ${fmt(frames / seconds)} frames/s wall, ${fmt(frames / cpuSeconds)} frames per CPU-second with mutating and writing the captures\n`,
  );
  process.stdout.write(
    `  analyze alone: ${(analyzeCpuUs / 1e6).toFixed(1)} CPU-s, ${fmt(frames / (analyzeCpuUs / 1e6))} frames per CPU-second (a pipeline built per ${BENCH_BATCH} captures)\n`,
  );
  const errorList = [...errors.entries()].sort().map(([code, n]) => `${code} ${fmt(n)}`).join(', ');
  process.stdout.write(`  read to the end: ${fmt(clean)}; stopped by a capture error: ${errorList || 'none'}; incidents reported: ${fmt(incidents)}\n`);
}
