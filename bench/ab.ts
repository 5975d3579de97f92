/**
 * `npm run bench -- ab [--ref=REV]`: an A/B of an older build against this one, in the same run on the same machine,
 * so a refactor can show it made nothing slower. REV is a git revision (default: PORTWARDEN_AB_REF, else the last
 * commit of round 1, before the layout of docs/layout.md). The older build is checked out into a temporary git
 * worktree beside this one, compiled with this checkout's node_modules, and removed afterwards.
 *
 * What is compared:
 *  - `portwarden analyze --json` of the same inputs by both CLIs (the generated mix and one-target flood, and the
 *    attack-like inputs: replicated real scans, the scattered /16 flood, the sparse month), alternating old and new run by run (the shared
 *    machine's noise then falls on both alike): frames per CPU-second (user+sys, measured inside each process by a
 *    preloaded hook), wall time and peak RSS, the median of RUNS; and whether both printed the same incidents.
 *  - a control call (`status`, `bans`) and the idle daemon's RSS (bench/cli.ts) of both builds;
 *  - the enforce, state and inline suites of both builds' own `bench/run.js`: lines that read the same once their
 *    numbers are taken out are paired, and their numbers printed side by side.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeMixedCapture, writeSpoofedFlood } from './generate.js';
import { writeScatteredFlood, writeSparseMonth } from './attacks.js';
import { writeReplicatedScans } from './replicate.js';
import { NODE_FLAGS } from './node-flags.js';
import { measureCli, printCli } from './cli.js';

const RUNS = 5;
/** The last commit of round 1 (main before the layout work of issue 10). */
const ROUND_1 = '0662325';
const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(here, '..', '..');

interface Build {
  label: 'old' | 'new';
  root: string;
}

interface Run {
  cpuSeconds: number;
  wallSeconds: number;
  rssMiB: number;
  incidents: string;
}

/** Checks out and compiles REF in a temporary worktree; returns it and a function that removes it. */
function buildOld(ref: string): { build: Build; remove: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'portwarden-ab-'));
  rmSync(root, { recursive: true });
  execFileSync('git', ['-C', repoRoot, 'worktree', 'add', '--detach', root, ref], { stdio: 'ignore' });
  const remove = () => {
    spawnSync('git', ['-C', repoRoot, 'worktree', 'remove', '--force', root], { stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
  };
  try {
    symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
    // npm puts its node-gyp on PATH for package scripts; `install` is the addon build (scripts/build-native.mjs).
    execFileSync('npm', ['run', '--silent', 'install'], { cwd: root, stdio: 'ignore' });
    execFileSync(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  } catch (err) {
    remove();
    throw err;
  }
  return { build: { label: 'old', root }, remove };
}

/** A hook preloaded into each measured CLI: its own CPU time, wall time and peak RSS, on stderr as it exits. */
function writeMeter(dir: string): string {
  const path = join(dir, 'ab-meter.cjs');
  writeFileSync(
    path,
    `const t0 = process.hrtime.bigint();
process.on('exit', () => {
  const u = process.cpuUsage();
  const line = JSON.stringify({ cpuSeconds: (u.user + u.system) / 1e6, wallSeconds: Number(process.hrtime.bigint() - t0) / 1e9, rssMiB: process.resourceUsage().maxRSS / 1024 });
  process.stderr.write('\\nPW_AB ' + line + '\\n');
});
`,
  );
  return path;
}

function analyzeOnce(build: Build, meter: string, file: string): Run {
  const pin = spawnSync('taskset', ['--version']).status === 0 ? ['taskset', '-c', '1'] : [];
  const argv = [...pin, process.execPath, ...NODE_FLAGS, '--require', meter, join(build.root, 'bin', 'portwarden.js'), 'analyze', '--json', file];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30 });
  const meterLine = r.stderr.split('\n').find((l) => l.startsWith('PW_AB '));
  if ((r.status !== 0 && r.status !== 1) || meterLine === undefined) {
    throw new Error(`${build.label} analyze ${file} failed (exit ${r.status}): ${r.stderr.slice(-500)}`);
  }
  return { ...(JSON.parse(meterLine.slice(6)) as Omit<Run, 'incidents'>), incidents: r.stdout };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function analyzeAB(builds: Build[], meter: string, inputs: { name: string; file: string; frames: number }[]): void {
  process.stdout.write(`-- analyze: both CLIs on the same inputs, alternating, median of ${RUNS} (one pinned core)\n`);
  const rows = [['input', 'build', 'frames/CPU-s', 'wall s', 'peak RSS MiB', 'new/old (CPU)', 'same incidents']];
  for (const input of inputs) {
    const runs = new Map<string, Run[]>(builds.map((b) => [b.label, []]));
    for (let i = 0; i < RUNS; i++) for (const b of i % 2 === 0 ? builds : [...builds].reverse()) runs.get(b.label)!.push(analyzeOnce(b, meter, input.file));
    const fps = (label: string) => input.frames / median(runs.get(label)!.map((r) => r.cpuSeconds));
    const same = runs.get('old')![0].incidents === runs.get('new')![0].incidents;
    for (const b of builds) {
      const rs = runs.get(b.label)!;
      rows.push([
        input.name,
        b.label,
        fmt(fps(b.label)),
        median(rs.map((r) => r.wallSeconds)).toFixed(2),
        Math.max(...rs.map((r) => r.rssMiB)).toFixed(0),
        b.label === 'new' ? (fps('new') / fps('old')).toFixed(2) : '',
        b.label === 'new' ? (same ? 'yes' : 'NO') : '',
      ]);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) process.stdout.write(`  ${r.map((cell, c) => cell.padEnd(widths[c])).join('  ')}\n`);
}

/** A suite's output with its numbers taken out, so the same line of both builds pairs up. */
const NUMBER = /\d[\d,]*(?:\.\d+)?/g;
const shape = (line: string): string => line.replace(NUMBER, '#').trim();

function suiteAB(builds: Build[], suite: string): void {
  process.stdout.write(`-- ${suite}: each build's own suite, one after the other; paired lines show old → new\n`);
  const outputs = builds.map((b) => {
    const r = spawnSync(process.execPath, [join(b.root, 'dist', 'bench', 'run.js'), suite], { cwd: b.root, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) process.stdout.write(`  (${b.label} ${suite} suite failed, exit ${r.status}: ${r.stderr.trim().split('\n').pop() ?? ''})\n`);
    return r.stdout.split('\n').filter((l) => /\d/.test(l) && !l.startsWith('=='));
  });
  const newByShape = new Map(outputs[1].map((l) => [shape(l), l]));
  for (const oldLine of outputs[0]) {
    const newLine = newByShape.get(shape(oldLine));
    if (newLine === undefined) continue;
    const a = oldLine.match(NUMBER) ?? [];
    const b = newLine.match(NUMBER) ?? [];
    let i = 0;
    const paired = oldLine.replace(NUMBER, (n) => (b[i] === undefined || b[i] === a[i] ? (i++, n) : `${n} → ${b[i++]}`));
    process.stdout.write(`  ${paired.trim()}\n`);
  }
}

export async function abSuite(dir: string, ref: string = process.env.PORTWARDEN_AB_REF ?? ROUND_1): Promise<void> {
  process.stdout.write(`== ab: build ${ref} (old) against this checkout (new), same run, same machine\n`);
  const { build: old, remove } = buildOld(ref);
  try {
    const builds: Build[] = [old, { label: 'new', root: repoRoot }];
    const meter = writeMeter(dir);
    const mixed = join(dir, 'ab-mixed.pcap');
    const flood = join(dir, 'ab-flood.pcap');
    const m = writeMixedCapture(mixed, 1_000_000, 1);
    const f = writeSpoofedFlood(flood, 1_000_000, 1);
    // The inputs that look like attacks (issue 11): real scans replicated, a flood over a /16, a quiet month.
    const replicated = join(dir, 'ab-replicated.pcap');
    const scattered = join(dir, 'ab-scattered.pcap');
    const month = join(dir, 'ab-month.pcap');
    const r = writeReplicatedScans(replicated, repoRoot, 1_000_000);
    const sc = writeScatteredFlood(scattered, 1_000_000, 1);
    const mo = writeSparseMonth(month, 8_000, 1);
    analyzeAB(builds, meter, [
      { name: 'mixed 1M', file: mixed, frames: m.frames },
      { name: 'spoofed flood 1M', file: flood, frames: f.frames },
      { name: 'replicated real scans 1M', file: replicated, frames: r.frames },
      { name: 'scattered /16 flood 1M', file: scattered, frames: sc.frames },
      { name: 'sparse month', file: month, frames: mo.frames },
      { name: 'nmap 9 types (public)', file: join(repoRoot, 'test', 'fixtures', 'public', 'scan_nmap_9types_probingdataset.pcap'), frames: countFrames(old, join(repoRoot, 'test', 'fixtures', 'public', 'scan_nmap_9types_probingdataset.pcap')) },
    ]);
    process.stdout.write('-- cli: a control call and the idle daemon, both builds\n');
    for (const b of builds) printCli(b.label, await measureCli(b.root, b.label));
    for (const suite of (process.env.PORTWARDEN_AB_SUITES ?? 'enforce,state,inline').split(',').filter(Boolean)) suiteAB(builds, suite);
  } finally {
    remove();
  }
}

/** Frames in a capture, read by the old build's reader (it is the same file for both). */
function countFrames(build: Build, file: string): number {
  const out = execFileSync(process.execPath, [join(build.root, 'dist', 'bench', 'analyze-child.js'), 'read', file], { encoding: 'utf8' });
  return (JSON.parse(out.trim().split('\n').pop()!) as { frames: number }).frames;
}
