/**
 * The fleet suite's measured code: one fleet host (a ban book on the real nftables backend and the
 * fleet module on a real nats-server), INSIDE a throw-away `pwbench-` network namespace (bench/fleet.ts
 * starts it; it refuses to run elsewhere). Prints one JSON line. Roles:
 *   decide URL NAME KEYS N RATE FIRST  bans N addresses (from the FIRST-th) at RATE/s through the book (as detection does), each
 *                            reason carrying the wall-clock ms of its decision
 *   apply URL NAME KEYS N    applies the fleet's bans; for each, decision → in this kernel (commit end)
 *   fill URL N KEYS          writes N signed bans straight into the bucket (as host "filler")
 *   sync URL NAME KEYS N     a newly started host: time until all N are read and in its kernel
 * The ban book's record is a no-op here (the daemon writes SQLite first: bench `state` measures that).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { BanBook, type BanRecorder } from '../src/enforce/ban-book.js';
import { NftablesBackend } from '../src/enforce/nftables.js';
import { encodeSigned, keyOf } from '../src/fleet/codec.js';
import { Fleet } from '../src/fleet/fleet.js';
import { FLEET_DEFAULTS } from '../src/fleet/settings.js';
import { readKey } from '../src/fleet/signing.js';

const ns = spawnSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).stdout.trim();
if (!ns.startsWith('pwbench-')) {
  process.stderr.write(`fleet-child: not inside a pwbench- network namespace (got "${ns}"); refusing\n`);
  process.exit(3);
}

const [role, url, ...rest] = process.argv.slice(2);
const log = pino({ level: 'silent' });
const noRecord: BanRecorder<never> = { addBan: () => {}, liftBan: () => {}, persist: () => {} };

/** The i-th bench address: 10.200.0.0/14, every other one (no two adjacent: the kernel would merge them). */
function address(i: number): string {
  const n = (200 << 24) + 2 * i + 1;
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const quantile = (v: number[], q: number): number => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))] ?? NaN;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bench's keys (name → seed file text and public key, made by bench/fleet.ts): `name`'s key file, and every public key. */
function keysOf(json: string, name: string): { keyFile: string; trusted: Record<string, string> } {
  const all = JSON.parse(json) as Record<string, { seed: string; public: string }>;
  const keyFile = join(mkdtempSync(join(tmpdir(), 'pwbench-fleet-key-')), 'fleet.key');
  writeFileSync(keyFile, all[name].seed, { mode: 0o600 });
  return { keyFile, trusted: Object.fromEntries(Object.entries(all).map(([n, k]) => [n, k.public])) };
}

async function host(name: string, keysJson: string, listeners: ConstructorParameters<typeof BanBook<never>>[0]['listeners'] = []): Promise<{ fleet: Fleet; book: BanBook<never>; stop: () => Promise<void> }> {
  const { keyFile, trusted } = keysOf(keysJson, name);
  const backend = new NftablesBackend();
  await backend.setup();
  let book: BanBook<never> | undefined;
  const fleet = Fleet.open({
    settings: { ...FLEET_DEFAULTS, servers: [url], host: name, keyFile, trustedKeys: trusted, maxFleetBansPerMinute: 100_000_000, share: ['bans'], apply: ['bans'] },
    stateDir: mkdtempSync(join(tmpdir(), 'pwbench-fleet-state-')),
    book: () => book,
    guard: () => ({ protects: () => null }),
    log,
  });
  book = new BanBook<never>({ backend, recorder: noRecord, log, listeners: [fleet.listener, ...(listeners ?? [])] });
  const b = book;
  const commits = setInterval(() => void b.commit(), 5); // enforce.commitEveryMs
  fleet.start();
  return {
    fleet,
    book: b,
    stop: async () => {
      clearInterval(commits);
      await fleet.stop();
      await b.commit();
    },
  };
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await wait(2);
  }
}

function countBan4(): number {
  const r = spawnSync('nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const doc = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  return doc.nftables.reduce((n, i) => n + (i.set?.elem?.length ?? 0), 0);
}

async function decide(name: string, keysJson: string, n: number, perSecond: number, first: number): Promise<object> {
  const h = await host(name, keysJson);
  await until('connected', () => h.fleet.state === 'connected' && h.fleet.status().synced, 30_000);
  const start = performance.now();
  let made = 0;
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      const due = Math.min(n, Math.floor(((performance.now() - start) * perSecond) / 1000));
      for (; made < due; made++) h.book.ban(address(first + made), 3600, `bench t=${Date.now()}`, 'detection');
      if (made >= n) {
        clearInterval(t);
        resolve();
      }
    }, 1);
  });
  await until('published', () => h.fleet.status().outbox === 0, 60_000);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - start;
  await h.stop();
  return { made, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, published: h.fleet.status().counters['fleet.published'] };
}

async function apply(name: string, keysJson: string, n: number): Promise<object> {
  // Bans queued since the last commit, with their decision time; a commit's end is their arrival in the kernel.
  let pending: number[] = [];
  const latencies: number[] = [];
  /** Bans decided before this host was ready (an earlier phase's, read from the bucket) are not timed. */
  let readyAt = Infinity;
  const h = await host(name, keysJson, [
    {
      ban: (_target, _s, origin, reason) => {
        const t = Number(/t=(\d+)/.exec(reason)?.[1] ?? NaN);
        if (origin === 'fleet' && t >= readyAt) pending.push(t);
      },
      committed: () => {
        const now = Date.now();
        for (const t of pending) latencies.push(now - t);
        pending = [];
      },
    },
  ]);
  await until('connected and synced', () => h.fleet.state === 'connected' && h.fleet.status().synced, 120_000);
  await h.book.commit();
  readyAt = Date.now();
  process.stdout.write('ready\n');
  const cpu0 = process.cpuUsage();
  await until(`${n} bans`, () => latencies.length >= n, 600_000);
  const cpu = process.cpuUsage(cpu0);
  await h.stop();
  return { n: latencies.length, medianMs: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: Math.max(...latencies), cpuMs: (cpu.user + cpu.system) / 1000, inKernel: countBan4() };
}

async function fill(n: number): Promise<object> {
  const nc = await connect({ servers: url });
  const kv = await new Kvm(nc).create(FLEET_DEFAULTS.bucket, { history: 1, ttl: FLEET_DEFAULTS.bucketTtlSeconds * 1000 });
  const signer = readKey(keysOf(rest[1], 'filler').keyFile);
  const start = performance.now();
  const now = Date.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    const target = address(i);
    const p = kv.put(keyOf(target), encodeSigned(signer, { v: 1, t: 'ban', host: 'filler', target, reason: 'bench', incident: null, createdAt: now, expiresAt: now + 3_600_000 }));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 1024) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await nc.close();
  return { n, ms: performance.now() - start };
}

async function sync(name: string, keysJson: string, n: number): Promise<object> {
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const h = await host(name, keysJson);
  await until(`${n} bans read`, () => h.fleet.status().synced && h.book.active.size >= n, 900_000);
  const readMs = performance.now() - start;
  await h.book.commit();
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  await h.stop();
  return { n: h.book.active.size, readMs, ms, cpuMs: (cpu.user + cpu.system) / 1000, inKernel: countBan4() };
}

let out: object;
if (role === 'decide') out = await decide(rest[0], rest[1], Number(rest[2]), Number(rest[3]), Number(rest[4]));
else if (role === 'apply') out = await apply(rest[0], rest[1], Number(rest[2]));
else if (role === 'fill') out = await fill(Number(rest[0]));
else if (role === 'sync') out = await sync(rest[0], rest[1], Number(rest[2]));
else throw new Error(`unknown role ${String(role)}`);
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
