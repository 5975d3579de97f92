/**
 * `npm run bench -- state` (issue: persistent state): restoring 100,000 bans after a restart, and
 * writing, querying and purging 1,000,000 incidents. The restore runs in a network namespace of its own
 * (`pwbench-<pid>`), removed afterwards even on failure: the host's own firewall is never touched. The
 * measured code is bench/state-child.ts, in a child process per part so its peak RSS is its own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from './node-flags.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const child = join(here, 'state-child.js');
const BANS = 100_000;
const INCIDENTS = 1_000_000;
const RUNS = 3;

interface RestartPath {
  /** Until every ban is enforced again. */
  ms: number;
  /** The table was kept: bans never left the kernel. */
  kept: boolean;
  /** Until the database and the kernel's list are compared and repaired (background when kept). */
  compareMs: number;
  kernelReadMs: number;
  dbMs: number;
  restored: number;
  inKernel: number;
}

function run<T>(prefix: string[], args: string[]): T {
  const [cmd, ...rest] = [...prefix, process.execPath, ...NODE_FLAGS, child, ...args];
  const out = execFileSync(cmd, rest, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => `${f(bytes / 2 ** 20, 1)} MiB`;

export function stateSuite(dir: string): void {
  process.stdout.write('== state: SQLite state database (WAL, synchronous=FULL)\n');
  const ns = `pwbench-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    // Median of RUNS (this shared VM varies by up to 2× between runs); each run starts from a fresh database.
    const runs: { n: number; reboot: RestartPath; restart: RestartPath }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const restoreDir = join(dir, `state-restore-${i}`);
      mkdirSync(restoreDir, { recursive: true });
      runs.push(run<{ n: number; reboot: RestartPath; restart: RestartPath }>(['ip', 'netns', 'exec', ns], ['restore', restoreDir, String(BANS)]));
    }
    const median = (path: 'reboot' | 'restart'): RestartPath => [...runs].sort((a, b) => a[path].ms - b[path].ms)[RUNS >> 1][path];
    const range = (path: 'reboot' | 'restart') => `${f(Math.min(...runs.map((r) => r[path].ms)))}–${f(Math.max(...runs.map((r) => r[path].ms)))} ms`;
    for (const [name, path] of [['after a reboot (no table: database only)', 'reboot'], ['after a daemon restart (table present)', 'restart']] as const) {
      const p = median(path);
      const how = p.kept
        ? `bans kept in the kernel throughout (rules replaced around them, database bans adopted: ${f(p.ms)} ms); compared with the kernel's list in the background in ${f(p.compareMs)} ms (kernel list ${f(p.kernelReadMs)} ms)`
        : `${f(p.ms)} ms until all enforced (kernel read ${f(p.kernelReadMs)} ms, database read ${f(p.dbMs)} ms)`;
      process.stdout.write(`restore ${f(BANS)} bans ${name}, median of ${RUNS} (range ${range(path)}): ${how}; restored ${f(p.restored)}, in the kernel after: ${f(p.inKernel)}\n`);
    }
    const worst = Math.max(median('reboot').ms, median('restart').ms);
    const counted = runs.every((r) => r.reboot.inKernel === r.n && r.restart.inKernel === r.n);
    process.stdout.write(`goal: 100,000 bans restored in < 2 s: ${worst < 2000 && counted ? 'met' : 'NOT met'} (slower median of the two ${f(worst)} ms${counted ? ', count verified in every run' : ', COUNT WRONG'})\n`);
  } finally {
    const del = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
    if (del.status !== 0) process.stderr.write(`could not delete network namespace ${ns}: ${del.stderr}`);
  }

  const incDir = join(dir, 'state-incidents');
  mkdirSync(incDir, { recursive: true });
  const i = run<{
    n: number;
    insertMs: number;
    perSecond: number;
    bytesFull: number;
    history: number;
    historyMs: number;
    lastHour: number;
    sinceMs: number;
    purged: number;
    vacuumedPages: number;
    purgeMs: number;
    bytesAfter: number;
    rssFullMiB: number;
    maxRssMiB: number;
  }>([], ['incidents', incDir, String(INCIDENTS)]);
  process.stdout.write(
    `incidents: ${f(i.n)} written in batches of 1,000 (one fsynced transaction each): ${f(i.insertMs / 1000, 1)} s, ${f(i.perSecond)} incidents/s; file ${mib(i.bytesFull)}; RSS ${f(i.rssFullMiB)} MiB after, peak ${f(i.maxRssMiB)} MiB\n`,
  );
  process.stdout.write(`queries with ${f(i.n)} stored: history of one address ${f(i.history)} incidents in ${f(i.historyMs, 2)} ms; last hour ${f(i.lastHour)} incidents in ${f(i.sinceMs, 2)} ms\n`);
  process.stdout.write(`retention: purge of the older half (${f(i.purged)} incidents) with compaction ${f(i.purgeMs / 1000, 1)} s, ${f(i.vacuumedPages)} pages given back; file ${mib(i.bytesFull)} -> ${mib(i.bytesAfter)}\n`);
}
