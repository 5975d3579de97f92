/**
 * `npm run bench -- fleet` (issue 14): bans shared over a real nats-server (Debian's 2.9.10).
 *   propagation  host a decides 1,000 bans/s for 5 s; hosts b and c apply them: from a's decision
 *                (the ban book's ban call, as detection makes it) to the end of the kernel commit that put
 *                the ban into b's (c's) nftables set, median and p99
 *   sync         100,000 bans in the bucket; a newly started host d: until all are read, verified and
 *                in its kernel
 * Every host is a child process (bench/fleet-child.ts) in a namespace of its own, each joined to the
 * NATS namespace by a veth pair (`pwbench-fleet-<pid>-*`), all removed afterwards, also on failure.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../src/fleet/signing.js';
import { NODE_FLAGS } from './node-flags.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const child = join(here, 'fleet-child.js');
const HOSTS = ['a', 'b', 'c', 'd'] as const;
const BANS = 5_000;
const RATE = 1_000;
/** The slow phase: few enough per second that no host builds a backlog, even on a busy machine. */
const SLOW_BANS = 200;
const SLOW_RATE = 20;
const SYNC_BANS = 100_000;
const PORT = 4222;

const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Runs a role in `ns`; resolves with its JSON line. `ready` resolves when it printed "ready" (or its result). */
function run(ns: string, args: string[]): { done: Promise<Record<string, number>>; ready: Promise<void>; proc: ChildProcess } {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS, child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => (markReady = r));
  const done = new Promise<Record<string, number>>((resolve, reject) => {
    let last = '';
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line === 'ready') markReady();
      else last = line;
    });
    proc.on('exit', (code) => {
      markReady();
      if (code === 0) resolve(JSON.parse(last) as Record<string, number>);
      else reject(new Error(`fleet-child ${args[0]} in ${ns} exited ${String(code)}`));
    });
  });
  return { done, ready, proc };
}

export async function fleetSuite(dir: string): Promise<void> {
  process.stdout.write('== fleet: bans shared over NATS JetStream (nats-server 2.9.10, KV bucket), real nftables per host\n');
  const base = `pwbench-fleet-${process.pid}`;
  const natsNs = `${base}-n`;
  const made: string[] = [];
  const procs: ChildProcess[] = [];
  try {
    for (const ns of [natsNs, ...HOSTS.map((h) => `${base}-${h}`)]) {
      execFileSync('ip', ['netns', 'add', ns]);
      made.push(ns);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    const url: Record<string, string> = {};
    HOSTS.forEach((h, i) => {
      execFileSync('ip', ['-n', natsNs, 'link', 'add', `fl${i}`, 'type', 'veth', 'peer', 'name', 'fleet0', 'netns', `${base}-${h}`]);
      execFileSync('ip', ['-n', natsNs, 'addr', 'add', `10.9${i}.0.1/24`, 'dev', `fl${i}`]);
      execFileSync('ip', ['-n', natsNs, 'link', 'set', `fl${i}`, 'up']);
      execFileSync('ip', ['-n', `${base}-${h}`, 'addr', 'add', `10.9${i}.0.2/24`, 'dev', 'fleet0']);
      execFileSync('ip', ['-n', `${base}-${h}`, 'link', 'set', 'fleet0', 'up']);
      url[h] = `nats://10.9${i}.0.1:${PORT}`;
    });
    const natsDir = join(dir, 'fleet-nats');
    mkdirSync(natsDir, { recursive: true });
    const nats = spawn('ip', ['netns', 'exec', natsNs, 'nats-server', '-a', '0.0.0.0', '-p', String(PORT), '-js', '-sd', natsDir], { stdio: 'ignore' });
    procs.push(nats);
    for (let i = 0; spawnSync('ip', ['netns', 'exec', natsNs, 'bash', '-c', `echo > /dev/tcp/127.0.0.1/${PORT}`]).status !== 0; i++) {
      if (i > 100) throw new Error('nats-server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const keys = JSON.stringify(Object.fromEntries([...HOSTS, 'filler'].map((h) => {
      const k = generateKey();
      return [h, { seed: k.fileText, public: k.key.publicKey }];
    })));

    // Propagation: b and c listening before a decides. First a slow phase (no backlog: the path's own
    // latency), then the goal's rate.
    let first = 0;
    for (const [n, rate] of [[SLOW_BANS, SLOW_RATE], [BANS, RATE]] as const) {
      const appliers = (['b', 'c'] as const).map((h) => run(`${base}-${h}`, ['apply', url[h], h, keys, String(n)]));
      procs.push(...appliers.map((a) => a.proc));
      await Promise.all(appliers.map((a) => a.ready));
      const decider = run(`${base}-a`, ['decide', url.a, 'a', keys, String(n), String(rate), String(first)]);
      procs.push(decider.proc);
      first += n;
      const [d, b, c] = await Promise.all([decider.done, ...appliers.map((a) => a.done)]);
      process.stdout.write(`decide on a: ${f(d.made)} bans at ${f(rate)}/s in ${f(d.wallMs)} ms; published ${f(d.published)}; a's CPU ${f(d.cpuMs)} ms (${f(d.made / (d.cpuMs / 1000))} bans per CPU-second)\n`);
      for (const [name, r] of [['b', b], ['c', c]] as const) {
        process.stdout.write(`a → ${name}'s kernel at ${f(rate)}/s: ${f(r.n)} bans, median ${f(r.medianMs, 1)} ms, p99 ${f(r.p99Ms, 1)} ms, max ${f(r.maxMs)} ms; ${name}'s ban set holds ${f(r.inKernel)}; ${name}'s CPU ${f(r.cpuMs)} ms (${f(r.n / (r.cpuMs / 1000))} bans per CPU-second)\n`);
      }
      if (rate !== RATE) continue;
      const worstMedian = Math.max(b.medianMs, c.medianMs);
      const worstP99 = Math.max(b.p99Ms, c.p99Ms);
      const counted = b.inKernel >= first && c.inKernel >= first;
      process.stdout.write(`goal: median < 50 ms and p99 < 250 ms at 1,000 bans/s over 3 hosts: ${worstMedian < 50 && worstP99 < 250 && counted ? 'met' : 'NOT met'} (worst host: median ${f(worstMedian, 1)} ms, p99 ${f(worstP99, 1)} ms${counted ? ', every ban in both kernels' : ', COUNT WRONG'})\n`);
    }

    // Sync: 100,000 bans already in the bucket (a's 5,000 among them), a new host d.
    const filled = await run(`${base}-a`, ['fill', url.a, String(SYNC_BANS), keys]).done;
    process.stdout.write(`bucket filled with ${f(filled.n)} signed bans in ${f(filled.ms)} ms (${f(filled.n / (filled.ms / 1000))}/s, 1,024 puts in flight)\n`);
    const s = await run(`${base}-d`, ['sync', url.d, 'd', keys, String(SYNC_BANS)]).done;
    process.stdout.write(`new host d: ${f(s.n)} bans read and verified in ${f(s.readMs)} ms, in its kernel after ${f(s.ms)} ms (ban set: ${f(s.inKernel)}); CPU ${f(s.cpuMs)} ms (${f(s.n / (s.cpuMs / 1000))} bans per CPU-second)\n`);
    process.stdout.write(`goal: 100,000 fleet bans synced into a new host in < 5 s: ${s.ms < 5000 && s.inKernel >= SYNC_BANS ? 'met' : 'NOT met'} (${f(s.ms)} ms)\n`);
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const ns of made) {
      spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).forEach((pid) => spawnSync('kill', ['-9', pid]));
      const del = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
      if (del.status !== 0) process.stderr.write(`could not delete network namespace ${ns}: ${del.stderr}`);
    }
  }
}
