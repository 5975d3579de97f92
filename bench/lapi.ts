/**
 * `npm run bench -- lapi` (issue 14, item 6): what the CrowdSec decision stream costs with 100,000 bans
 * in the book, over real HTTP on loopback (port 0; nothing leaves the host, no firewall is touched):
 *  - a startup pull (every ban new), beside a same-run baseline: the same 100,000 decisions serialized
 *    from the book and sent by a bare node:http handler (what any answer of that size costs);
 *  - a delta pull with nothing changed, beside a same-run baseline: one pass over the book reading each
 *    ban's expiry (the least any "what changed" by reading the book can cost);
 *  - a delta pull after 1,000 bans and 1,000 unbans.
 * Wall time and CPU (user + sys of this process, client included), as decisions per CPU-second.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { BanBook } from '../src/enforce/ban-book.js';
import { DryRunBackend } from '../src/enforce/dry-run.js';
import { toDecision } from '../src/lapi/decision.js';
import { LapiServer } from '../src/lapi/server.js';
import { StateKeeper } from '../src/state/keeper.js';

const BANS = 100_000;
const CHURN = 1_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const KEY = 'bench-bouncer-key-0123456789';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Wall and CPU ms of `fn` (this process: server and client). */
async function measure(fn: () => Promise<unknown>): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function medianOf(fn: () => Promise<unknown>, before: () => Promise<void> = async () => {}): Promise<{ wallMs: number; cpuMs: number }> {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await before();
    const m = await measure(fn);
    walls.push(m.wallMs);
    cpus.push(m.cpuMs);
  }
  return { wallMs: median(walls), cpuMs: median(cpus) };
}

function address(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

export async function lapiSuite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portwarden-bench-lapi-'));
  const log = pino({ level: 'silent' });
  const keeper = StateKeeper.open(dir, log);
  const backend = new DryRunBackend(() => {});
  await backend.setup();
  const book = new BanBook({ backend, recorder: keeper, log });
  const server = await LapiServer.listen({ settings: { listen: '127.0.0.1:0', keys: [{ name: 'bench', key: KEY, maxDurationSeconds: null, ranges: 'range' }] }, book, log });
  const baseline = createServer((_req, res) => {
    const now = Date.now();
    const all = [];
    let id = 1;
    for (const [target, ban] of book.active) all.push(toDecision(id++, target, ban, now));
    const text = JSON.stringify({ deleted: null, new: all });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));
  const basePort = (baseline.address() as { port: number }).port;
  try {
    for (let i = 0; i < BANS; i++) book.ban(address(i), 3600 + (i % 600), 'syn scan of 1000 ports', 'detection');
    await book.commit();
    const pull = async (query: string) => {
      const r = await fetch(`http://${server.listening}/v1/decisions/stream${query}`, { headers: { 'x-api-key': KEY } });
      return (await r.json()) as { new: unknown[] | null; deleted: unknown[] | null };
    };
    let bytes = 0;
    const startup = await medianOf(async () => {
      const r = await fetch(`http://${server.listening}/v1/decisions/stream?startup=true`, { headers: { 'x-api-key': KEY } });
      const text = await r.text();
      bytes = text.length;
      if ((JSON.parse(text) as { new: unknown[] }).new.length !== BANS) throw new Error('startup pull: not every ban');
    });
    const bare = await medianOf(async () => (await (await fetch(`http://127.0.0.1:${basePort}/`)).json()) as unknown);
    const quiet = await medianOf(async () => {
      const r = await pull('');
      if (r.new !== null || r.deleted !== null) throw new Error('quiet pull: changes');
    });
    const pass = await medianOf(async () => {
      const now = Date.now();
      let live = 0;
      for (const [, ban] of book.active) if (ban.expiresAtMs === null || ban.expiresAtMs > now) live++;
      if (live !== BANS) throw new Error('pass: count');
    });
    let round = 0;
    const churn = await medianOf(
      async () => {
        const r = await pull('');
        if (r.new?.length !== CHURN || r.deleted?.length !== CHURN) throw new Error(`churn pull: ${r.new?.length} new, ${r.deleted?.length} deleted`);
      },
      async () => {
        // 1,000 unbans of bans the bouncer holds and 1,000 new bans it has not seen.
        round++;
        for (let i = 0; i < CHURN; i++) book.unban(address((round - 1) * CHURN + i));
        for (let i = 0; i < CHURN; i++) book.ban(address(BANS + round * CHURN + i), 600, 'churn', 'detection');
        await book.commit();
        await pull('');
        for (let i = 0; i < CHURN; i++) book.unban(address(BANS + round * CHURN + i));
        for (let i = 0; i < CHURN; i++) book.ban(address(BANS + 500_000 + round * CHURN + i), 600, 'churn', 'detection');
        await book.commit();
      },
    );
    const row = (name: string, m: { wallMs: number; cpuMs: number }, decisions: number, base?: { wallMs: number; cpuMs: number }) =>
      `${name.padEnd(52)} ${f(m.wallMs, 1).padStart(8)} ms wall ${f(m.cpuMs, 1).padStart(8)} ms CPU ${decisions > 0 ? `${f(decisions / (m.cpuMs / 1000)).padStart(11)} decisions/CPU-s` : ''.padStart(27)}${base ? `   ${(m.cpuMs / base.cpuMs).toFixed(2)}x the baseline's CPU` : ''}\n`;
    process.stdout.write(`\nlapi: decision stream with ${f(BANS)} bans, HTTP on loopback, median of ${RUNS} (CPU: user+sys of server and client)\n`);
    process.stdout.write(row(`startup pull (${f(bytes / 2 ** 20, 1)} MiB of JSON)`, startup, BANS, bare));
    process.stdout.write(row('  baseline: same decisions, bare node:http handler', bare, BANS));
    process.stdout.write(row('delta pull, nothing changed', quiet, 0, pass));
    process.stdout.write(row('  baseline: one pass over the book', pass, 0));
    process.stdout.write(row(`delta pull after ${f(CHURN)} bans + ${f(CHURN)} unbans`, churn, 2 * CHURN));
  } finally {
    await server.close();
    await new Promise<void>((resolve) => baseline.close(() => resolve()));
    keeper.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
