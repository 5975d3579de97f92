/**
 * The feeds suite's measured code. Runs INSIDE a throw-away network namespace (bench/feeds.ts starts it
 * with `ip netns exec pwbench-… node dist/bench/feeds-child.js DIR`); refuses to run anywhere else.
 * Generates a 1,000,000-entry feed (mixed IPv4 /32 and CIDRs, IPv6 /128 and /48), then:
 *   portwarden  Feed.update() of the file (read, parse, merge, subtract, one netlink transaction),
 *               then a 1% update (10,000 entries replaced: a diff in one transaction); peak RSS and CPU
 *   nft -f      the same merged ranges loaded by `nft -f` into an identical set, and the same 1% as
 *               `delete element` + `add element` in one `nft -f`
 * Prints one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { runNft } from '../src/kernel/nft.js';
import { resolveNftRuleset, rulesetText } from '../src/enforce/nft-ruleset.js';
import { Feed } from '../src/intel/feeds/feed.js';
import { FeedStore } from '../src/intel/feeds/store.js';
import { buildExclusions } from '../src/intel/feeds/exclusions.js';
import { FeedKernelSets, feedsContribution } from '../src/intel/feeds/kernel-sets.js';
import { diffRanges, rangeCount, type RangeSet } from '../src/intel/feeds/ranges.js';
import { resolveFeed } from '../src/intel/settings.js';
import { formatNetwork } from '../src/net/address-set.js';

const ns = spawnSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).stdout.trim();
if (!ns.startsWith('pwbench-')) {
  process.stderr.write(`feeds-child: not inside a pwbench- network namespace (got "${ns}"); refusing\n`);
  process.exit(3);
}
const [dir, timeoutArg, writeVersion] = process.argv.slice(2);
const N = 1_000_000;
/** nft 1.0.6 checks intervals in user space: past this the baseline is reported as not finished. */
const NFT_TIMEOUT_MS = Number(timeoutArg ?? 300_000);

/** Entry i of version v: 1% of the entries (i % 100 === 0) differ between versions. */
function entry(i: number, v: number): string {
  const shift = i % 100 === 0 ? v * 7919 : 0;
  if (i < 700_000) {
    const n = (0x2d000000 + (i + shift) * 13) >>> 0; // 45.0.0.0 up, every 13th address
    return formatNetwork(4, 32, 0, 0, 0, n);
  }
  if (i < 800_000) {
    const k = i - 700_000 + shift;
    return `${formatNetwork(4, 32, 0, 0, 0, (0x50000000 + k * 512) >>> 0)}/24`; // 80.0.0.0 up, a /24 every 512
  }
  if (i < 950_000) {
    const k = i - 800_000 + shift;
    return `2a02:${(k >> 16).toString(16)}::${(k & 0xffff).toString(16)}`;
  }
  const k = i - 950_000 + shift;
  return `2a03:${(k >> 8).toString(16)}:${((k & 255) << 8).toString(16)}::/48`;
}

/** Writes version v of the feed file in a process of its own, so generating it is not in the measured RSS. */
function writeFeed(path: string, v: number): void {
  const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], dir, '0', String(v)], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`writing the feed file failed (${String(r.status)})`);
  const t = new Date(Date.UTC(2026, 0, 1) + v * 1000);
  utimesSync(path, t, t);
}

function generate(path: string, v: number): void {
  const lines = new Array<string>(N);
  for (let i = 0; i < N; i++) lines[i] = entry(i, v);
  writeFileSync(path, `${lines.join('\n')}\n`);
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

function rangeText(r: RangeSet, family: 4 | 6): string[] {
  const out: string[] = [];
  if (family === 4) {
    for (let i = 0; i < r.v4.start.length; i++) out.push(`${formatNetwork(4, 32, 0, 0, 0, r.v4.start[i])}-${formatNetwork(4, 32, 0, 0, 0, r.v4.end[i] - 1)}`);
    return out;
  }
  const w = (x: bigint) => [Number(x >> 96n) >>> 0, Number((x >> 64n) & 0xffffffffn), Number((x >> 32n) & 0xffffffffn), Number(x & 0xffffffffn)] as const;
  for (let i = 0; i < r.v6.start.length; i++) out.push(`${formatNetwork(6, 128, ...w(r.v6.start[i]))}-${formatNetwork(6, 128, ...w(r.v6.end[i] - 1n))}`);
  return out;
}

function elements(cmd: 'add' | 'delete', table: string, set: string, items: string[]): string {
  if (items.length === 0) return '';
  return `${cmd} element inet ${table} ${set} { ${items.join(', ')} }\n`;
}

async function main(): Promise<void> {
  const path = join(dir, 'bench-feed.txt');
  writeFeed(path, 0);
  const feedConfig = resolveFeed({ name: 'bench', url: `file://${path}`, format: 'plain', refresh: '1m', action: 'drop', maxBytes: 256 * 1024 * 1024 });
  await runNft('nft', ['-f', '-'], rulesetText(resolveNftRuleset({ contributions: [feedsContribution([feedConfig], false)] })));
  const kernel = new FeedKernelSets({ table: 'portwarden' });
  const feed = new Feed({ feed: feedConfig, store: new FeedStore(dir), sink: kernel.sink, exclusions: () => buildExclusions({ interfaceCidrs: ['10.0.0.2/24'], protectedNetworks: [] }), log: pino({ level: 'silent' }) });

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const first = await feed.update();
  const loadMs = performance.now() - t0;
  const loadCpuMs = cpuMs(process.cpuUsage(cpu0));
  const loadApply = kernel.lastApply;
  const before = feed.ranges;
  writeFeed(path, 1);
  const cpu1 = process.cpuUsage();
  const t1 = performance.now();
  const second = await feed.update();
  const updateMs = performance.now() - t1;
  const updateCpuMs = cpuMs(process.cpuUsage(cpu1));
  const after = feed.ranges;
  const diff = diffRanges(before, after);
  const peak = peakRssMb();
  kernel.close();
  process.stderr.write(`portwarden: load ${loadMs.toFixed(0)} ms, 1% update ${updateMs.toFixed(0)} ms, peak RSS ${peak.toFixed(0)} MB\n`);

  // nft -f of the same merged ranges, into an identical table of its own.
  await runNft('nft', ['-f', '-'], 'table inet pwbenchnft {\n set s4 { type ipv4_addr; flags interval; }\n set s6 { type ipv6_addr; flags interval; }\n}\n');
  const fullText = elements('add', 'pwbenchnft', 's4', rangeText(before, 4)) + elements('add', 'pwbenchnft', 's6', rangeText(before, 6));
  const t2 = performance.now();
  const nftLoad = spawnSync('nft', ['-f', '-'], { input: fullText, encoding: 'utf8', maxBuffer: 64 << 20, timeout: NFT_TIMEOUT_MS, killSignal: 'SIGKILL' });
  const nftLoadMs = performance.now() - t2;
  const diffText =
    elements('delete', 'pwbenchnft', 's4', rangeText(diff.remove, 4)) +
    elements('delete', 'pwbenchnft', 's6', rangeText(diff.remove, 6)) +
    elements('add', 'pwbenchnft', 's4', rangeText(diff.add, 4)) +
    elements('add', 'pwbenchnft', 's6', rangeText(diff.add, 6));
  const t3 = performance.now();
  const nftUpdate = nftLoad.status === 0 ? spawnSync('nft', ['-f', '-'], { input: diffText, encoding: 'utf8', maxBuffer: 64 << 20, timeout: NFT_TIMEOUT_MS, killSignal: 'SIGKILL' }) : null;
  const nftUpdateMs = performance.now() - t3;

  process.stdout.write(
    `${JSON.stringify({
      entries: N,
      ranges: rangeCount(before),
      first,
      second,
      loadMs,
      loadCpuMs,
      updateMs,
      updateCpuMs,
      loadKernelMs: loadApply?.ms,
      updateKernelMs: kernel.lastApply?.ms,
      updateKernelRanges: kernel.lastApply?.ranges,
      changedRanges: rangeCount(diff.remove) + rangeCount(diff.add),
      peakRssMb: peak,
      nftLoadMs,
      nftLoadOk: nftLoad.status === 0,
      nftLoadError: nftLoad.status === 0 ? null : (nftLoad.error?.message ?? nftLoad.stderr.slice(0, 300)),
      nftUpdateMs,
      nftUpdateOk: nftUpdate?.status === 0,
      nftUpdateError: nftUpdate === null ? 'not run: the load did not finish' : nftUpdate.status === 0 ? null : (nftUpdate.error?.message ?? nftUpdate.stderr.slice(0, 300)),
      nftTimeoutMs: NFT_TIMEOUT_MS,
    })}\n`,
  );
}

if (writeVersion !== undefined) generate(join(dir, 'bench-feed.txt'), Number(writeVersion));
else
  main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
