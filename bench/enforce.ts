/**
 * `npm run bench -- enforce` (issue: live daemon): how fast decisions reach the kernel through the
 * nftables backend, beside the seeds' process-per-ban way measured in the same run. Everything runs in a
 * network namespace of its own (`pwbench-<pid>`), removed afterwards even on failure: the host's own
 * firewall is never touched. The measured code is bench/enforce-child.ts, started inside it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from './node-flags.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const child = join(here, 'enforce-child.js');
const IPTABLES_N = 500;

interface Latency {
  bans: number;
  commits: number;
  meanBatch: number;
  wallMs: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
  inKernel: number;
}

interface Bulk {
  n: number;
  queueMs: number;
  commitMs: number;
  kernelMs: number;
  totalMs: number;
  applied: number;
  counted: number;
  countMs: number;
  nftCalls: number;
  nftEmptyMedianMs: number;
  nftEmptyMeanMs: number;
  nftFullMedianMs: number;
  nftFullCalls: number;
  nftFullMeanMs: number;
  countAfterCalls: number;
}

interface Watched {
  n: number;
  rounds: { watched: boolean; commitMs: number; cpuMs: number; datagrams: number; bytes: number; lost: number }[];
}

interface Iptables {
  n: number;
  medianMs: number;
  meanMs: number;
  firstTenMeanMs: number;
  lastTenMeanMs: number;
  rules: number;
}

function inNamespace<T>(ns: string, args: string[]): T {
  const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS, child, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 120_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

function secs(msTotal: number): string {
  return `${Math.round(msTotal / 1000).toLocaleString('en-US')} (extrapolated)`;
}

function ms(n: number): string {
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
}

function table(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) process.stdout.write(`  ${r.map((cell, c) => cell.padEnd(widths[c])).join('  ')}\n`);
}

export function enforceSuite(_dir: string): void {
  process.stdout.write('== enforce: decisions -> kernel (nftables backend), in a throw-away network namespace\n');
  const ns = `pwbench-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const lat = inNamespace<Latency>(ns, ['latency']);
    const bulk = inNamespace<Bulk>(ns, ['bulk']);
    const ipt = inNamespace<Iptables>(ns, ['iptables', String(IPTABLES_N)]);
    const watched = inNamespace<Watched>(ns, ['watched']);

    const perBan = bulk.commitMs / bulk.n;
    const perBanTotal = bulk.totalMs / bulk.n;
    process.stdout.write(
      `latency: ${lat.bans.toLocaleString('en-US')} bans at 1,000/s over ${ms(lat.wallMs / 1000)} s, commit every 5 ms: ${lat.commits} commits of ${lat.meanBatch.toFixed(1)} bans on average; ${lat.inKernel.toLocaleString('en-US')} in the kernel after\n`,
    );
    table([
      ['decision -> kernel at 1,000 bans/s', 'median ms', 'p99 ms', 'max ms'],
      ['nftables backend, 5 ms commits', ms(lat.medianMs), ms(lat.p99Ms), ms(lat.maxMs)],
    ]);
    process.stdout.write(
      `bulk: ${bulk.n.toLocaleString('en-US')} bans, one commit: queueing ${ms(bulk.queueMs)} ms, commit ${ms(bulk.commitMs)} ms (netlink ${ms(bulk.kernelMs)} ms), total ${ms(bulk.totalMs)} ms; applied ${bulk.applied.toLocaleString('en-US')}; nft -j list set counts ${bulk.counted.toLocaleString('en-US')} (listing took ${ms(bulk.countMs)} ms)\n`,
    );
    const rows: string[][] = [
      ['way to ban', 'per ban ms', 'per 100,000 bans s', 'vs batched commit (means)'],
      ['nftables backend, one commit of 100,000', (perBan).toFixed(4), (bulk.commitMs / 1000).toFixed(2), '1x'],
      ['  same, including queueing', (perBanTotal).toFixed(4), (bulk.totalMs / 1000).toFixed(2), `${(perBanTotal / perBan).toFixed(2)}x`],
      [`iptables -A process per ban (N=${ipt.n})`, ms(ipt.medianMs), secs(ipt.meanMs * 100_000), `${Math.round(ipt.meanMs / perBan).toLocaleString('en-US')}x`],
      [`nft add element process per ban, set size 0 (N=${bulk.nftCalls})`, ms(bulk.nftEmptyMedianMs), secs(bulk.nftEmptyMeanMs * 100_000), `${Math.round(bulk.nftEmptyMeanMs / perBan).toLocaleString('en-US')}x`],
      [`nft add element process per ban, set size 100,000 (N=${bulk.nftFullCalls})`, ms(bulk.nftFullMedianMs), secs(bulk.nftFullMeanMs * 100_000), `${Math.round(bulk.nftFullMeanMs / perBan).toLocaleString('en-US')}x`],
    ];
    table(rows);
    process.stdout.write(
      `notes: per-ban columns are medians of N process runs; "per 100,000" for the process-per-ban ways is N's mean x 100,000, extrapolated linearly, not measured ` +
        `(and the nft per-call time grows with the set: ${ms(bulk.nftEmptyMeanMs)} ms at 0 -> ${ms(bulk.nftFullMeanMs)} ms at 100,000, so a real run of 100,000 would land between). ` +
        `iptables: first 10 calls ${ms(ipt.firstTenMeanMs)} ms, last 10 ${ms(ipt.lastTenMeanMs)} ms, ${ipt.rules} rules; its rules are also matched one by one per packet (linear), the set lookup is not.\n`,
    );
    const side = (w: boolean) => watched.rounds.filter((r) => r.watched === w);
    const avg = (rs: Watched['rounds'], k: 'commitMs' | 'cpuMs') => rs.reduce((a, r) => a + r[k], 0) / rs.length;
    const [off, on] = [side(false), side(true)];
    table([
      [`table watch (nf_tables listener) and our own batch of ${watched.n.toLocaleString('en-US')} bans, same run, 2 rounds each`, 'commit ms', 'CPU ms (user+sys)', 'bans per CPU-s', 'notifications read'],
      ['no listener', ms(avg(off, 'commitMs')), ms(avg(off, 'cpuMs')), Math.round(watched.n / (avg(off, 'cpuMs') / 1000)).toLocaleString('en-US'), '0'],
      [
        'listener open (as in the daemon)',
        ms(avg(on, 'commitMs')),
        ms(avg(on, 'cpuMs')),
        Math.round(watched.n / (avg(on, 'cpuMs') / 1000)).toLocaleString('en-US'),
        `${on[0].datagrams.toLocaleString('en-US')} datagrams, ${(on[0].bytes / 1e6).toFixed(1)} MB, ${on.reduce((a, r) => a + r.lost, 0)} overflow(s)`,
      ],
    ]);
    process.stdout.write(`notes: with a listener the kernel builds a notification per element of our batches (none without one); an overflow only makes the watch check the table once.\n`);
    process.stdout.write(
      `goals: decision -> kernel at 1,000 bans/s median < 5 ms: ${lat.medianMs < 5 ? 'met' : 'NOT met'}; p99 < 25 ms: ${lat.p99Ms < 25 ? 'met' : 'NOT met'}; ` +
        `100,000 bans into the kernel < 2 s: ${bulk.totalMs < 2000 && bulk.counted === bulk.n ? 'met' : 'NOT met'} (${ms(bulk.totalMs)} ms with queueing, ${bulk.counted === bulk.n ? 'count verified' : `count ${bulk.counted} != ${bulk.n}`})\n`,
    );
  } finally {
    const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
    if (r.status !== 0) process.stderr.write(`could not delete network namespace ${ns}: ${r.stderr}`);
  }
}
