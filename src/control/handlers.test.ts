/**
 * The control handlers over the real parts they are given: a ban book on the dry-run planner with a
 * state database in a temporary directory, the allow sets, the lockout guard of this host (read only)
 * and the running config. What ban, bans, unban, allow and status do, not the socket (control.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { defaultConfig, type PortwardenConfig } from '../config/load.js';
import { LockoutGuard } from '../decide/lockout-guard.js';
import { AllowSets } from '../enforce/allow-sets.js';
import { BanBook } from '../enforce/ban-book.js';
import { DryRunBackend } from '../enforce/dry-run.js';
import { StateKeeper } from '../state/keeper.js';
import { controlHandlers } from './handlers.js';
import { lookupAddress } from './lookup.js';
import { GeoDatabase } from '../intel/geo/geo-database.js';
import type { GeoSettings } from '../intel/geo-settings.js';
import { FeedList } from '../../test/support/feed-list.js';
import { fileURLToPath } from 'node:url';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/geo/', import.meta.url));
const GEO = GeoDatabase.open({ database: join(FIXTURES, 'country-geolite2.mmdb'), asnDatabase: join(FIXTURES, 'asn.mmdb') });
const GEO_SETTINGS: GeoSettings = { database: join(FIXTURES, 'country-geolite2.mmdb'), asnDatabase: null, block: ['CN'], allowOnly: { countries: ['DE'], ports: [{ protocol: 'tcp', port: 22 }] } };
const FEEDS = new FeedList().add('spamhaus-drop', ['198.51.100.0/24'], { weight: 2, action: 'drop' }).add('et-compromised', ['198.51.100.7'], { weight: 1 });
import { RunningConfig } from './running-config.js';

async function withHandlers(fn: (h: ReturnType<typeof controlHandlers>, parts: { book: BanBook; backend: DryRunBackend; running: RunningConfig; elements: string[]; redecided: PortwardenConfig[]; keeper: StateKeeper }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-handlers-'));
  const log = pino({ level: 'silent' });
  const keeper = StateKeeper.open(dir, log);
  const elements: string[] = [];
  const backend = new DryRunBackend((e) => {
    if (e.event === 'add-element') elements.push(`add ${e.set} ${e.target}`);
    if (e.event === 'delete-element') elements.push(`delete ${e.set} ${e.target}`);
  });
  await backend.setup();
  const book = new BanBook({ backend, recorder: keeper, log });
  const guard = LockoutGuard.discover({ sshPorts: [22] });
  const allowSets = new AllowSets(book, () => guard, log);
  const running = new RunningConfig({ config: defaultConfig(), log });
  const redecided: PortwardenConfig[] = [];
  const h = controlHandlers({
    ...{ book, allowSets, running, version: '9.9.9', startedAt: new Date(0), log },
    guard: () => guard,
    watching: { method: 'nflog', interfaces: ['veth9'], from: 'config' },
    incidents: () => 3,
    counters: async () => ({ 'reconcile.repairs': book.repairs }),
    redecide: async (config) => redecided.push(config),
    reload: async () => ({ profile: running.current.profile, changed: false, restartNeeded: [] }),
    lookup: lookupAddress({
      ...{ book, geo: GEO, feeds: FEEDS, offenders: keeper.store },
      guard: () => guard,
      geoSettings: () => GEO_SETTINGS,
      halfLifeSeconds: () => 7 * 86_400,
    }),
  });
  try {
    await fn(h, { book, backend, running, elements, redecided, keeper });
  } finally {
    keeper.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('ban refuses what is not an address and what the lockout guard protects; a ban is in the book and the kernel when answered', async () => {
  await withHandlers(async (h, { book, backend }) => {
    await assert.rejects(h.ban({ command: 'ban', target: 'not-an-address', seconds: 60, reason: '' }), { code: 'PW_ERR_USAGE' });
    await assert.rejects(h.ban({ command: 'ban', target: '127.0.0.1', seconds: 60, reason: '' }), (err: Error & { code?: string }) => err.code === 'PW_ERR_USAGE' && /lockout guard/.test(err.message));
    const banned = await h.ban({ command: 'ban', target: '192.0.2.7', seconds: 60, reason: '' });
    assert.deepEqual([banned.target, banned.outcome, banned.expiresInSeconds], ['192.0.2.7', 'banned', 60]);
    assert.equal(book.queued, 0, 'committed before the answer');
    assert.deepEqual((await backend.bans()).map((b) => b.target), ['192.0.2.7']);
    const [view] = await h.bans({ command: 'bans' });
    assert.deepEqual([view.target, view.reason, view.origin], ['192.0.2.7', 'operator', 'operator']);
    const status = await h.status({ command: 'status' });
    assert.deepEqual([status.version, status.backend, status.dryRun, status.bans, status.incidents, status.startedAt], ['9.9.9', 'dry-run', true, 1, 3, '1970-01-01T00:00:00.000Z']);
    // Which daemon this is: what it watches, its socket, its state, its profile and config file.
    assert.deepEqual(
      [status.interfaces, status.allInterfaces, status.captureMethod, status.socket, status.stateDir, status.profile, status.configFile],
      [['veth9'], false, 'nflog', '/run/portwarden/control.sock', '/var/lib/portwarden', 'normal', null],
    );
    assert.deepEqual(await h.unban({ command: 'unban', target: '192.0.2.7' }), { target: '192.0.2.7', removed: true });
    assert.deepEqual(await h.unban({ command: 'unban', target: '192.0.2.7' }), { target: '192.0.2.7', removed: false });
    assert.deepEqual(await backend.bans(), []);
  });
});

test('allow lifts a ban, joins the running allowlist (the decisions are built again with it) and the kernel allow set', async () => {
  await withHandlers(async (h, { book, running, elements, redecided }) => {
    await h.ban({ command: 'ban', target: '192.0.2.9', seconds: 600, reason: 'test' });
    assert.deepEqual(await h.allow({ command: 'allow', target: '192.0.2.9', reason: 'partner' }), { target: '192.0.2.9' });
    assert.equal(book.has('192.0.2.9'), false);
    assert.ok(elements.includes('delete ban4 192.0.2.9'));
    assert.ok(elements.includes('add allow4 192.0.2.9'));
    assert.deepEqual(running.current.allowlist.at(-1), { value: '192.0.2.9', reason: 'partner' });
    assert.equal(redecided.length, 1);
    assert.deepEqual(redecided[0].allowlist.at(-1), { value: '192.0.2.9', reason: 'partner' });
    await assert.rejects(h.allow({ command: 'allow', target: 'bastion.example', reason: '' }), { code: 'PW_ERR_USAGE' });
  });
});

test('bans mean what they say: a /32 is the address, a ban inside a banned prefix is covered, unban names the prefix that blocks, a prefix merges the bans inside it', async () => {
  await withHandlers(async (h, { book, backend, running }) => {
    const single = await h.ban({ command: 'ban', target: '10.77.0.51/32', seconds: 600, reason: 'cidr' });
    assert.equal(single.target, '10.77.0.51');
    assert.ok(book.has('10.77.0.51') && !book.has('10.77.0.51/32'));
    let [view] = await h.bans({ command: 'bans' });
    assert.deepEqual([view.target, view.origin, view.lengthSeconds], ['10.77.0.51', 'operator', 600], 'shown as the address, with its origin');
    assert.ok(view.createdAt !== null && view.expiresAt !== null && Date.parse(view.expiresAt!) - Date.parse(view.createdAt!) === 600_000);

    await h.ban({ command: 'ban', target: '10.77.0.64/28', seconds: 3600, reason: 'net' });
    const covered = await h.ban({ command: 'ban', target: '10.77.0.66', seconds: 60, reason: 'inside' });
    assert.deepEqual([covered.outcome, covered.by], ['covered', '10.77.0.64/28']);
    assert.equal(book.has('10.77.0.66'), false, 'not recorded as a ban of its own');
    const blocked = await h.unban({ command: 'unban', target: '10.77.0.65' });
    assert.deepEqual([blocked.removed, blocked.blockedBy?.target], [false, '10.77.0.64/28']);
    assert.ok(book.has('10.77.0.64/28'), 'the prefix still stands');
    const extended = await h.ban({ command: 'ban', target: '10.77.0.67', seconds: 7200, reason: 'longer' });
    assert.deepEqual([extended.outcome, extended.by], ['extended', '10.77.0.64/28']);
    assert.ok((book.get('10.77.0.64/28')?.expiresAtMs ?? 0) - Date.now() > 7000_000, 'the prefix lasts as long as the longer ban');

    for (const a of ['10.88.0.1', '10.88.0.2', '10.88.0.3']) await h.ban({ command: 'ban', target: a, seconds: a === '10.88.0.3' ? 9000 : 60, reason: 'single' });
    const wide = await h.ban({ command: 'ban', target: '10.88.0.0/24', seconds: 600, reason: 'wide' });
    assert.deepEqual(wide.merged?.sort(), ['10.88.0.1', '10.88.0.2', '10.88.0.3']);
    assert.ok(wide.expiresInSeconds !== null && wide.expiresInSeconds > 8990, 'nobody is released earlier than decided');
    const kernel = (await backend.bans()).map((b) => b.target).sort();
    const listed = (await h.bans({ command: 'bans' })).map((b) => b.target).sort();
    assert.deepEqual(kernel, ['10.77.0.51', '10.77.0.64/28', '10.88.0.0/24']);
    assert.deepEqual(listed, kernel);
    assert.deepEqual([...book.active.keys()].sort(), kernel, 'book, kernel and bans agree');

    const max = running.current.enforce.maxOperatorBanSeconds;
    await assert.rejects(h.ban({ command: 'ban', target: '10.99.0.1', seconds: max + 1, reason: '' }), (err: Error & { code?: string }) => err.code === 'PW_ERR_USAGE' && /maxOperatorBanSeconds/.test(err.message));
    const permanent = await h.ban({ command: 'ban', target: '10.99.0.1', seconds: null, reason: 'forever' });
    assert.deepEqual([permanent.expiresInSeconds, permanent.expiresAt], [null, null]);
    [view] = (await h.bans({ command: 'bans' })).filter((b) => b.target === '10.99.0.1');
    assert.deepEqual([view.expiresInSeconds, view.expiresAt, view.lengthSeconds], [null, null, null]);

    const operatorOnly = await h.unban({ command: 'unban', all: true, origin: 'detection' });
    assert.deepEqual(operatorOnly.lifted, [], 'no detection bans here');
    const all = await h.unban({ command: 'unban', all: true });
    assert.equal(all.lifted?.length, 4);
    assert.deepEqual(await backend.bans(), []);
  });
});

test('lookup: bans (own and wider), feeds with their entries, country and ASN with the geo rules, offences, reputation, protection', async () => {
  await withHandlers(async (h, { keeper }) => {
    await h.ban({ command: 'ban', target: '198.51.100.0/28', seconds: 600, reason: 'listed range' });
    const now = Date.now();
    const v = await h.lookup({ command: 'lookup', address: '198.51.100.7' });
    assert.equal(v.address, '198.51.100.7');
    assert.deepEqual(v.bans.map((b) => [b.target, b.origin, b.reason]), [['198.51.100.0/28', 'operator', 'listed range']]);
    assert.ok(v.bans[0].expiresAt !== null && Date.parse(v.bans[0].expiresAt) >= now + 590_000);
    assert.deepEqual(v.feeds, [
      { feed: 'spamhaus-drop', entry: '198.51.100.0/24', line: 1, action: 'drop', weight: 2 },
      { feed: 'et-compromised', entry: '198.51.100.7', line: 1, action: 'alert', weight: 1 },
    ]);
    assert.deepEqual(v.geo, { country: 'RU', asn: 64506, asOrganization: 'Lab Hosting RU' });
    assert.equal(v.geoPolicy, 'cannot reach tcp/22: RU is not in geo.allowOnly');
    assert.equal(v.offences, null);
    assert.deepEqual(v.reputation, { score: 3, offenceScore: 0, offences: 0, feedWeight: 3, feeds: ['et-compromised', 'spamhaus-drop'] });
    assert.equal(v.protected, null);

    const cn = await h.lookup({ command: 'lookup', address: '2001:db8:88:3::5' });
    assert.equal(cn.geoPolicy, 'blocked: CN is in geo.block; cannot reach tcp/22: CN is not in geo.allowOnly');
    assert.deepEqual(cn.bans, []);
    // Two offences, the last a week ago (one half-life): the score has halved.
    keeper.store.put({ address: '10.88.1.4', offences: 2, firstSeenMs: now - 10 * 86_400_000, lastSeenMs: now - 7 * 86_400_000, score: 2 });
    const home = await h.lookup({ command: 'lookup', address: '::ffff:10.88.1.4' });
    assert.equal(home.offences?.count, 2);
    assert.equal(home.offences?.score, 1);
    assert.deepEqual(home.reputation, { score: 1, offenceScore: 1, offences: 2, feedWeight: 0, feeds: [] });
    assert.equal(home.address, '10.88.1.4');
    assert.equal(home.geoPolicy, 'may reach tcp/22 (DE is in geo.allowOnly)');

    const lo = await h.lookup({ command: 'lookup', address: '127.0.0.1' });
    assert.ok(lo.protected !== null && /loopback/.test(lo.protected.reason), JSON.stringify(lo.protected));
    assert.equal(lo.geo, null);
    await assert.rejects(h.lookup({ command: 'lookup', address: '10.0.0.0/8' }), { code: 'PW_ERR_USAGE' });
    await assert.rejects(h.lookup({ command: 'lookup', address: 'example.org' }), { code: 'PW_ERR_USAGE' });
  });
});
