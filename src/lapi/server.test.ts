/**
 * The decision API over real HTTP on loopback, fed by a real ban book (dry-run backend, the state
 * database in a temporary directory): what a bouncer sends, what it gets back, byte for byte where
 * the LAPI's shape matters (key order, nulls, 403).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { BanBook } from '../enforce/ban-book.js';
import { DryRunBackend } from '../enforce/dry-run.js';
import { PortwardenError } from '../errors.js';
import { StateKeeper } from '../state/keeper.js';
import type { LapiDecision } from './decision.js';
import { LapiServer } from './server.js';

const KEY_A = 'bouncer-a-key-0123456789';
const KEY_B = 'bouncer-b-key-0123456789';

async function rig(fn: (r: { book: BanBook; server: LapiServer; get: (path: string, key?: string, method?: string) => Promise<{ status: number; text: string }>; dir: string; logged: Record<string, unknown>[] }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-lapi-'));
  const logged: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug', base: null }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
  const keeper = StateKeeper.open(dir, log);
  const backend = new DryRunBackend(() => {});
  await backend.setup();
  const book = new BanBook({ backend, recorder: keeper, log });
  writeFileSync(join(dir, 'b.key'), `${KEY_B}\n`, { mode: 0o600 });
  const server = await LapiServer.listen({ settings: { listen: '127.0.0.1:0', keys: [{ name: 'fw-a', key: KEY_A, maxDurationSeconds: null, ranges: 'range' }, { name: 'fw-b', keyFile: join(dir, 'b.key'), maxDurationSeconds: 2_147_483, ranges: 'addresses' }] }, book, log });
  const get = async (path: string, key?: string, method = 'GET') => {
    const res = await fetch(`http://${server.listening}${path}`, { method, headers: { ...(key === undefined ? {} : { 'x-api-key': key }), 'user-agent': 'crowdsec-firewall-bouncer/v0.0.25-test' } });
    return { status: res.status, text: await res.text() };
  };
  try {
    await fn({ book, server, get, dir, logged });
  } finally {
    await server.close();
    keeper.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Stream = { new: LapiDecision[] | null; deleted: LapiDecision[] | null };

test('without a key, or with an unknown one, the answer is 403 access forbidden', () =>
  rig(async ({ get, server }) => {
    for (const key of [undefined, '', 'not-a-key-of-anyone']) {
      const r = await get('/v1/decisions/stream?startup=true', key);
      assert.equal(r.status, 403);
      assert.equal(r.text, '{"message":"access forbidden"}');
    }
    assert.equal(server.counters.get('lapi.refused'), 3);
    assert.equal(server.status().bouncers.every((b) => b.lastPullAt === null), true, 'a refused request is no pull');
  }));

test('an empty stream is nulls, in Go key order, as LAPI v1.4 answers', () =>
  rig(async ({ get }) => {
    const r = await get('/v1/decisions/stream?startup=true', KEY_A);
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"deleted":null,"new":null}');
  }));

test('a ban appears as new, an unban as deleted, each once; a key file works like a key', () =>
  rig(async ({ get, book, server }) => {
    book.ban('192.0.2.7', 3600, 'syn scan of 1000 ports', 'detection');
    await book.commit();
    const first = JSON.parse((await get('/v1/decisions/stream?startup=true', KEY_A)).text) as Stream;
    assert.equal(first.deleted, null);
    assert.equal(first.new?.length, 1);
    const d = first.new![0];
    assert.deepEqual(Object.keys(d), ['duration', 'id', 'origin', 'scenario', 'scope', 'type', 'value'], 'the LAPI model field order');
    assert.deepEqual({ ...d, duration: d.duration.slice(0, 3) }, { duration: '59m', id: d.id, origin: 'detection', scenario: 'syn scan of 1000 ports', scope: 'Ip', type: 'ban', value: '192.0.2.7' });
    assert.equal((await get('/v1/decisions/stream?startup=false', KEY_A)).text, '{"deleted":null,"new":null}');
    // go-cs-bouncer leaves startup out when false.
    assert.equal((await get('/v1/decisions/stream', KEY_A)).text, '{"deleted":null,"new":null}');
    book.unban('192.0.2.7');
    await book.commit();
    const after = JSON.parse((await get('/v1/decisions/stream', KEY_A)).text) as Stream;
    assert.equal(after.new, null);
    assert.deepEqual(after.deleted?.map((x) => [x.id, x.value]), [[d.id, '192.0.2.7']]);
    // The other bouncer (key from its file) never had it: nothing to delete, nothing new.
    assert.equal((await get('/v1/decisions/stream?startup=true', KEY_B)).text, '{"deleted":null,"new":null}');
    const status = server.status();
    assert.equal(status.listen, server.listening);
    const a = status.bouncers.find((b) => b.name === 'fw-a')!;
    assert.equal(a.pulls, 4);
    assert.equal(a.servedNew, 1);
    assert.equal(a.servedDeleted, 1);
    assert.equal(a.userAgent, 'crowdsec-firewall-bouncer/v0.0.25-test');
    assert.equal(a.address, '127.0.0.1');
    assert.notEqual(a.lastPullAt, null);
    assert.equal(server.counters.get('lapi.decisions.new'), 1);
    assert.equal(server.counters.get('lapi.decisions.deleted'), 1);
  }));

test('a ban without expiry: 87600h without a cap, the bouncer\'s maxDurationSeconds with one', () =>
  rig(async ({ get, book }) => {
    book.ban('192.0.2.7', null, 'by hand', 'operator');
    await book.commit();
    const duration = async (key: string) => ((JSON.parse((await get('/v1/decisions/stream?startup=true', key)).text) as Stream).new ?? [])[0]?.duration;
    assert.equal(await duration(KEY_A), '87600h0m0s');
    assert.equal(await duration(KEY_B), '596h31m23s', 'ipset\'s largest timeout, 2147483 s');
  }));

test('HEAD of the stream answers 200 without moving the cursor', () =>
  rig(async ({ get, book }) => {
    book.ban('192.0.2.7', 60, 'scan', 'detection');
    await book.commit();
    const head = await get('/v1/decisions/stream', KEY_A, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.equal(((JSON.parse((await get('/v1/decisions/stream', KEY_A)).text) as Stream).new ?? []).length, 1, 'the HEAD took nothing away from the pull');
    assert.equal((await get('/v1/decisions/stream', undefined, 'HEAD')).status, 403);
  }));

test('GET /v1/decisions answers the decision holding an address (its own or a wider one), or null', () =>
  rig(async ({ get, book }) => {
    book.ban('192.0.2.7', 60, 'scan', 'detection');
    book.ban('198.51.100.0/24', 600, 'sweep', 'operator');
    await book.commit();
    const one = (q: string) => get(`/v1/decisions?${q}`, KEY_A).then((r) => (r.status === 200 ? (JSON.parse(r.text) as LapiDecision[] | null) : r.status));
    assert.deepEqual(((await one('ip=192.0.2.7')) as LapiDecision[]).map((d) => [d.value, d.scope]), [['192.0.2.7', 'Ip']]);
    assert.deepEqual(((await one('ip=198.51.100.9')) as LapiDecision[]).map((d) => [d.value, d.scope]), [['198.51.100.0/24', 'Range']]);
    assert.deepEqual(((await one('range=198.51.100.0/25')) as LapiDecision[]).map((d) => d.value), ['198.51.100.0/24']);
    assert.equal(await one('ip=203.0.113.1'), null);
    assert.equal(await one('scope=ip&value=198.51.100.9'), null, 'scope+value is an exact match');
    assert.equal(await one('ip=192.0.2.7&type=captcha'), null);
    assert.deepEqual(((await one('')) as LapiDecision[]).map((d) => d.value).sort(), ['192.0.2.7', '198.51.100.0/24']);
    assert.equal(await one('ip=not-an-address'), 400);
    const stream = JSON.parse((await get('/v1/decisions/stream?startup=true', KEY_A)).text) as Stream;
    const ids = new Map(stream.new!.map((d) => [d.value, d.id]));
    assert.equal(((await one('ip=192.0.2.7')) as LapiDecision[])[0].id, ids.get('192.0.2.7'), 'the same decision id as the stream');
  }));

test('unknown paths are 404 and other methods 405', () =>
  rig(async ({ get, server }) => {
    assert.equal((await get('/v1/alerts', KEY_A)).status, 404);
    assert.equal((await get('/v1/decisions/stream', KEY_A, 'DELETE')).status, 405);
    assert.equal(server.counters.get('lapi.bad_requests'), 2);
  }));

test('a missing key file, or one without a key, is PW_ERR_LAPI naming the field and the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-lapi-keys-'));
  const log = pino({ level: 'silent' });
  const book = new BanBook({ backend: new DryRunBackend(() => {}), recorder: { addBan() {}, liftBan() {}, persist() {} }, log });
  try {
    writeFileSync(join(dir, 'short.key'), 'short\n');
    for (const [file, says] of [[join(dir, 'missing.key'), /ENOENT/], [join(dir, 'short.key'), /at least 16 characters/]] as const) {
      await assert.rejects(LapiServer.listen({ settings: { listen: '127.0.0.1:0', keys: [{ name: 'x', keyFile: file, maxDurationSeconds: null, ranges: 'range' }] }, book, log }), (err: unknown) => {
        assert.ok(err instanceof PortwardenError);
        assert.equal(err.code, 'PW_ERR_LAPI');
        assert.match(err.message, /lapi\.keys\[0\]\.keyFile/);
        assert.ok(err.message.includes(file));
        assert.match(err.message, says);
        return true;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an address already in use is PW_ERR_LAPI naming lapi.listen', () =>
  rig(async ({ server, book }) => {
    await assert.rejects(LapiServer.listen({ settings: { listen: server.listening, keys: [{ name: 'x', key: KEY_A, maxDurationSeconds: null, ranges: 'range' }] }, book, log: pino({ level: 'silent' }) }), (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_LAPI' && err.message.startsWith(`lapi.listen ${server.listening}`));
  }));
