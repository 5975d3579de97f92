/**
 * What `portwarden analyze` reads and how it fails (issue 11, item 10), run as the real CLI in a child
 * process: a missing file or a directory is one error line and exit 2, never a "0 incidents" summary;
 * `-` reads a pcap or pcapng stream from standard input. And the decoder summary says where each
 * malformed-frame event first happened (item 8).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const dir = mkdtempSync(join(tmpdir(), 'pw-analyze-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI as a user runs it, from source (the same main() as bin/portwarden.js), in a process of its own. */
function cli(args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string[] } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/portwarden-cli.ts', 'analyze', ...args], { cwd: root, encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l !== '') };
}

test('a missing file is one error line and exit 2, with no summary', () => {
  const missing = join(dir, 'no-such.pcap');
  const r = cli([missing]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.deepEqual(r.stderr, [`portwarden: PW_ERR_CAPTURE_OPEN: ${missing}: cannot open the capture file: no such file`]);
});

test('a directory is one error line and exit 2; beside a good file nothing is analysed', () => {
  const d = join(dir, 'captures');
  mkdirSync(d);
  const r = cli([fixture('public/scan_syn_small_29ports.pcap'), d]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.deepEqual(r.stderr, [`portwarden: PW_ERR_CAPTURE_OPEN: ${d}: is a directory, not a capture file`]);
});

test('analyze - reads a pcap from standard input', () => {
  const r = cli(['-'], readFileSync(fixture('public/scan_syn_small_29ports.pcap')));
  assert.equal(r.status, 1, r.stderr.join('\n'));
  assert.match(r.stdout, /^1 incident \(profile normal\)\n\s+scan\s+syn\s+10\.100\.25\.14 -> 10\.100\.18\.12\s+29 ports/);
  assert.match(r.stdout, /read 1 file, 29 frames/);
});

test('analyze --json - reads a pcapng from standard input', () => {
  const r = cli(['--json', '-'], readFileSync(fixture('crafted/linktype_pcapng_multi.pcapng')));
  assert.equal(r.status, 1, r.stderr.join('\n'));
  const records = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; 'source.ip': string });
  assert.deepEqual(records.map((x) => `${x.kind} ${x['source.ip']}`), ['scan 203.0.113.66']);
  assert.ok(r.stderr.some((l) => /read 1 file, 60 frames/.test(l)), r.stderr.join('\n'));
});

test('a stream cut inside a record, and an empty one, are exit 2 naming standard input', () => {
  const whole = readFileSync(fixture('public/scan_syn_small_29ports.pcap'));
  const cut = cli(['-'], whole.subarray(0, 1000));
  assert.equal(cut.status, 2);
  assert.match(cut.stdout, /read 1 file, 12 frames/); // what came before is analysed
  assert.match(cut.stderr.at(-1) ?? '', /^portwarden: PW_ERR_CAPTURE_TRUNCATED: standard input: byte offset 936: file ends inside the frame record 13/);
  const empty = cli(['-'], Buffer.alloc(0));
  assert.equal(empty.status, 2);
  assert.equal(empty.stdout, '');
  assert.deepEqual(empty.stderr, ['portwarden: PW_ERR_CAPTURE_FORMAT: standard input: byte offset 0: empty file: not a pcap or pcapng capture']);
});

test('standard input can be named only once', () => {
  const r = cli(['-', '-'], Buffer.alloc(0));
  assert.equal(r.status, 2);
  assert.deepEqual(r.stderr, ['portwarden: PW_ERR_USAGE: standard input (-) can be read only once']);
});

/** A pcap (LE, µs, Ethernet) of the given frames, and each record's byte offset. */
function pcapOf(frames: Buffer[]): { bytes: Buffer; offsets: number[] } {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const parts: Buffer[] = [header];
  const offsets: number[] = [];
  let at = 24;
  frames.forEach((f, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
    offsets.push(at);
    at += 16 + f.length;
  });
  return { bytes: Buffer.concat(parts), offsets };
}

function ethernetIPv4(ipBytes: number): Buffer {
  const f = Buffer.alloc(14 + ipBytes);
  f.writeUInt16BE(0x0800, 12);
  if (ipBytes > 0) f[14] = 0x45;
  return f;
}

test('the summary names the first frame and byte offset of every malformed-frame event, per file', async () => {
  const good = Buffer.alloc(60);
  good.writeUInt16BE(0x0806, 12); // ARP: a notice (link.not_ip), not malformed
  const a = pcapOf([good, good, ethernetIPv4(10), ethernetIPv4(10), Buffer.alloc(6)]);
  const b = pcapOf([ethernetIPv4(20), Buffer.alloc(3), ethernetIPv4(10)]);
  const pathA = join(dir, 'a.pcap');
  const pathB = join(dir, 'b.pcap');
  writeFileSync(pathA, a.bytes);
  writeFileSync(pathB, b.bytes);
  const out: string[] = [];
  const status = await main(['analyze', pathA, pathB], { out: (l) => out.push(l), err: (l) => out.push(l), errIsTerminal: false });
  assert.equal(status, 0);
  const decoder = out.find((l) => l.startsWith('decoder:'));
  assert.equal(
    decoder,
    'decoder: 2 decoded, 6 malformed (' +
      `link.not_ip 2, first at ${pathA} frame 1, byte offset ${a.offsets[0]}; ` +
      `ethernet.truncated 2, first at ${pathA} frame 5, byte offset ${a.offsets[4]}; ` +
      `ipv4.truncated 3, first at ${pathA} frame 3, byte offset ${a.offsets[2]}; ` +
      // An IPv4 header whose total length (0) is smaller than itself: the first in b.pcap, so b names it.
      `ipv4.bad_total_length 1, first at ${pathB} frame 1, byte offset ${b.offsets[0]})`,
  );
});
