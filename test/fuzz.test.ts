/**
 * No capture makes `portwarden analyze` throw (issue 11, item 8): seeded mutations of the corpus
 * captures (bench/fuzz.ts: truncations, bit flips, length fields, timestamps, link types, pcapng
 * block lengths and options, packet headers) go through the analyze command in-process, and a few
 * through the CLI as a child process; every run must end with exit status 0, 1 or 2 and no exception.
 *
 * Deterministic: a fixed seed and a fixed number of mutations (about a minute on the 2-core CI
 * machine). PW_FUZZ_SEED=n explores another seed; a failure names the seed, batch and mutations and
 * keeps the captures.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCorpus, mutate, Rng, type Corpus } from '../bench/fuzz.js';
import { readCaptureFileSync } from '../src/capture/capture-file.js';
import { main } from '../src/cli/main.js';
import { isoTime } from '../src/detect/incident.js';
import { CaptureError } from '../src/errors.js';

const SEED = Number(process.env.PW_FUZZ_SEED ?? 20261206);
/**
 * Analyze runs in-process, each over 1 to BATCH mutated captures read as one capture (as
 * `analyze a b c`): batches spare building a pipeline per capture, single captures reach statuses 0 and 1.
 */
const RUNS = 300;
const BATCH = 16;
/** Frames per mutated capture at most. */
const WINDOW = 400;
/** Mutated captures also read with a small chunk size, which must give the same frames and error. */
const CHUNK_CHECKS = 600;
/** Mutated captures through the CLI as a child process. */
const CHILD_RUNS = 4;

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pw-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let corpusCache: Corpus | null = null;
const corpus = (): Corpus => (corpusCache ??= loadCorpus());

async function analyze(...argv: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(['analyze', ...argv], { out: (l) => out.push(l), err: (l) => err.push(l), errIsTerminal: false });
  return { status, out, err };
}

/** Keeps failing captures where a developer can rerun them (the temp dir is removed afterwards). */
function keep(paths: readonly string[], label: string): string {
  const kept = join(tmpdir(), `pw-fuzz-failure-${SEED}-${label}`);
  mkdirSync(kept, { recursive: true });
  paths.forEach((p, i) => copyFileSync(p, join(kept, `${i}.capture`)));
  return kept;
}

/** A pcapng of three Ethernet SYNs (µs resolution) whose second packet's timestamp has `high` as its high word. */
function pcapngWithTimestampHigh(high: number): { bytes: Buffer; secondAt: number } {
  const block = (type: number, body: Buffer): Buffer => {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const b = Buffer.alloc(12 + padded.length);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(b.length, 4);
    padded.copy(b, 8);
    b.writeUInt32LE(b.length, b.length - 4);
    return b;
  };
  const shbBody = Buffer.alloc(16);
  shbBody.writeUInt32LE(0x1a2b3c4d, 0);
  shbBody.writeUInt16LE(1, 4);
  shbBody.writeBigInt64LE(-1n, 8);
  const idbBody = Buffer.alloc(8);
  idbBody.writeUInt16LE(1, 0); // Ethernet
  const syn = (i: number): Buffer => {
    const f = Buffer.alloc(54);
    f.writeUInt16BE(0x0800, 12);
    f[14] = 0x45;
    f.writeUInt16BE(40, 16);
    f[22] = 64;
    f[23] = 6;
    f.set([192, 0, 2, 1], 26);
    f.set([198, 51, 100, 1], 30);
    f.writeUInt16BE(40000, 34);
    f.writeUInt16BE(20 + i, 36);
    f[46] = 0x50;
    f[47] = 0x02;
    return f;
  };
  const tsUs = 1_700_000_000_000_000;
  const epb = (i: number, hi: number): Buffer => {
    const body = Buffer.alloc(20 + 54);
    body.writeUInt32LE(0, 0);
    body.writeUInt32LE(hi, 4);
    body.writeUInt32LE((tsUs + i) % 2 ** 32, 8);
    body.writeUInt32LE(54, 12);
    body.writeUInt32LE(54, 16);
    syn(i).copy(body, 20);
    return block(6, body);
  };
  const head = Buffer.concat([block(0x0a0d0d0a, shbBody), block(1, idbBody), epb(0, Math.floor(tsUs / 2 ** 32))]);
  return { bytes: Buffer.concat([head, epb(1, high), epb(2, Math.floor(tsUs / 2 ** 32))]), secondAt: head.length };
}

test('a pcapng timestamp with high word 0x7fffffff is frame.bad_timestamp at its frame and offset, not a RangeError', async () => {
  for (const high of [0x7fffffff, 0xffffffff, 0x00200000]) {
    const { bytes, secondAt } = pcapngWithTimestampHigh(high);
    const path = join(dir, `ts-${high.toString(16)}.pcapng`);
    writeFileSync(path, bytes);
    const r = await analyze(path);
    assert.equal(r.status, 0, r.err.join('\n'));
    const summary = r.out.join('\n');
    assert.match(summary, /decoder: 2 decoded, 1 malformed \(frame\.bad_timestamp 1, first at frame 2, byte offset (\d+)\)/);
    assert.equal(Number(/byte offset (\d+)\)/.exec(summary)?.[1]), secondAt);
  }
});

test('isoTime never throws: times beyond the range of dates are clamped, NaN is the epoch', () => {
  assert.equal(isoTime(1_700_000_000_123.9), '2023-11-14T22:13:20.123Z');
  assert.equal(isoTime(9.2e18), '+275760-09-13T00:00:00.000Z');
  assert.equal(isoTime(Number.POSITIVE_INFINITY), '+275760-09-13T00:00:00.000Z');
  assert.equal(isoTime(-9.2e18), '-271821-04-20T00:00:00.000Z');
  assert.equal(isoTime(Number.NaN), '1970-01-01T00:00:00.000Z');
});

test(`${RUNS} analyze runs over 1 to ${BATCH} mutated corpus captures each: exit status 0, 1 or 2, never an exception`, async () => {
  const rng = new Rng(SEED);
  const statuses = new Map<number, number>();
  let malformedSeen = 0;
  let captures = 0;
  for (let run = 0; run < RUNS; run++) {
    const paths = Array.from({ length: 1 + rng.int(BATCH) }, (_, i) => join(dir, `m-${i}.capture`));
    captures += paths.length;
    const steps = paths.map((p) => {
      const m = mutate(corpus(), rng, WINDOW);
      writeFileSync(p, m.bytes);
      return m.steps.join('; ');
    });
    const where = (): string => `seed ${SEED}, run ${run}; captures kept in ${keep(paths, `run-${run}`)}:\n${steps.map((s, i) => `  ${i}: ${s}`).join('\n')}`;
    let r: Awaited<ReturnType<typeof analyze>>;
    try {
      r = await analyze('--json', ...paths);
    } catch (err) {
      assert.fail(`analyze threw ${err instanceof Error ? err.stack : String(err)}\n${where()}`);
    }
    if (![0, 1, 2].includes(r.status)) assert.fail(`exit status ${r.status}\n${where()}`);
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    for (const line of r.out) JSON.parse(line);
    if (/decoder: .* [1-9][\d,]* malformed/.test(r.err.join('\n'))) malformedSeen++;
  }
  // The mutations reach the decoder and the detectors, not only the file parsers: runs end in every
  // status (a capture error, incidents, none), and most runs see malformed frames.
  assert.deepEqual([...statuses.keys()].sort(), [0, 1, 2], `statuses ${JSON.stringify([...statuses])} over ${captures} captures`);
  assert.ok(malformedSeen > RUNS / 2, `runs with malformed frames: ${malformedSeen}`);
});

test(`${CHUNK_CHECKS} mutated captures read in small chunks give the same frames and the same error as in one`, () => {
  const rng = new Rng(SEED ^ 0xc0ffee);
  const path = join(dir, 'chunks.capture');
  for (let i = 0; i < CHUNK_CHECKS; i++) {
    const m = mutate(corpus(), rng, 50);
    writeFileSync(path, m.bytes);
    const chunkSize = 1 + rng.int(97);
    const read = (size: number | undefined): string => {
      const frames: string[] = [];
      let end = 'end';
      try {
        readCaptureFileSync(path, (buf, offset, length, tsUs, linkType, originalLength, recordOffset) => {
          frames.push(`${buf.toString('hex', offset, offset + length)}/${tsUs}/${linkType}/${originalLength}/${recordOffset}`);
        }, { chunkSize: size });
      } catch (err) {
        if (!(err instanceof CaptureError)) assert.fail(`seed ${SEED}, capture ${i} (${m.steps.join('; ')}): ${String(err)}`);
        end = `${err.code}@${err.offset}`;
      }
      return `${frames.join('\n')}\n${end}`;
    };
    const whole = read(undefined);
    if (read(chunkSize) !== whole) {
      assert.fail(`chunk size ${chunkSize} reads differently: seed ${SEED}, capture ${i}; kept in ${keep([path], `chunks-${i}`)}: ${m.steps.join('; ')}`);
    }
  }
});

test(`${CHILD_RUNS} mutated captures through the CLI process (one from standard input): status 0, 1 or 2, no stack trace`, () => {
  const rng = new Rng(SEED ^ 0xbeef);
  for (let i = 0; i < CHILD_RUNS; i++) {
    const m = mutate(corpus(), rng, 2000);
    const path = join(dir, `child-${i}.capture`);
    writeFileSync(path, m.bytes);
    const stdin = i === CHILD_RUNS - 1;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/portwarden-cli.ts', 'analyze', stdin ? '-' : path], {
      cwd: root,
      encoding: 'utf8',
      input: stdin ? readFileSync(path) : undefined,
    });
    const what = (): string => `seed ${SEED}, child ${i} (${m.steps.join('; ')}); kept in ${keep([path], `child-${i}`)}\n${r.stderr}`;
    if (!(r.status === 0 || r.status === 1 || r.status === 2)) assert.fail(`status ${r.status} signal ${r.signal}: ${what()}`);
    if (/^\s+at /m.test(r.stderr)) assert.fail(`stack trace: ${what()}`);
    if (!/decoder: |portwarden: PW_ERR_/.test(r.stdout + r.stderr)) assert.fail(`no summary and no error: ${what()}`);
  }
});
