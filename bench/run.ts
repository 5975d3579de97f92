/**
 * `npm run bench [suite...]`: performance figures, each next to a baseline measured in the same run on
 * the same machine (never a remembered number). Suites:
 *   analyze  capture → decode → detect: frames per CPU-second, wall time and peak RSS on the generated mix,
 *            a one-target and a scattered spoofed flood, replicated real scans and a sparse month (issues 2, 11)
 *   memory   peak RSS from 1 M to 6 M frames, the mix and the scattered flood
 *   enforce  decision-to-kernel latency and 100,000 bans, against a process per ban (issue: live daemon)
 *   state    100,000 bans restored after a restart; 1,000,000 incidents written, queried, purged (issue: state)
 *   inline   NFQUEUE verdicts/s, DNS latency through the queue, a 1,000,000-name blocklist (issue: inline)
 *   cli      a control call against a running daemon beside `node -e 0`; the idle daemon's RSS
 *   guard    a benign client's TCP success rate during a spoofed SYN flood, without and with the flood guard (issue 15)
 *   anomaly  the anomaly model on the corpus: precision at the top 10 scores (bench/anomaly-eval.ts)
 *   baselines analyze with behavioural baselines off / on / on + dynamic thresholds; bytes per metric (bench/baselines.ts)
 *   ab       [--ref=REV] the same measurements on an older build (REF) and this one in the same run (bench/ab.ts)
 *   lapi     the CrowdSec decision stream with 100,000 bans: startup and delta pulls over HTTP (issue 14)
 * Results and method: BENCHMARKS.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enforceSuite } from './enforce.js';
import { stateSuite } from './state.js';
import { inlineSuite } from './inline.js';
import { abSuite } from './ab.js';
import { cliSuite } from './cli.js';
import { fuzzSuite } from './fuzz.js';
import { writeMixedCapture, writeSpoofedFlood, type GenerateResult } from './generate.js';
import { writeScatteredFlood, writeSparseMonth } from './attacks.js';
import { writeReplicatedScans } from './replicate.js';
import { NODE_FLAGS } from './node-flags.js';
import { baselineSuite } from './baselines.js';
import { anomalySuite } from './anomaly-eval.js';

/** Runs per figure (median printed); BENCH_RUNS overrides it for a quick look. */
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const here = fileURLToPath(new URL('.', import.meta.url));
const child = join(here, 'analyze-child.js');
const repoRoot = join(here, '..', '..');

interface ChildResult {
  mode: string;
  frames: number;
  seconds: number;
  cpuSeconds: number;
  framesPerSecond: number;
  framesPerCpuSecond: number;
  maxRssMiB: number;
  liveHeapMiB: number;
  incidents: number;
  kinds: Record<string, number>;
  baseline?: { metrics: number; metricBytes: number; memoryBytes: number; anomalies: number } | null;
}

/** Pins a command to one core (the goal says "on one core") when taskset is there. */
function pinned(argv: string[]): string[] {
  const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
  return hasTaskset ? ['taskset', '-c', '1', ...argv] : argv;
}

function runChild(mode: 'analyze' | 'read' | 'baselines' | 'dynamic', file: string, rules?: string): ChildResult {
  const [cmd, ...args] = pinned([process.execPath, ...NODE_FLAGS, child, mode, file, ...(rules !== undefined ? [rules] : [])]);
  const out = execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Measurement {
  /** Frames per CPU-second (user + sys of the child), median and best of the runs. */
  cpuFps: number;
  cpuBest: number;
  cpuSpread: string;
  /** Frames per second of wall time, median. */
  fps: number;
  rss: number;
  liveHeap: number;
  frames: number;
  incidents: number;
  kinds: Record<string, number>;
  baseline: NonNullable<ChildResult['baseline']> | null;
}

/** RUNS runs: the median, and the best (this machine's CPU is shared, and neighbours only slow a run down). */
function measure(mode: 'analyze' | 'read' | 'baselines' | 'dynamic', file: string, runs = RUNS, rules?: string): Measurement {
  const results = Array.from({ length: runs }, () => runChild(mode, file, rules));
  const cpu = results.map((r) => r.framesPerCpuSecond);
  return {
    cpuFps: median(cpu),
    cpuBest: Math.max(...cpu),
    cpuSpread: `${fmt(Math.min(...cpu))}–${fmt(Math.max(...cpu))}`,
    fps: median(results.map((r) => r.framesPerSecond)),
    rss: Math.max(...results.map((r) => r.maxRssMiB)),
    liveHeap: Math.max(...results.map((r) => r.liveHeapMiB)),
    frames: results[0].frames,
    incidents: results[0].incidents,
    kinds: results[0].kinds,
    baseline: results[0].baseline ?? null,
  };
}

/** The seeds' Scapy sketch on the first `packets` frames: frames per CPU-second and per second of wall time. */
function scapyBaseline(file: string, packets: number): { cpu: number; wall: number } | null {
  const [cmd, ...args] = pinned(['/usr/bin/python3', join(repoRoot, 'bench', 'baseline', 'scapy_sketch.py'), file, String(packets)]);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stdout.write(`  (Scapy baseline unavailable: ${r.stderr.trim().split('\n').pop() ?? 'no python3-scapy'}; install python3-scapy)\n`);
    return null;
  }
  const out = JSON.parse(r.stdout.trim()) as { packets_per_second: number; packets_per_cpu_second: number };
  return { cpu: out.packets_per_cpu_second, wall: out.packets_per_second };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function table(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) process.stdout.write(`  ${r.map((cell, c) => cell.padEnd(widths[c])).join('  ')}\n`);
}

function kindsText(kinds: Record<string, number>): string {
  return Object.entries(kinds)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
}

const GOAL_FPS = 1_000_000;
const rulesRatios: string[] = [];

/**
 * 50 simple probe rules, as an operator writes them: 45 watch one port each (SSH, RDP, databases … and
 * high ports) for a source's SYNs to several hosts, 5 watch a class or protocol on any port. Every one
 * compiles to the fast path; the 45 are indexed by their port.
 */
function writeFiftyProbeRules(dir: string): string {
  const ports = [21, 22, 23, 25, 53, 110, 111, 135, 139, 143, 161, 389, 445, 465, 587, 993, 995, 1433, 1521, 1723, 2049, 2375, 3128, 3306, 3389, 5432, 5900, 5984, 6379, 7001, 8000, 8080, 8081, 8443, 8888, 9000, 9090, 9200, 9300, 11211, 27017, 50000, 50070, 60000, 61616];
  const rules = ports.map((p) => `- { name: port-${p}, on: probe, filter: 'port == ${p} && class == "syn"', groupby: source, distinct: destination, capacity: 20, leakspeed: 10s, action: { ban: { duration: 1h } } }`);
  rules.push(
    `- { name: xmas-any, on: probe, filter: 'class == "xmas"', groupby: source, capacity: 50, leakspeed: 1s, action: alert }`,
    `- { name: null-any, on: probe, filter: 'class == "null" || class == "fin"', groupby: source, capacity: 50, leakspeed: 1s, action: alert }`,
    `- { name: udp-high, on: probe, filter: 'protocol == "udp" && port >= 33434 && port <= 33534', groupby: source, capacity: 30, leakspeed: 1s, action: alert }`,
    `- { name: proto-probes, on: probe, filter: 'protocol == "proto"', groupby: source, capacity: 10, leakspeed: 10s, action: alert }`,
    `- { name: test-net-3, on: probe, filter: 'source == "203.0.113.66"', action: { ban: { duration: 1d } } }`,
  );
  const path = join(dir, 'fifty-probe-rules.yaml');
  writeFileSync(path, `${rules.join('\n')}\n`);
  return path;
}
const GOAL_RSS_MIB = 256;

function analyzeSuite(dir: string): void {
  process.stdout.write(`== analyze: capture -> decode -> detect, one core, median of ${RUNS} runs\n`);
  const inputs: { name: string; file: string; note: string }[] = [];
  const add = (name: string, file: string, r: GenerateResult, note: string): void => {
    inputs.push({ name, file, note: `${name}: ${fmt(r.frames)} frames, ${(r.bytes / 1e6).toFixed(0)} MB; ${note}` });
  };
  const mixed = join(dir, 'mixed.pcap');
  add('mixed', mixed, writeMixedCapture(mixed, 1_000_000, 1), '90% benign sessions, 5% DNS, 5% scans');
  const flood = join(dir, 'flood.pcap');
  add('flood, one target', flood, writeSpoofedFlood(flood, 1_000_000, 1), 'SYN flood from 1,000,000 spoofed sources to one host');
  const replicated = join(dir, 'replicated.pcap');
  const rep = writeReplicatedScans(replicated, repoRoot, 1_000_000);
  add('replicated real scans', replicated, rep, `test/fixtures/public + lab (${fmt(rep.perReplica)} frames) x ${rep.replicas}, addresses remapped per replica, ${(rep.spanSeconds / 3600).toFixed(1)} h`);
  const scattered = join(dir, 'scattered.pcap');
  add('flood, scattered', scattered, writeScatteredFlood(scattered, 1_000_000, 1), '1,000,000 spoofed sources, one SYN each to a host of a /16');
  const month = join(dir, 'month.pcap');
  add('sparse month', month, writeSparseMonth(month, 8_000, 1), 'HTTPS sessions of 2,000 clients over 30 days of packet time');
  // The month is 10x smaller than the rest, so a process's fixed costs (tables, JIT warm-up) weigh 10x
  // more in its figure: the mix cut to the same size, measured the same way, is its baseline.
  const mixedSmall = join(dir, 'mixed-100k.pcap');
  add('mixed, 100k frames', mixedSmall, writeMixedCapture(mixedSmall, 100_000, 1), 'the mix cut to the size of the month: the cost of a short run');
  for (const i of inputs) process.stdout.write(`input ${i.note}\n`);

  const rows: string[][] = [['measurement', 'frames/CPU-s (median)', 'best', 'range', 'wall frames/s', 'peak RSS MiB', 'live heap MiB', 'incidents']];
  const results: { name: string; m: Measurement }[] = [];
  for (const i of inputs) {
    const read = measure('read', i.file);
    rows.push([`read only: ${i.name}`, fmt(read.cpuFps), fmt(read.cpuBest), read.cpuSpread, fmt(read.fps), read.rss.toFixed(0), '-', '-']);
    const m = measure('analyze', i.file);
    results.push({ name: i.name, m });
    rows.push([`analyze: ${i.name}`, fmt(m.cpuFps), fmt(m.cpuBest), m.cpuSpread, fmt(m.fps), m.rss.toFixed(0), m.liveHeap.toFixed(0), String(m.incidents)]);
  }
  const scapyMixed = scapyBaseline(mixed, 30_000);
  const scapyReplicated = scapyBaseline(replicated, 30_000);
  if (scapyMixed !== null) rows.push(["seeds' Scapy sketch: mixed (first 30k frames)", fmt(scapyMixed.cpu), '-', '-', fmt(scapyMixed.wall), '-', '-', '-']);
  if (scapyReplicated !== null) rows.push(["seeds' Scapy sketch: replicated (first 30k frames)", fmt(scapyReplicated.cpu), '-', '-', fmt(scapyReplicated.wall), '-', '-', '-']);
  // The rule engine (issue 15): 50 simple probe rules beside detection, against the same inputs' runs above.
  const rulesFile = writeFiftyProbeRules(dir);
  for (const r of results.filter((x) => x.name === 'mixed' || x.name === 'replicated real scans')) {
    const file = inputs.find((i) => i.name === r.name)!.file;
    const m = measure('analyze', file, RUNS, rulesFile);
    results.push({ name: `${r.name} + 50 probe rules`, m });
    rows.push([`analyze + 50 probe rules: ${r.name}`, fmt(m.cpuFps), fmt(m.cpuBest), m.cpuSpread, fmt(m.fps), m.rss.toFixed(0), m.liveHeap.toFixed(0), String(m.incidents)]);
    rulesRatios.push(`${r.name} ${((m.cpuFps / r.m.cpuFps) * 100).toFixed(0)}% of the run without rules`);
  }
  table(rows);
  process.stdout.write(`rules: 50 probe rules (bench/run.ts writeFiftyProbeRules): ${rulesRatios.join('; ')}\n`);
  for (const { name, m } of results) process.stdout.write(`incidents: ${name}: ${kindsText(m.kinds) || 'none'}\n`);
  if (scapyMixed !== null && scapyReplicated !== null) {
    const ratio = (a: number, b: number) => `${(a / b).toFixed(0)}x`;
    process.stdout.write(
      `ratios (frames per CPU-second): analyze / Scapy sketch: mixed ${ratio(results[0].m.cpuFps, scapyMixed.cpu)}, replicated real scans ${ratio(results[2].m.cpuFps, scapyReplicated.cpu)}\n`,
    );
  }
  const slow = results.filter((r) => r.m.cpuFps < GOAL_FPS).map((r) => r.name);
  const big = results.filter((r) => r.m.rss >= GOAL_RSS_MIB).map((r) => r.name);
  process.stdout.write(
    `goals: >= 1,000,000 frames per CPU-second on every input (median): ${slow.length === 0 ? 'met' : `NOT met (${slow.join(', ')})`}; ` +
      `< 256 MiB peak RSS on every input: ${big.length === 0 ? 'met' : `NOT met (${big.join(', ')})`}\n`,
  );
}

/** Constant memory: peak RSS from 1 M to 6 M frames, reading and analysing: the mix, the scattered flood, the replicated scans. */
function memorySuite(dir: string): void {
  process.stdout.write('== memory: 1 M against 6 M frames (one run each)\n');
  const rows: string[][] = [['input', 'frames', 'GB', 'read: peak RSS MiB', 'analyze: peak RSS MiB', 'live heap after, MiB', 'analyze frames/CPU-s', 'incidents']];
  const cases: { name: string; write: (path: string, n: number) => GenerateResult }[] = [
    { name: 'mixed', write: (path, n) => writeMixedCapture(path, n, 2) },
    { name: 'flood, scattered', write: (path, n) => writeScatteredFlood(path, n, 2) },
    { name: 'replicated real scans', write: (path, n) => writeReplicatedScans(path, repoRoot, n) },
  ];
  const ratios: string[] = [];
  for (const c of cases) {
    const rss: number[] = [];
    for (const n of [1_000_000, 6_000_000]) {
      const file = join(dir, `memory-${n}.pcap`);
      const g = c.write(file, n);
      const read = measure('read', file, 1);
      const a = measure('analyze', file, 1);
      rss.push(a.rss);
      rows.push([c.name, fmt(g.frames), (g.bytes / 1e9).toFixed(2), read.rss.toFixed(0), a.rss.toFixed(0), a.liveHeap.toFixed(0), fmt(a.cpuFps), kindsText(a.kinds) || 'none']);
      rmSync(file);
    }
    ratios.push(`${c.name} ${(rss[1] / rss[0]).toFixed(2)}`);
  }
  table(rows);
  process.stdout.write(`analyze peak RSS 6 M / 1 M: ${ratios.join('; ')}\n`);
}

const suites: Record<string, (dir: string) => void | Promise<void>> = { analyze: analyzeSuite, memory: memorySuite, enforce: enforceSuite, state: stateSuite, inline: inlineSuite, ab: (dir) => abSuite(dir, abRef), cli: () => cliSuite() };
suites.live = async (dir) => (await import('./live.js')).liveSuite(dir); // live: the daemon under a spoofed SYN flood with real nmap scans (issue 11; bench/live.ts)
suites.baselines = (dir) => baselineSuite(dir, { measure: (mode, file) => measure(mode, file), fmt, table, runs: RUNS }); // baselines: cost of behavioural baselines (issue 15; bench/baselines.ts)
suites.anomaly = () => anomalySuite(repoRoot); // anomaly: the behaviour model's precision at the top 10 on the corpus (issue 15; bench/anomaly-eval.ts)
suites.fuzz = fuzzSuite; // fuzz: 10 M mutated corpus frames through analyze, no exception (issue 11; bench/fuzz.ts)
suites.guard = async () => (await import('./guard.js')).guardSuite(); // guard: a benign client's connections during a spoofed SYN flood, without and with synproxy (issue 15; bench/guard.ts)
suites.lapi = async () => (await import('./lapi.js')).lapiSuite(); // lapi: the CrowdSec decision stream with 100,000 bans (issue 14; bench/lapi.ts)
suites.feeds = async (dir) => (await import('./feeds.js')).feedsSuite(dir); // feeds: 1,000,000 feed entries into the kernel and a 1% update, beside nft -f (issue 13; bench/feeds.ts)
suites.fleet = async (dir) => (await import('./fleet.js')).fleetSuite(dir); // fleet: ban propagation over NATS at 1,000 bans/s, 100,000-ban sync (issue 14; bench/fleet.ts)
const args = process.argv.slice(2);
const wanted = args.filter((a) => !a.startsWith('--ref='));
const abRef = args.find((a) => a.startsWith('--ref='))?.slice('--ref='.length);
const dir = mkdtempSync(join(tmpdir(), 'portwarden-bench-'));
// Ctrl-C also reaches the measured child, whose synchronous call then fails: with a handler this process
// lives on, so the suite's `finally` deletes its network namespace, and no further suite starts.
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
  process.exitCode = 130;
  process.stderr.write('interrupted: cleaning up\n');
});
try {
  for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
    if (interrupted) break;
    const suite = suites[name];
    if (suite === undefined) throw new Error(`unknown suite ${name}; suites: ${Object.keys(suites).join(', ')}`);
    await suite(dir);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
