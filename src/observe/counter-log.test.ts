/** The counter log line reads the registry: what changed since the last line, and every total at stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CounterRegistry } from '../model/counters.js';
import { CounterLog, periodicCounterLine } from './counter-log.js';
import { createLogger } from './log.js';

test('periodic lines carry what changed (nothing changed: no line); the stop line every non-zero total', async () => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const log = createLogger({ stream });
  const r = new CounterRegistry();
  const t = r.table('dns', { 'dns.queries': 'q', 'dns.blocked': 'b' });
  const c = new CounterLog(log, r, 3_600_000);
  c.start();
  c.tick();
  t.inc(t.id['dns.queries'], 3);
  t.inc(t.id['dns.blocked']);
  c.tick();
  t.inc(t.id['dns.queries']);
  c.tick();
  c.stop();
  log.flush();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(lines.length, 3, 'the first tick saw no change');
  assert.deepEqual(lines[0].changed, { 'dns.queries': 3, 'dns.blocked': 1 });
  assert.equal(lines[0].message, 'counters: dns.queries +3, dns.blocked +1');
  assert.deepEqual(lines[1].changed, { 'dns.queries': 1 });
  assert.deepEqual(lines[1].counters, { 'dns.queries': 4, 'dns.blocked': 1 });
  assert.deepEqual(lines[2].counters, { 'dns.queries': 4, 'dns.blocked': 1 });
  assert.equal(lines[2]['event.action'], 'counters');
  assert.match(String(lines[2].message), /^counters at stop: dns\.queries 4, dns\.blocked 1$/);
});

test('a level that falls shows its negative change', () => {
  assert.deepEqual(periodicCounterLine({ 'respond.answering': 2 }, { 'respond.answering': 5 })?.fields.changed, { 'respond.answering': -3 });
  assert.equal(periodicCounterLine({ a: 1 }, { a: 1 }), null);
});
