/**
 * The enforce suite's measured code. Runs INSIDE a throw-away network namespace (bench/enforce.ts
 * starts it with `ip netns exec NS node dist/bench/enforce-child.js MODE`); never run it in the host's
 * own namespace: it replaces the `inet portwarden` table and appends iptables rules. Prints one JSON line.
 *   latency            1,000 new bans/s for 5 s, committed on a 5 ms cadence as the daemon does
 *   bulk               100,000 bans in one commit, counted with `nft -j list set`, plus the per-call
 *                      cost of one `nft add element` process at set size 0 and at 100,000
 *   iptables N         one `iptables -A INPUT -s ADDR -j DROP` process per address
 *   watched            100,000 bans in one commit with and without the daemon's nf_tables listener
 *                      (kernel/nft-monitor.ts) open in the same process, alternating, same run
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { NftablesBackend } from '../src/enforce/nftables.js';
import { NftMonitor } from '../src/kernel/nft-monitor.js';

const [mode, arg] = process.argv.slice(2);

// Refuse to touch a firewall outside the bench's own namespace (the host's, above all).
const ns = spawnSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).stdout.trim();
if (!ns.startsWith('pwbench-')) {
  process.stderr.write(`enforce-child: not inside a pwbench- network namespace (got "${ns}"); refusing\n`);
  process.exit(3);
}
const TIMEOUT = 3600;

/** The i-th address of a range starting at 10.base.0.0, every other address (no two adjacent ones). */
function address(base: number, i: number): string {
  const n = (base << 16) + 2 * i + 1;
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function mustRun(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} → ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Per-process ms of `nft add element … ban4 { ADDR timeout 1h }`, one process per address. */
function nftPerCall(base: number, n: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    mustRun('nft', ['add', 'element', 'inet', 'portwarden', 'ban4', `{ ${address(base, i)} timeout 1h }`]);
    times.push(performance.now() - t0);
  }
  return times;
}

function countBan4(): number {
  const doc = JSON.parse(mustRun('nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4'])) as {
    nftables: Array<{ set?: { elem?: unknown[] } }>;
  };
  let count = 0;
  for (const item of doc.nftables) count += item.set?.elem?.length ?? 0;
  return count;
}

async function latency(): Promise<object> {
  const backend = new NftablesBackend();
  await backend.setup();
  try {
    const RATE_PER_MS = 1;
    const DURATION_MS = 5000;
    const latencies: number[] = [];
    const batchSizes: number[] = [];
    let pending: number[] = []; // queue times of the bans queued since the last commit started
    let committing = false;
    let queued = 0;
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      // Every 1 ms (setInterval's floor): queue the bans due by now, so the rate stays 1,000/s even
      // when a tick comes late.
      const producer = setInterval(() => {
        const due = Math.min(DURATION_MS, Math.floor(performance.now() - start)) * RATE_PER_MS;
        while (queued < due) {
          backend.ban({ target: address(200, queued), timeoutSeconds: TIMEOUT });
          pending.push(performance.now());
          queued++;
        }
        if (queued >= DURATION_MS * RATE_PER_MS) clearInterval(producer);
      }, 1);
      // The daemon's cadence: every 5 ms, commit if anything is queued and no commit is running.
      const committer = setInterval(() => {
        if (committing) return;
        if (pending.length === 0) {
          if (queued >= DURATION_MS * RATE_PER_MS) {
            clearInterval(committer);
            resolve();
          }
          return;
        }
        const carried = pending;
        pending = [];
        committing = true;
        backend.commit().then(
          (r) => {
            const done = performance.now();
            for (const t of carried) latencies.push(done - t);
            batchSizes.push(r.applied);
            committing = false;
          },
          (error: unknown) => {
            clearInterval(producer);
            clearInterval(committer);
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      }, 5);
    });
    const wallMs = performance.now() - start;
    return {
      bans: latencies.length,
      commits: batchSizes.length,
      meanBatch: latencies.length / batchSizes.length,
      wallMs,
      medianMs: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: Math.max(...latencies),
      inKernel: countBan4(),
    };
  } finally {
    await backend.teardown();
  }
}

async function bulk(): Promise<object> {
  const N = 100_000;
  const CALLS = 200;
  /** At 100,000 each `nft` process takes about a second, so fewer of them keep the suite near 2 minutes. */
  const CALLS_FULL = 20;
  const backend = new NftablesBackend();
  // One `nft add element` process per ban at set size 0 (a fresh, empty table).
  await backend.setup();
  const emptyCalls = nftPerCall(250, CALLS);
  await backend.setup(); // empty again
  try {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) backend.ban({ target: address(64, i), timeoutSeconds: TIMEOUT });
    const t1 = performance.now();
    const result = await backend.commit();
    const t2 = performance.now();
    const t3 = performance.now();
    const counted = countBan4();
    const countMs = performance.now() - t3;
    // The same process-per-ban way, now that 100,000 bans are in the set.
    const fullCalls = nftPerCall(250, CALLS_FULL);
    return {
      n: N,
      queueMs: t1 - t0,
      commitMs: t2 - t1,
      kernelMs: result.durationMs,
      totalMs: t2 - t0,
      applied: result.applied,
      counted,
      countMs,
      nftCalls: CALLS,
      nftEmptyMedianMs: quantile(emptyCalls, 0.5),
      nftEmptyMeanMs: emptyCalls.reduce((a, b) => a + b, 0) / CALLS,
      nftFullMedianMs: quantile(fullCalls, 0.5),
      nftFullCalls: CALLS_FULL,
      nftFullMeanMs: fullCalls.reduce((a, b) => a + b, 0) / CALLS_FULL,
      countAfterCalls: countBan4(),
    };
  } finally {
    await backend.teardown();
  }
}

/**
 * The table watch's price: with a listener on NFNLGRP_NFTABLES the kernel builds one notification per
 * element of our own batches (it skips them when no one listens), and the listener reads them. Each
 * round: a fresh table, 100,000 bans in one commit, then the listener drained; CPU is the process's
 * user+sys (the kernel's commit work runs in our sendmsg).
 */
async function watched(): Promise<object> {
  const N = 100_000;
  const rounds: { watched: boolean; commitMs: number; cpuMs: number; datagrams: number; bytes: number; lost: number }[] = [];
  const backend = new NftablesBackend();
  try {
    for (const w of [false, true, false, true]) {
      await backend.setup();
      const monitor = w ? new NftMonitor({}) : null;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < N; i++) backend.ban({ target: address(64, i), timeoutSeconds: TIMEOUT });
      await backend.commit();
      const commitMs = performance.now() - t0;
      // Drain: until the listener has read nothing new for 100 ms.
      let last = -1;
      while (monitor !== null && monitor.stats().datagrams !== last) {
        last = monitor.stats().datagrams;
        await new Promise((r) => setTimeout(r, 100));
      }
      const cpu = process.cpuUsage(cpu0);
      const s = monitor?.stats();
      monitor?.close();
      rounds.push({ watched: w, commitMs, cpuMs: (cpu.user + cpu.system) / 1000, datagrams: s?.datagrams ?? 0, bytes: s?.bytes ?? 0, lost: (s?.enobufs ?? 0) + (s?.truncated ?? 0) });
    }
  } finally {
    await backend.teardown();
  }
  return { n: N, rounds };
}

function iptables(n: number): object {
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      mustRun('iptables', ['-w', '-A', 'INPUT', '-s', address(220, i), '-j', 'DROP']);
      times.push(performance.now() - t0);
    }
    const rules = mustRun('iptables', ['-w', '-S', 'INPUT']).split('\n').filter((l) => l.startsWith('-A INPUT')).length;
    return { n, medianMs: quantile(times, 0.5), meanMs: times.reduce((a, b) => a + b, 0) / n, firstTenMeanMs: mean(times.slice(0, 10)), lastTenMeanMs: mean(times.slice(-10)), rules };
  } finally {
    spawnSync('iptables', ['-w', '-F', 'INPUT']);
  }
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

let out: object;
if (mode === 'latency') out = await latency();
else if (mode === 'bulk') out = await bulk();
else if (mode === 'iptables') out = iptables(Number(arg ?? 500));
else if (mode === 'watched') out = await watched();
else {
  process.stderr.write('usage: enforce-child latency|bulk|iptables N|watched (inside a network namespace)\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
