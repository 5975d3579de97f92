/**
 * `npm run bench -- feeds` (issue 13): a 1,000,000-entry feed (mixed IPv4 /32 and CIDRs, IPv6 /128 and
 * /48) into the kernel through portwarden's feed path, and a 1% update, beside `nft -f` of the same
 * merged ranges in the same run. Everything runs in a throw-away network namespace (`pwbench-feeds-<pid>`),
 * removed afterwards even on failure; the measured code is bench/feeds-child.ts, started inside it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from './node-flags.js';

const child = join(fileURLToPath(new URL('.', import.meta.url)), 'feeds-child.js');
/** How long the `nft -f` baseline may take before it is reported as not finished. */
const NFT_TIMEOUT_MS = 300_000;

interface Result {
  entries: number;
  ranges: number;
  loadMs: number;
  loadCpuMs: number;
  loadKernelMs: number;
  updateMs: number;
  updateCpuMs: number;
  updateKernelMs: number;
  updateKernelRanges: number;
  peakRssMb: number;
  nftLoadMs: number;
  nftLoadOk: boolean;
  nftLoadError: string | null;
  nftUpdateMs: number;
  nftUpdateOk: boolean;
  nftUpdateError: string | null;
}

const s = (ms: number) => (ms / 1000).toFixed(2);

export function feedsSuite(dir: string): void {
  process.stdout.write('== feeds: 1,000,000 feed entries into the kernel, and a 1% update, in a throw-away network namespace\n');
  const ns = `pwbench-feeds-${process.pid}`;
  const work = mkdtempSync(join(dir, 'feeds-'));
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS, child, work, String(NFT_TIMEOUT_MS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 2 * NFT_TIMEOUT_MS + 300_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!) as Result;
    const nft = (ok: boolean, ms: number, error: string | null) => (ok ? s(ms) : `not done (${error ?? 'failed'})`);
    process.stdout.write(`${r.entries.toLocaleString('en-US')} entries -> ${r.ranges.toLocaleString('en-US')} merged ranges; peak RSS of the loading process ${r.peakRssMb.toFixed(0)} MB\n`);
    const rows = [
      ['', 'wall s', 'CPU s (user+sys)', 'kernel transaction s'],
      ['portwarden: read, parse, merge, subtract, load', s(r.loadMs), s(r.loadCpuMs), s(r.loadKernelMs)],
      [`portwarden: 1% update (${r.updateKernelRanges.toLocaleString('en-US')} ranges changed)`, s(r.updateMs), s(r.updateCpuMs), s(r.updateKernelMs)],
      ['nft -f of the same merged ranges', nft(r.nftLoadOk, r.nftLoadMs, r.nftLoadError), '', ''],
      ['nft -f of the same 1% (delete + add)', nft(r.nftUpdateOk, r.nftUpdateMs, r.nftUpdateError), '', ''],
    ];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    for (const row of rows) process.stdout.write(`  ${row.map((cell, c) => cell.padEnd(widths[c])).join('  ')}\n`);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
    rmSync(work, { recursive: true, force: true });
  }
}
