/**
 * The state suite's measured code (bench/state.ts starts it; prints one JSON line). Modes:
 *   incidents DIR N   N incidents written the daemon's way (queued, one transaction per batch of 1,000,
 *                     fsynced), then: file size, peak RSS, history and since queries, a purge of the
 *                     older half with compaction, and the file size after
 *   restore DIR N     N live bans in the database, then the daemon's restart path twice: with no table
 *                     (reboot) and with the table holding them (daemon restart); runs INSIDE a
 *                     throw-away pwbench- network namespace only, since it replaces `inet portwarden`
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { IncidentRecord } from '../src/model/incident.js';
import { NftablesBackend } from '../src/enforce/nftables.js';
import { openStateReadOnly, STATE_FILE } from '../src/state/database.js';
import { IncidentStore } from '../src/state/incident-store.js';
import { planRestore } from '../src/state/restore.js';
import { openState } from '../src/state/state-store.js';

const [mode, dir, nText] = process.argv.slice(2);
const n = Number(nText);

const fail = (e: Error) => {
  throw e;
};

function address(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function fileBytes(): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(join(dir, STATE_FILE + suffix)).size;
    } catch {
      // no WAL
    }
  }
  return total;
}

async function incidents(): Promise<object> {
  const state = openState(dir, fail);
  const day = 86_400_000;
  const t0 = Date.now() - 30 * day;
  const record = (i: number): IncidentRecord => ({
    kind: 'scan',
    class: 'syn',
    'source.ip': address(i % 200_000),
    'destination.ip': '192.0.2.1',
    ports: { count: 120, sample: ['tcp/21', 'tcp/22', 'tcp/23', 'tcp/25', 'tcp/80'] },
    probes: 130,
    first_seen: new Date(t0 + i * 2_000).toISOString(),
    last_seen: new Date(t0 + i * 2_000 + 1_500).toISOString(),
    confidence: 0.999,
    evidence: { trigger: 'trw', failures: 120, successes: 0, probe_classes: { syn: 120 } },
  });
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    // 1M incidents 2.6 s apart: 30 days.
    state.addIncident({ atMs: t0 + Math.floor((i * 30 * day) / n), record: record(i), decision: 'ban', reason: `Vertical SYN scan of 192.0.2.1 from ${address(i % 200_000)}, 120 ports. Banned for 1 h.` });
    if (i % 1_000 === 999) state.flush();
  }
  state.flush();
  const insertMs = performance.now() - start;
  const bytesFull = fileBytes();
  const rssFull = process.memoryUsage().rss;

  const ro = openStateReadOnly(dir);
  const store = new IncidentStore(ro);
  let q = performance.now();
  const history = store.forAddress(address(4242), 1_000).length;
  const historyMs = performance.now() - q;
  q = performance.now();
  const lastHour = store.since(Date.now() - 3_600_000, 1_000).length;
  const sinceMs = performance.now() - q;
  ro.close();

  q = performance.now();
  const purged = await state.purge(Date.now(), { incidentRetentionSeconds: 15 * 86_400, banRetentionSeconds: 90 * 86_400, offenderRetentionSeconds: 365 * 86_400 });
  const purgeMs = performance.now() - q;
  const bytesAfter = fileBytes();
  state.close();
  return {
    n,
    insertMs,
    perSecond: (n / insertMs) * 1000,
    bytesFull,
    history,
    historyMs,
    lastHour,
    sinceMs,
    purged: purged.incidents,
    vacuumedPages: purged.vacuumedPages,
    purgeMs,
    bytesAfter,
    rssFullMiB: rssFull / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

function countBan4(): number {
  const r = spawnSync('nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4'], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  const doc = JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
  return doc.nftables.reduce((c, item) => c + (item.set?.elem?.length ?? 0), 0);
}

/**
 * What Daemon#start does for bans. Table present (a daemon restart): the rules are replaced around the
 * ban sets, which keep their elements; the database's bans are adopted, and the comparison with the
 * kernel's list (the background part) puts back what is missing. No table (a reboot): every database
 * ban goes into the kernel in one commit. `ms` is the time until every ban is enforced again.
 */
async function restartPath(): Promise<{ ms: number; kept: boolean; compareMs: number; kernelReadMs: number; dbMs: number; restored: number; inKernel: number }> {
  const t = performance.now();
  const backend = new NftablesBackend();
  const present = await backend.present();
  const kept = present && (await backend.setupKeepingBans()) === null;
  const d = performance.now();
  const state = openState(dir, fail);
  const stored = state.liveBans(Date.now());
  const dbMs = performance.now() - d;
  let ms: number;
  let kernelReadMs = 0;
  let compareMs = 0;
  let restored: number;
  if (kept) {
    backend.adoptBans(stored.map((b) => ({ target: b.target, expiresAtMs: b.expiresMs })));
    ms = performance.now() - t;
    const k = performance.now();
    const kernel = await backend.bans();
    kernelReadMs = performance.now() - k;
    const plan = planRestore(stored, kernel, true, Date.now());
    const missing = new Set(plan.repairs.filter((r) => r.kind === 'missing-from-kernel').map((r) => r.target));
    for (const b of plan.restore) {
      if (!missing.has(b.target)) continue;
      backend.forgetBan(b.target);
      backend.ban({ target: b.target, timeoutSeconds: b.seconds });
    }
    await backend.commit();
    compareMs = performance.now() - t;
    restored = plan.restore.length;
  } else {
    const k = performance.now();
    const kernel = present ? await backend.bans() : [];
    kernelReadMs = performance.now() - k;
    const plan = planRestore(stored, kernel, present, Date.now());
    await backend.setup();
    for (const b of plan.restore) backend.ban({ target: b.target, timeoutSeconds: b.seconds });
    await backend.commit();
    ms = performance.now() - t;
    compareMs = ms;
    restored = plan.restore.length;
  }
  state.close();
  backend.close();
  return { ms, kept, compareMs, kernelReadMs, dbMs, restored, inKernel: countBan4() };
}

async function restore(): Promise<object> {
  const ns = spawnSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).stdout.trim();
  if (!ns.startsWith('pwbench-')) {
    process.stderr.write(`state-child: not inside a pwbench- network namespace (got "${ns}"); refusing\n`);
    process.exit(3);
  }
  const state = openState(dir, fail);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    state.addBan({ target: address(i * 2 + 1), reason: 'bench', createdMs: now, expiresMs: now + 3_600_000 + i, origin: 'detection', durationWhy: '1st offence' }, null);
    if (i % 10_000 === 9_999) state.flush();
  }
  state.close();
  const reboot = await restartPath();
  const restart = await restartPath();
  const cleanup = new NftablesBackend();
  await cleanup.teardown();
  cleanup.close();
  return { n, reboot, restart };
}

const out = mode === 'incidents' ? await incidents() : mode === 'restore' ? await restore() : null;
if (out === null) {
  process.stderr.write('usage: state-child incidents|restore DIR N\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
