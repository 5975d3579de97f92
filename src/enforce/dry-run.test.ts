/**
 * The dry-run backend, and through it the planner both backends share (overlaps, refreshes,
 * expiry), on a fake clock: what would go into the kernel, step by step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortwardenError } from '../errors.js';
import type { KernelBan } from '../model/ban.js';
import { EnforceError } from './decisions.js';
import { DryRunBackend, type DryRunLogEntry } from './dry-run.js';

type Step =
  | { ban: string; seconds: number | null }
  | { unban: string }
  | { allow: string }
  | { disallow: string }
  | { commit: true }
  | { advanceMs: number };

interface Case {
  name: string;
  steps: Step[];
  /** bans() at the end (sorted by target). */
  bans: KernelBan[];
  /** Element changes logged by the last commit, as 'add ban4 192.0.2.7 60' / 'delete ban4 192.0.2.7'. */
  lastCommit?: string[];
}

const cases: Case[] = [
  {
    name: 'a ban expires after its timeout',
    steps: [{ ban: '192.0.2.7', seconds: 60 }, { commit: true }, { advanceMs: 59_500 }],
    bans: [{ target: '192.0.2.7', expiresInSeconds: 0 }],
  },
  {
    name: 'gone after the timeout',
    steps: [{ ban: '192.0.2.7', seconds: 60 }, { commit: true }, { advanceMs: 60_000 }],
    bans: [],
  },
  {
    name: 'a ban without timeout stays',
    steps: [{ ban: '2001:db8::/64', seconds: null }, { commit: true }, { advanceMs: 1e9 }],
    bans: [{ target: '2001:db8::/64', expiresInSeconds: null }],
  },
  {
    name: 're-ban restarts the timer (delete + add)',
    steps: [{ ban: '192.0.2.7', seconds: 60 }, { commit: true }, { advanceMs: 30_000 }, { ban: '192.0.2.7', seconds: 60 }, { commit: true }],
    bans: [{ target: '192.0.2.7', expiresInSeconds: 60 }],
    lastCommit: ['delete ban4 192.0.2.7', 'add ban4 192.0.2.7 60'],
  },
  {
    name: 'a shorter re-ban never cuts the ban short',
    steps: [{ ban: '192.0.2.7', seconds: 600 }, { commit: true }, { ban: '192.0.2.7', seconds: 60 }, { commit: true }],
    bans: [{ target: '192.0.2.7', expiresInSeconds: 600 }],
  },
  {
    name: 'a network absorbs the bans inside it and keeps the latest expiry',
    steps: [
      { ban: '192.0.2.7', seconds: 600 },
      { ban: '192.0.2.9', seconds: 30 },
      { commit: true },
      { ban: '192.0.2.0/24', seconds: 60 },
      { commit: true },
    ],
    bans: [{ target: '192.0.2.0/24', expiresInSeconds: 600 }],
    lastCommit: ['delete ban4 192.0.2.7', 'delete ban4 192.0.2.9', 'add ban4 192.0.2.0/24 600'],
  },
  {
    name: 'a ban inside a longer network ban changes nothing',
    steps: [{ ban: '192.0.2.0/24', seconds: 600 }, { commit: true }, { ban: '192.0.2.7', seconds: 60 }, { commit: true }],
    bans: [{ target: '192.0.2.0/24', expiresInSeconds: 600 }],
    lastCommit: [],
  },
  {
    name: 'a ban inside a shorter network ban extends the network',
    steps: [{ ban: '2001:db8::/64', seconds: 60 }, { commit: true }, { ban: '2001:db8::7', seconds: 600 }, { commit: true }],
    bans: [{ target: '2001:db8::/64', expiresInSeconds: 600 }],
    lastCommit: ['delete ban6 2001:db8::/64', 'add ban6 2001:db8::/64 600'],
  },
  {
    name: 'within one commit, nothing added is deleted again: only the final element goes in',
    steps: [
      { ban: '192.0.2.7', seconds: 60 },
      { ban: '192.0.2.0/24', seconds: 30 },
      { ban: '192.0.2.8', seconds: 90 },
      { ban: '192.0.2.0/24', seconds: 10 },
      { commit: true },
    ],
    bans: [{ target: '192.0.2.0/24', expiresInSeconds: 90 }],
    lastCommit: ['add ban4 192.0.2.0/24 90'],
  },
  {
    name: 'ban then unban in one commit is nothing',
    steps: [{ ban: '192.0.2.7', seconds: 60 }, { unban: '192.0.2.7' }, { commit: true }],
    bans: [],
    lastCommit: [],
  },
  {
    name: 'unban removes exactly that element; an expired ban needs no deletion',
    steps: [
      { ban: '192.0.2.7', seconds: 60 },
      { ban: '192.0.2.8', seconds: 1 },
      { commit: true },
      { advanceMs: 2000 },
      { unban: '192.0.2.7' },
      { unban: '192.0.2.8' },
      { unban: '198.51.100.1' },
      { commit: true },
    ],
    bans: [],
    lastCommit: ['delete ban4 192.0.2.7'],
  },
  {
    name: 'the allowlist keeps only the widest entries in the kernel',
    steps: [{ allow: '10.0.0.1' }, { allow: '10.1.0.0/16' }, { commit: true }, { allow: '10.0.0.0/8' }, { commit: true }],
    bans: [],
    lastCommit: ['delete allow4 10.0.0.1', 'delete allow4 10.1.0.0/16', 'add allow4 10.0.0.0/8'],
  },
  {
    name: 'disallowing a network puts back the allowed entries inside it',
    steps: [{ allow: '10.0.0.1' }, { allow: '10.0.0.0/8' }, { allow: '10.1.2.0/24' }, { commit: true }, { disallow: '10.0.0.0/8' }, { commit: true }],
    bans: [],
    lastCommit: ['delete allow4 10.0.0.0/8', 'add allow4 10.1.2.0/24', 'add allow4 10.0.0.1'],
  },
];

for (const c of cases) {
  test(`dry-run: ${c.name}`, async () => {
    let now = 1_000_000;
    const log: DryRunLogEntry[] = [];
    const backend = new DryRunBackend((entry) => log.push(entry), { clock: () => now });
    await backend.setup();
    let lastCommitStart = log.length;
    for (const step of c.steps) {
      if ('ban' in step) backend.ban({ target: step.ban, timeoutSeconds: step.seconds });
      else if ('unban' in step) backend.unban(step.unban);
      else if ('allow' in step) backend.allow(step.allow);
      else if ('disallow' in step) backend.disallow(step.disallow);
      else if ('advanceMs' in step) now += step.advanceMs;
      else {
        lastCommitStart = log.length;
        await backend.commit();
      }
    }
    const bans = (await backend.bans()).sort((a, b) => a.target.localeCompare(b.target));
    assert.deepEqual(bans, c.bans);
    if (c.lastCommit) {
      const lines = log.slice(lastCommitStart).map((e) =>
        e.event === 'add-element' ? `add ${e.set} ${e.target}${e.timeoutSeconds === null ? '' : ` ${e.timeoutSeconds}`}` : e.event === 'delete-element' ? `delete ${e.set} ${e.target}` : e.event,
      );
      assert.deepEqual(lines, c.lastCommit);
    }
  });
}

test('dry-run: each logged change names the decision behind it', async () => {
  const log: DryRunLogEntry[] = [];
  const backend = new DryRunBackend((entry) => log.push(entry), { clock: () => 0 });
  await backend.setup();
  backend.ban({ target: '198.51.100.7', timeoutSeconds: 2.5 });
  backend.ban({ target: '198.51.100.0/24', timeoutSeconds: 1 });
  assert.equal((await backend.commit()).applied, 2);
  assert.deepEqual(log, [
    { event: 'setup' },
    { event: 'add-element', set: 'ban4', target: '198.51.100.0/24', timeoutSeconds: 2.5, decision: { action: 'ban', target: '198.51.100.0/24' } },
  ]);
});

test('dry-run: before setup and after teardown nothing can be added (as with a missing table)', async () => {
  const backend = new DryRunBackend(() => {});
  assert.equal(await backend.present(), false);
  backend.ban({ target: '192.0.2.7', timeoutSeconds: 60 });
  backend.unban('192.0.2.8');
  await assert.rejects(backend.commit(), (error: unknown) => {
    assert.ok(error instanceof EnforceError);
    assert.equal(error.code, 'PW_ERR_ENFORCE');
    assert.deepEqual(error.failures.map((f) => [f.action, f.target]), [['ban', '192.0.2.7']]);
    assert.equal(error.applied, 1);
    return true;
  });
  await backend.setup();
  assert.equal(await backend.present(), true);
  await backend.teardown();
  assert.equal(await backend.present(), false);
  await assert.rejects(backend.bans(), { code: 'PW_ERR_ENFORCE' });
});

test('dry-run: invalid decisions are refused when queued', () => {
  const backend = new DryRunBackend(() => {});
  const invalid: [() => void, RegExp][] = [
    [() => backend.ban({ target: 'example.com', timeoutSeconds: 60 }), /ban "example.com": not an IPv4 or IPv6 address/],
    [() => backend.ban({ target: '192.0.2.7/24', timeoutSeconds: 60 }), /host bits/],
    [() => backend.ban({ target: '192.0.2.7', timeoutSeconds: 0 }), /timeoutSeconds 0/],
    [() => backend.ban({ target: '192.0.2.7', timeoutSeconds: Number.NaN }), /timeoutSeconds NaN/],
    [() => backend.allow('::1%lo'), /allow/],
  ];
  for (const [call, message] of invalid) {
    assert.throws(call, (error: unknown) => error instanceof PortwardenError && error.code === 'PW_ERR_ENFORCE' && message.test(error.message));
  }
});
