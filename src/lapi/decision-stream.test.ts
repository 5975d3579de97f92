import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActiveBan } from '../enforce/ban-book.js';
import { AddressIndexedMap } from '../net/address-map.js';
import { DecisionStream, streamFilter, type StreamAnswer } from './decision-stream.js';
import { PERMANENT_MS } from './decision.js';
import { parseGoDuration } from './go-duration.js';

/** A book of bans and a clock the test moves. */
function rig() {
  let now = 1_000_000;
  const book = new AddressIndexedMap<ActiveBan>();
  const stream = new DecisionStream({ bans: () => book, changes: () => book.changes }, () => now);
  const ban = (target: string, seconds: number | null, reason = 'syn scan', origin: ActiveBan['origin'] = 'detection') =>
    book.set(target, { reason, origin, createdAtMs: now, expiresAtMs: seconds === null ? null : now + seconds * 1000 });
  return { book, stream, ban, advance: (ms: number) => (now += ms) };
}

const values = (a: StreamAnswer) => ({ new: a.new.map((d) => d.value).sort(), deleted: a.deleted.map((d) => d.value).sort() });

test('startup gives every ban in force as new; the next pull only what changed', () => {
  const { stream, ban, book } = rig();
  ban('192.0.2.7', 3600);
  ban('198.51.100.0/24', 600);
  const first = stream.pull('fw', true);
  assert.deepEqual(values(first), { new: ['192.0.2.7', '198.51.100.0/24'], deleted: [] });
  assert.deepEqual(values(stream.pull('fw', false)), { new: [], deleted: [] }, 'nothing changed: nothing to say');
  ban('203.0.113.9', 60);
  book.delete('192.0.2.7');
  assert.deepEqual(values(stream.pull('fw', false)), { new: ['203.0.113.9'], deleted: ['192.0.2.7'] });
  assert.equal(stream.holding('fw'), 2);
});

test('decisions carry the LAPI fields: id, origin, type ban, scope Ip or Range, value, Go duration, scenario', () => {
  const { stream, ban } = rig();
  ban('192.0.2.7', 3600, 'syn scan of 1000 ports', 'operator');
  ban('2001:db8::/64', 90);
  ban('203.0.113.1', null);
  const byValue = new Map(stream.pull('fw', true).new.map((d) => [d.value, d]));
  assert.deepEqual(byValue.get('192.0.2.7'), { duration: '1h0m0s', id: byValue.get('192.0.2.7')!.id, origin: 'operator', scenario: 'syn scan of 1000 ports', scope: 'Ip', type: 'ban', value: '192.0.2.7' });
  assert.equal(byValue.get('2001:db8::/64')!.scope, 'Range');
  assert.equal(byValue.get('2001:db8::/64')!.duration, '1m30s');
  assert.equal(parseGoDuration(byValue.get('203.0.113.1')!.duration), PERMANENT_MS, 'a ban without expiry is served as 87600h');
  const ids = [...byValue.values()].map((d) => d.id);
  assert.equal(new Set(ids).size, 3, 'each decision has its own id');
});

test('the duration is the time left at the pull', () => {
  const { stream, ban, advance } = rig();
  ban('192.0.2.7', 3600);
  advance(1500);
  assert.equal(stream.pull('fw', true).new[0].duration, '59m58.5s');
});

test('an expired ban is deleted at the next pull even while the book still lists it', () => {
  const { stream, ban, advance, book } = rig();
  ban('192.0.2.7', 10);
  ban('192.0.2.8', 100);
  const first = stream.pull('fw', true).new.find((d) => d.value === '192.0.2.7')!;
  advance(10_000);
  assert.equal(book.size, 2, 'the book drops ended bans lazily');
  const a = stream.pull('fw', false);
  assert.deepEqual(values(a), { new: [], deleted: ['192.0.2.7'] });
  assert.equal(a.deleted[0].id, first.id, 'the deletion names the decision the bouncer was given');
  assert.deepEqual(values(stream.pull('fw', true)), { new: ['192.0.2.8'], deleted: [] }, 'a startup leaves ended bans out');
});

test('each bouncer has its own cursor; startup=true resets only its own', () => {
  const { stream, ban, book } = rig();
  ban('192.0.2.7', 3600);
  stream.pull('a', true);
  ban('192.0.2.8', 3600);
  stream.pull('b', true);
  assert.deepEqual(values(stream.pull('a', false)), { new: ['192.0.2.8'], deleted: [] });
  assert.deepEqual(values(stream.pull('b', false)), { new: [], deleted: [] });
  book.delete('192.0.2.7');
  assert.deepEqual(values(stream.pull('a', true)), { new: ['192.0.2.8'], deleted: [] }, 'startup: what is in force, nothing to delete');
  assert.deepEqual(values(stream.pull('b', false)), { new: [], deleted: ['192.0.2.7'] });
});

test('a bouncer not seen in this run is answered as a startup', () => {
  const { stream, ban } = rig();
  ban('192.0.2.7', 3600);
  assert.deepEqual(values(stream.pull('late', false)), { new: ['192.0.2.7'], deleted: [] });
});

test('a ban whose expiry changed is the old decision deleted and a new one, same value, new id', () => {
  const { stream, ban, advance } = rig();
  ban('192.0.2.7', 60);
  const old = stream.pull('fw', true).new[0];
  advance(5000);
  ban('192.0.2.7', 3600); // escalated: a longer ban of the same address
  const a = stream.pull('fw', false);
  assert.deepEqual(values(a), { new: ['192.0.2.7'], deleted: ['192.0.2.7'] });
  assert.equal(a.deleted[0].id, old.id);
  assert.notEqual(a.new[0].id, old.id);
  assert.equal(a.new[0].duration, '1h0m0s');
  assert.equal(a.deleted[0].duration, '0s', 'a decision replaced before its end is reported ended now');
});

test('a merge into a wider ban: the narrower ones are deleted, the range is new', () => {
  const { stream, ban, book } = rig();
  ban('192.0.2.7', 60);
  ban('192.0.2.8', 60);
  stream.pull('fw', true);
  book.delete('192.0.2.7');
  book.delete('192.0.2.8');
  ban('192.0.2.0/24', 120);
  assert.deepEqual(values(stream.pull('fw', false)), { new: ['192.0.2.0/24'], deleted: ['192.0.2.7', '192.0.2.8'] });
});

test('ids stay the same for the same ban across bouncers and pulls', () => {
  const { stream, ban, book } = rig();
  ban('192.0.2.7', 60);
  const a = stream.pull('a', true).new[0].id;
  const b = stream.pull('b', true).new[0].id;
  assert.equal(a, b);
  assert.equal(stream.decisionFor(['192.0.2.7', book.get('192.0.2.7')!])?.id, a);
});

test('the query filters scopes, origins and scenarios, as go-cs-bouncer sends them', () => {
  const { stream, ban } = rig();
  ban('192.0.2.7', 60, 'syn scan', 'detection');
  ban('192.0.2.0/28', 60, 'sweep of port 22', 'detection');
  ban('198.51.100.1', 60, 'by hand', 'operator');
  const pull = (q: string) => stream.pull(q, true, { filter: streamFilter(new URLSearchParams(q)) }).new.map((d) => d.value).sort();
  assert.deepEqual(pull(''), ['192.0.2.0/28', '192.0.2.7', '198.51.100.1']);
  assert.deepEqual(pull('scopes=ip'), ['192.0.2.7', '198.51.100.1']);
  assert.deepEqual(pull('scopes=Range'), ['192.0.2.0/28']);
  assert.deepEqual(pull('origins=operator'), ['198.51.100.1']);
  assert.deepEqual(pull('scenarios_containing=scan,sweep'), ['192.0.2.0/28', '192.0.2.7']);
  assert.deepEqual(pull('scenarios_not_containing=scan'), ['192.0.2.0/28', '198.51.100.1']);
});

test('a filtered bouncer is told nothing of bans outside its filter, also when they end', () => {
  const { stream, ban, book } = rig();
  const ipOnly = streamFilter(new URLSearchParams('scopes=ip'));
  ban('192.0.2.0/24', 60);
  assert.deepEqual(values(stream.pull('fw', true, { filter: ipOnly })), { new: [], deleted: [] });
  book.delete('192.0.2.0/24');
  assert.deepEqual(values(stream.pull('fw', false, { filter: ipOnly })), { new: [], deleted: [] });
});

test('a bouncer with a cap is told at most that long, and told again before its hold runs out', () => {
  const { stream, ban, advance, book } = rig();
  const cap = 100_000; // 100 s; refreshed when 10 s (a tenth) or less is left
  ban('192.0.2.7', null);
  ban('192.0.2.8', 50);
  const first = stream.pull('ipset', true, { maxMs: cap });
  assert.deepEqual(first.new.map((d) => [d.value, d.duration]).sort(), [['192.0.2.7', '1m40s'], ['192.0.2.8', '50s']]);
  advance(80_000);
  assert.deepEqual(values(stream.pull('ipset', false, { maxMs: cap })), { new: [], deleted: ['192.0.2.8'] }, '20 s left of the hold: nothing yet; the 50 s ban ended');
  advance(10_000);
  const again = stream.pull('ipset', false, { maxMs: cap });
  assert.deepEqual(values(again), { new: ['192.0.2.7'], deleted: ['192.0.2.7'] }, 'deleted and sent anew, so the bouncer restarts its timer');
  assert.equal(again.new[0].duration, '1m40s');
  assert.equal(again.new[0].id, again.deleted[0].id, 'the same decision');
  assert.deepEqual(values(stream.pull('ipset', false, { maxMs: cap })), { new: [], deleted: [] }, 'once per hold');
  // A ban that ends before the hold does is not served again.
  book.set('192.0.2.9', { reason: 'r', origin: 'detection', createdAtMs: 0, expiresAtMs: 1_000_000 + 90_000 + 95_000 });
  stream.pull('ipset', false, { maxMs: cap });
  advance(90_000);
  const last = stream.pull('ipset', false, { maxMs: cap });
  assert.ok(!last.new.some((d) => d.value === '192.0.2.9'), JSON.stringify(last));
  assert.equal(stream.pull('other', true).new.find((d) => d.value === '192.0.2.7')?.duration, '87600h0m0s', 'without a cap: the ten years');
});

test('a pull with another filter than the last looks at the book again, even with nothing changed', () => {
  const { stream, ban } = rig();
  ban('192.0.2.7', 60);
  ban('192.0.2.0/28', 60);
  assert.deepEqual(values(stream.pull('fw', true, { filter: streamFilter(new URLSearchParams('scopes=ip')) })), { new: ['192.0.2.7'], deleted: [] });
  assert.deepEqual(values(stream.pull('fw', false)), { new: ['192.0.2.0/28'], deleted: [] });
  assert.deepEqual(values(stream.pull('fw', false, { filter: streamFilter(new URLSearchParams('scopes=range')) })), { new: [], deleted: ['192.0.2.7'] });
});

test('ranges: addresses serves a small IPv4 network address by address, each its own id; wider and IPv6 ones stay a Range', () => {
  const { stream, ban, book } = rig();
  ban('192.0.2.4/30', 60);
  ban('2001:db8::/64', 60);
  ban('10.0.0.0/16', 60); // 65,536 addresses: over the limit
  ban('198.51.100.7', 60);
  const a = stream.pull('nft', true, { ranges: 'addresses' });
  assert.deepEqual(a.new.map((d) => [d.value, d.scope]).sort(), [
    ['10.0.0.0/16', 'Range'],
    ['192.0.2.4', 'Ip'],
    ['192.0.2.5', 'Ip'],
    ['192.0.2.6', 'Ip'],
    ['192.0.2.7', 'Ip'],
    ['198.51.100.7', 'Ip'],
    ['2001:db8::/64', 'Range'],
  ]);
  assert.equal(new Set(a.new.map((d) => d.id)).size, 7, 'no two decisions share an id');
  const plain = stream.pull('ipset', true);
  assert.deepEqual(plain.new.map((d) => d.value).sort(), ['10.0.0.0/16', '192.0.2.4/30', '198.51.100.7', '2001:db8::/64']);
  const id = (list: typeof a.new, value: string) => list.find((d) => d.value === value)!.id;
  assert.equal(id(plain.new, '192.0.2.4/30'), id(a.new, '192.0.2.4'), 'the network\'s own id is the first of its addresses\' ids');
  assert.equal(new Set([...a.new, ...plain.new].map((d) => d.id)).size, 7, 'the same bans have the same ids for both bouncers, and none overlap');
  book.delete('192.0.2.4/30');
  assert.deepEqual(values(stream.pull('nft', false, { ranges: 'addresses' })), { new: [], deleted: ['192.0.2.4', '192.0.2.5', '192.0.2.6', '192.0.2.7'] });
  assert.deepEqual(values(stream.pull('ipset', false)), { new: [], deleted: ['192.0.2.4/30'] });
});
