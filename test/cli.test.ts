/** `portwarden analyze` and `portwarden config check` as a user runs them: output, JSON records, exit status. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

async function run(...argv: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), errIsTerminal: false });
  return { status, out, err };
}

function withTempDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a benign capture exits 0 and says there is no incident', async () => {
  const r = await run('analyze', fixture('public/benign_http_espn_browse.pcap'));
  assert.equal(r.status, 0);
  assert.equal(r.out[0], '0 incidents (profile normal)');
  assert.match(r.out.join('\n'), /decoder: 956 decoded, 0 malformed/);
});

test('a scan exits 1 and shows kind, class, source, target, ports and confidence', async () => {
  const r = await run('analyze', fixture('public/scan_syn_small_29ports.pcap'));
  assert.equal(r.status, 1);
  assert.equal(r.out[0], '1 incident (profile normal)');
  assert.match(r.out[1], /scan\s+syn\s+10\.100\.25\.14 -> 10\.100\.18\.12\s+29 ports \(tcp\/21, tcp\/22/);
  assert.match(r.out[1], /confidence 0\.\d+/);
});

test('--json prints one record per line in the DESIGN.md format, summary on stderr', async () => {
  const r = await run('analyze', '--json', fixture('public/scan_nmap_9types_probingdataset.pcap'));
  assert.equal(r.status, 1);
  assert.equal(r.out.length, 9);
  for (const line of r.out) {
    const rec = JSON.parse(line) as Record<string, unknown>;
    assert.equal(rec.kind, 'scan');
    assert.match(String(rec['source.ip']), /^192\.168\.181\.14\d$/);
    assert.equal(rec['destination.ip'], '192.168.181.1');
    // nmap's UDP scan got through 257 ports before the capture ends; the TCP scans all 1,000.
    assert.equal((rec.ports as { count: number }).count, rec.class === 'udp' ? 257 : 1000);
    assert.ok(Array.isArray((rec.ports as { sample: unknown }).sample));
    assert.ok(typeof rec.probes === "number" && rec.probes >= (rec.ports as { count: number }).count);
    assert.match(String(rec.first_seen), /^2019-10-05T\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(String(rec.last_seen)) >= Date.parse(String(rec.first_seen)));
    assert.ok(typeof rec.confidence === 'number' && rec.confidence > 0.5 && rec.confidence <= 1);
    assert.equal(typeof (rec.evidence as { trigger: unknown }).trigger, 'string');
  }
  assert.match(r.err.join('\n'), /43,011 frames/);
});

test('a spoofed flood is one record without a source and with a source estimate', async () => {
  const r = await run('analyze', '--json', fixture('public/flood_syn_spoofed_37k_srcs.pcap'));
  assert.equal(r.out.length, 1);
  const rec = JSON.parse(r.out[0]) as { kind: string; 'source.ip'?: string; 'destination.port'?: string; evidence: { distinct_sources: number; spoofed_sources: boolean } };
  assert.equal(rec.kind, 'flood');
  assert.equal(rec['source.ip'], undefined);
  assert.equal(rec['destination.port'], 'tcp/25565');
  assert.equal(rec.evidence.spoofed_sources, true);
  // 37,623 distinct sources in the capture; the sketch is within a few percent.
  assert.ok(Math.abs(rec.evidence.distinct_sources - 37_623) < 37_623 * 0.1, `estimate ${rec.evidence.distinct_sources}`);
});

test(
  'a truncated capture reports the byte offset, exits 2, and still reports what came before',
  withTempDir(async (dir) => {
    const whole = readFileSync(fixture('public/scan_nmap_sS_1000_scanme.pcap'));
    // Cut inside a record: 24-byte file header, then records of 16 + 58..74 bytes.
    const cut = Math.floor(whole.length * 0.8);
    const path = join(dir, 'cut.pcap');
    writeFileSync(path, whole.subarray(0, cut));
    const r = await run('analyze', path);
    assert.equal(r.status, 2);
    const error = r.err.join('\n');
    assert.match(error, /PW_ERR_CAPTURE_TRUNCATED/);
    const offset = Number(/byte offset (\d+)/.exec(error)?.[1]);
    assert.ok(offset > 24 && offset < cut, `offset ${offset} lies inside the file`);
    assert.match(r.out[1], /scan\s+syn\s+172\.16\.0\.8 -> 64\.13\.134\.52/);
  }),
);

test('a file that is not a capture is an error naming the file', async () => {
  const r = await run('analyze', new URL('../package.json', import.meta.url).pathname);
  assert.equal(r.status, 2);
  assert.match(r.err.join('\n'), /PW_ERR_CAPTURE_FORMAT: .*package\.json/);
});

test('--profile paranoid reports more than normal on slow probing; an unknown profile is refused', async () => {
  const unknown = await run('analyze', '--profile', 'sloppy', fixture('public/scan_syn_small_29ports.pcap'));
  assert.equal(unknown.status, 2);
  assert.match(unknown.err.join('\n'), /choose one of normal, aggressive, paranoid/);
  const paranoid = await run('analyze', '--profile', 'paranoid', fixture('public/scan_syn_small_29ports.pcap'));
  assert.equal(paranoid.status, 1);
  assert.equal(paranoid.out[0], '1 incident (profile paranoid)');
});

test(
  'config check accepts the example, and refuses a bad file naming line and field',
  withTempDir(async (dir) => {
    const ok = await run('config', 'check', new URL('../config/portwarden.example.yaml', import.meta.url).pathname);
    assert.equal(ok.status, 0);
    assert.match(ok.out[0], /: ok \(profile normal\)$/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'profile: normal\ndetection:\n  scan:\n    minPorts: -3\n  colour: blue\n');
    const r = await run('config', 'check', bad);
    assert.equal(r.status, 2);
    const text = r.err.join('\n');
    assert.match(text, /bad\.yaml:4:\d+: detection\.scan\.minPorts/);
    assert.match(text, /bad\.yaml:5:\d+: detection\.colour/);
  }),
);

test(
  'analyze --config applies the file: a higher minPorts hides the 29-port scan',
  withTempDir(async (dir) => {
    const cfg = join(dir, 'strict.yaml');
    writeFileSync(cfg, 'detection:\n  scan:\n    minPorts: 100\n    windows:\n      - { windowMs: 60000, count: 100 }\n');
    const r = await run('analyze', '--config', cfg, fixture('public/scan_syn_small_29ports.pcap'));
    assert.equal(r.status, 0);
  }),
);

test('the installed command runs: npx portwarden analyze from the repository root', () => {
  const root = new URL('..', import.meta.url).pathname;
  const r = spawnSync('npx', ['--no-install', 'portwarden', 'analyze', 'test/fixtures/public/sweep_icmp_echo_256hosts.pcap'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /sweep\s+icmp\s+10\.0\.0\.128/);
});

test('the launcher runs node with the flags the benchmark measures', async () => {
  const { NODE_FLAGS } = await import('../bench/node-flags.js');
  const shebang = readFileSync(new URL('../bin/portwarden.js', import.meta.url), 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
});

test(
  'a long capture reports progress on stderr, one line per tenth when stderr is not a terminal',
  withTempDir(async (dir) => {
    const { writeMixedCapture } = await import('../bench/generate.js');
    const path = join(dir, 'long.pcap');
    const { bytes } = writeMixedCapture(path, 230_000, 3);
    assert.ok(bytes > 64 * 1024 * 1024, `${bytes} bytes is past the 64 MiB progress threshold`);
    const r = await run('analyze', path);
    const percents = r.err.filter((l) => l.startsWith(`${path}: `) && l.endsWith('% read')).map((l) => Number(/: (\d+)% read$/.exec(l)?.[1]));
    assert.ok(percents.length >= 5, `progress lines: ${percents.join(', ')}`);
    assert.ok(percents.every((p, i) => p % 10 === 0 && (i === 0 || p > percents[i - 1])), `increasing tenths: ${percents.join(', ')}`);
    assert.equal(percents.at(-1), 100);
  }),
);
