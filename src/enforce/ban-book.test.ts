/**
 * The ban book on the dry-run backend (the planner nftables uses, without a kernel) and the real state
 * database in a temporary directory: batching into one transaction, the record written before the
 * kernel, one commit at a time, refusals, remaining time, and the repair plan of a reconcile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { EventLogger } from '../model/logger.js';
import { StateKeeper } from '../state/keeper.js';
import type { EnforcementBackend } from './backend.js';
import { BanBook, missingFromKernel, type ActiveBan, type BanListener } from './ban-book.js';
import { DryRunBackend, type DryRunLogEntry } from './dry-run.js';

interface Lab {
  book: BanBook;
  keeper: StateKeeper;
  backend: DryRunBackend;
  /** Element changes per commit of the backend, as 'add ban4 192.0.2.7 60'. */
  commits: string[][];
  /** Log lines (event.action and source.ip). */
  logged: { action: string; target?: string }[];
  cleanup(): void;
}

function logger(into: { action: string; target?: string }[]): EventLogger {
  return pino(
    { level: 'debug', base: null },
    {
      write(line: string) {
        const r = JSON.parse(line) as Record<string, unknown>;
        into.push({ action: String(r['event.action']), target: r['source.ip'] as string | undefined });
      },
    },
  );
}

async function lab(options: { setup?: boolean; listeners?: BanListener[]; clock?: () => number; wrap?: (b: DryRunBackend) => EnforcementBackend } = {}): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-ban-book-'));
  const logged: Lab['logged'] = [];
  const log = logger(logged);
  const keeper = StateKeeper.open(dir, log);
  const commits: string[][] = [];
  let current: string[] | null = null;
  const onEntry = (e: DryRunLogEntry) => {
    if (e.event === 'add-element') current?.push(`add ${e.set} ${e.target} ${e.timeoutSeconds}`);
    if (e.event === 'delete-element') current?.push(`delete ${e.set} ${e.target}`);
  };
  const backend = new DryRunBackend(onEntry, { clock: options.clock });
  // Each commit of the backend is one transaction: collect its element changes together.
  const commit = backend.commit.bind(backend);
  backend.commit = async () => {
    current = [];
    commits.push(current);
    return commit();
  };
  if (options.setup !== false) await backend.setup();
  const book = new BanBook({ backend: options.wrap?.(backend) ?? backend, recorder: keeper, log, listeners: options.listeners, clock: options.clock });
  return { book, keeper, backend, commits, logged, cleanup: () => (keeper.close(), rmSync(dir, { recursive: true, force: true })) };
}

test('bans queued between commits go to the kernel in one transaction, recorded in the database first', async () => {
  const l = await lab();
  try {
    l.book.ban('192.0.2.7', 60, 'scan', 'detection');
    l.book.ban('2001:db8::/64', null, 'scan', 'detection', '2nd offence');
    l.book.ban('198.51.100.0/24', 600, 'operator', 'operator');
    assert.equal(l.book.queued, 3);
    assert.equal(l.commits.length, 0, 'nothing reaches the backend before commit');
    // The record is written when the commit starts, before the backend's transaction.
    const inDatabaseAtCommit: string[] = [];
    const commit = l.backend.commit;
    l.backend.commit = async () => {
      inDatabaseAtCommit.push(...l.keeper.store.liveBans(Date.now()).map((b) => b.target));
      return commit();
    };
    await l.book.commit();
    assert.deepEqual(l.commits, [['add ban4 192.0.2.7 60', 'add ban6 2001:db8::/64 null', 'add ban4 198.51.100.0/24 600']]);
    assert.deepEqual(inDatabaseAtCommit.sort(), ['192.0.2.7', '198.51.100.0/24', '2001:db8::/64']);
    assert.equal(l.book.queued, 0);
    assert.equal(l.book.get('2001:db8::/64')?.origin, 'detection');
    assert.ok(l.book.active.addresses.match('198.51.100.9') !== null, 'the address index covers prefixes (inline mode asks it per packet)');
    // Nothing queued: a commit sends nothing.
    await l.book.commit();
    assert.equal(l.commits.length, 1);
  } finally {
    l.cleanup();
  }
});

test('one commit at a time: a caller during a commit waits, then commits its own change in the next transaction', async () => {
  const l = await lab();
  try {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const commit = l.backend.commit;
    let calls = 0;
    // The backend takes its queue when called (as nftables does) and answers once released.
    l.backend.commit = async () => {
      const result = commit();
      if (calls++ === 0) await gate;
      return result;
    };
    l.book.ban('192.0.2.1', 60, 'scan', 'detection');
    const first = l.book.commit();
    l.book.ban('192.0.2.2', 60, 'scan', 'detection');
    let secondDone = false;
    const second = l.book.commit().then(() => (secondDone = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(secondDone, false, 'the second caller waits for the commit under way');
    release();
    await Promise.all([first, second]);
    assert.deepEqual(l.commits, [['add ban4 192.0.2.1 60'], ['add ban4 192.0.2.2 60']]);
  } finally {
    l.cleanup();
  }
});

test('listeners hear bans, unbans and commits; a refused change is logged and reported, and the book keeps it for repair', async () => {
  const heard: string[] = [];
  const listener: BanListener = {
    ban: (target, seconds, origin, reason) => heard.push(`ban ${target} ${seconds} ${origin} ${reason}`),
    unban: (target) => heard.push(`unban ${target}`),
    committed: (queuedAt) => heard.push(`committed ${queuedAt.length}`),
    refused: (message, target) => heard.push(`refused ${target}: ${message}`),
  };
  const l = await lab({ setup: false, listeners: [listener] }); // no table: the backend refuses bans
  try {
    l.book.ban('192.0.2.7', 60, 'scan', 'detection');
    await l.book.commit();
    assert.equal(heard[0], 'ban 192.0.2.7 60 detection scan');
    assert.match(heard[1], /^refused 192\.0\.2\.7: kernel refused ban 192\.0\.2\.7: ENOENT/);
    assert.ok(l.logged.some((e) => e.action === 'enforce-failed' && e.target === '192.0.2.7'));
    assert.ok(l.book.has('192.0.2.7'), 'still in the book: the reconciler puts it back');
    await l.backend.setup();
    assert.equal(l.book.unban('192.0.2.7'), true);
    assert.equal(l.book.unban('192.0.2.7'), false, 'a second unban finds nothing');
    await l.book.commit();
    assert.deepEqual(heard.slice(2), ['unban 192.0.2.7', 'unban 192.0.2.7', 'committed 2']);
    assert.equal(l.keeper.store.liveBans(Date.now()).length, 0, 'the unban is recorded too');
  } finally {
    l.cleanup();
  }
});

test('remaining seconds: rounded up while banned, null without expiry, undefined once ended or never banned', async () => {
  let now = 1_000_000;
  const l = await lab({ clock: () => now });
  try {
    l.book.ban('192.0.2.7', 60, 'scan', 'detection');
    l.book.ban('192.0.2.8', null, 'scan', 'operator');
    now += 500;
    assert.equal(l.book.remainingSeconds('192.0.2.7', now), 60);
    now += 59_000;
    assert.equal(l.book.remainingSeconds('192.0.2.7', now), 1);
    now += 500;
    assert.equal(l.book.remainingSeconds('192.0.2.7', now), undefined);
    assert.equal(l.book.remainingSeconds('192.0.2.8', now), null);
    assert.equal(l.book.remainingSeconds('192.0.2.9', now), undefined);
  } finally {
    l.cleanup();
  }
});

test('repair plan: bans the kernel lost go back; ended ones leave the book, ones about to end are let go', () => {
  const now = 5_000_000;
  const book = new Map<string, ActiveBan>([
    ['192.0.2.1', { reason: 'r', expiresAtMs: now + 60_000, origin: 'detection', createdAtMs: now }], // in the kernel
    ['192.0.2.2', { reason: 'r', expiresAtMs: now + 60_000, origin: 'detection', createdAtMs: now }], // lost
    ['192.0.2.3', { reason: 'r', expiresAtMs: null, origin: 'operator', createdAtMs: now }], // lost, no expiry
    ['192.0.2.4', { reason: 'r', expiresAtMs: now + 500, origin: 'detection', createdAtMs: now }], // lost, about to end
    ['192.0.2.5', { reason: 'r', expiresAtMs: now - 1, origin: 'detection', createdAtMs: now }], // ended
  ]);
  assert.deepEqual(missingFromKernel(book, new Set(['192.0.2.1']), now), ['192.0.2.2', '192.0.2.3']);
  assert.deepEqual([...book.keys()], ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']);
});

test('repairMissing puts back a ban someone deleted from the kernel, with the time it has left, and counts the repair', async () => {
  // The dry-run planner behind a backend that says it is a kernel one (repairs skip dry runs).
  const l = await lab({ wrap: (b) => kernelLike(b) });
  try {
    l.book.ban('192.0.2.1', 600, 'scan', 'detection');
    l.book.ban('192.0.2.2', 600, 'scan', 'detection');
    await l.book.commit();
    // Someone deletes one element behind the daemon's back.
    l.backend.unban('192.0.2.2');
    await l.backend.commit();
    assert.deepEqual((await l.backend.bans()).map((b) => b.target), ['192.0.2.1']);
    await l.book.repairMissing();
    assert.equal(l.book.repairs, 1);
    assert.ok(l.logged.some((e) => e.action === 'reconcile-element' && e.target === '192.0.2.2'));
    await l.book.commit();
    const back = (await l.backend.bans()).find((b) => b.target === '192.0.2.2');
    assert.ok(back !== undefined && back.expiresInSeconds !== null && back.expiresInSeconds > 590 && back.expiresInSeconds <= 600, `back with its time left: ${JSON.stringify(back)}`);
  } finally {
    l.cleanup();
  }
});

test('reinstall after the table was set up again: every ban still due goes back, ended ones leave the book', async () => {
  let now = 2_000_000;
  const l = await lab({ clock: () => now });
  try {
    l.book.ban('192.0.2.1', 10, 'scan', 'detection');
    l.book.ban('192.0.2.2', 100, 'scan', 'detection');
    l.book.ban('2001:db8::/64', null, 'scan', 'operator');
    await l.book.commit();
    now += 20_000;
    await l.backend.setup(); // an empty table again
    l.book.reinstall();
    await l.book.commit();
    assert.deepEqual(l.commits.at(-1), ['add ban4 192.0.2.2 80', 'add ban6 2001:db8::/64 null']);
    assert.deepEqual([...l.book.active.keys()].sort(), ['192.0.2.2', '2001:db8::/64']);
  } finally {
    l.cleanup();
  }
});

test('unbans during a restore comparison are collected, and only then', async () => {
  const l = await lab();
  try {
    l.book.unban('192.0.2.1');
    const seen = l.book.watchUnbans();
    l.book.unban('192.0.2.2');
    l.book.stopWatching();
    l.book.unban('192.0.2.3');
    assert.deepEqual([...seen], ['192.0.2.2']);
  } finally {
    l.cleanup();
  }
});

/** `inner`, answering as the nftables backend would name itself. */
function kernelLike(inner: DryRunBackend): EnforcementBackend {
  return {
    name: 'nftables',
    setup: () => inner.setup(),
    ban: (b) => inner.ban(b),
    unban: (t) => inner.unban(t),
    allow: (t) => inner.allow(t),
    disallow: (t) => inner.disallow(t),
    commit: () => inner.commit(),
    bans: () => inner.bans(),
    present: () => inner.present(),
    teardown: () => inner.teardown(),
  };
}

test('a prefix retires the bans inside it in the book and the database; a ban inside a prefix is covered and recorded nowhere as its own', async () => {
  const l = await lab();
  try {
    for (const a of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) l.book.ban(a, a === '192.0.2.3' ? 7200 : 60, 'scan', 'detection');
    await l.book.commit();
    const wide = l.book.ban('192.0.2.0/24', 600, 'widened', 'detection');
    assert.equal(wide.kind, 'banned');
    assert.deepEqual(wide.kind === 'banned' ? wide.retired.sort() : [], ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    await l.book.commit();
    assert.deepEqual([...l.book.active.keys()], ['192.0.2.0/24']);
    assert.ok((l.book.get('192.0.2.0/24')?.expiresAtMs ?? 0) - Date.now() > 7100_000, 'as long as the longest ban it swallowed');
    assert.deepEqual(l.keeper.liveBans(Date.now()).map((b) => b.target), ['192.0.2.0/24'], 'the database counts one ban, as the kernel does');
    assert.deepEqual((await l.backend.bans()).map((b) => b.target), ['192.0.2.0/24']);

    const inside = l.book.ban('192.0.2.77/32', 60, 'scan', 'detection');
    assert.deepEqual(inside, { kind: 'covered', target: '192.0.2.77', by: '192.0.2.0/24', expiresAtMs: l.book.get('192.0.2.0/24')?.expiresAtMs ?? null });
    assert.equal(l.book.queued, 0, 'nothing for the kernel');
    await l.book.commit();
    assert.deepEqual(l.keeper.liveBans(Date.now()).map((b) => b.target), ['192.0.2.0/24']);
    assert.ok(l.logged.some((e) => e.action === 'ban-covered' && e.target === '192.0.2.77'));
    assert.equal(l.book.coveringBan('192.0.2.5')?.target, '192.0.2.0/24');
    assert.equal(l.book.coveringBan('192.0.2.0/24'), undefined, 'a ban does not cover itself');
  } finally {
    l.cleanup();
  }
});
