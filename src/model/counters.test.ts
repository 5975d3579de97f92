/** The counter registry: tables by handle, read-through groups, sums by name, removal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterReader, CounterRegistry, CounterTable, counterIds } from './counters.js';

const DOCS = { sent: 'replies sent', 'send.failed': 'replies refused' } as const;

test('handles are dense indexes in the docs order; a table counts by handle and reads by prefixed name', () => {
  assert.deepEqual(counterIds(DOCS), { sent: 0, 'send.failed': 1 });
  const t = new CounterTable('respond', DOCS, { prefix: 'respond' });
  t.inc(t.id.sent);
  t.values[t.id.sent]++;
  t.inc(t.id['send.failed'], 5);
  assert.equal(t.get('sent'), 2);
  assert.deepEqual(t.toRecord(), { sent: 2, 'send.failed': 5 });
  const seen: [string, number, string][] = [];
  t.forEach((n, v, d) => seen.push([n, v, d]));
  assert.deepEqual(seen, [['respond.sent', 2, 'replies sent'], ['respond.send.failed', 5, 'replies refused']]);
});

test('a table over an existing array reads it in place; too short an array is refused', () => {
  const values = new Float64Array(2);
  const t = new CounterTable('detect', DOCS, { values });
  values[1] = 7;
  assert.equal(t.get('send.failed'), 7);
  assert.throws(() => new CounterTable('x', DOCS, { values: new Float64Array(1) }), RangeError);
});

test('the registry sums one name over groups, reads through readers, and forgets a removed group', () => {
  const r = new CounterRegistry();
  const a = r.table('capture.a', { delivered: 'd', lost: 'l' }, { prefix: 'capture' });
  const b = r.table('capture.b', { delivered: 'd', lost: 'l' }, { prefix: 'capture' });
  a.inc(a.id.delivered, 3);
  b.inc(b.id.delivered, 4);
  b.inc(b.id.lost);
  let kernel = 10;
  const remove = r.add(new CounterReader('kernel', { 'kernel.x': 'kernel doc' }, () => ({ 'kernel.x': kernel, 'kernel.queue.7.received': 2 }), 'per queue'));
  assert.equal(r.value('capture.delivered'), 7);
  assert.deepEqual(r.values(), { 'capture.delivered': 7, 'capture.lost': 1, 'kernel.x': 10, 'kernel.queue.7.received': 2 });
  assert.deepEqual(r.docs(), { 'capture.delivered': 'd', 'capture.lost': 'l', 'kernel.x': 'kernel doc', 'kernel.queue.7.received': 'per queue' });
  kernel = 11;
  assert.equal(r.value('kernel.x'), 11, 'read when asked, not copied at registration');
  assert.ok(r.has('kernel.x'));
  remove();
  assert.equal(r.has('kernel.x'), false);
  assert.equal(r.value('kernel.x'), 0);
  r.remove(a);
  assert.equal(r.value('capture.delivered'), 4);
});
