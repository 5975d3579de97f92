/** Logs: ECS field names in JSON, a readable line on a terminal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './log.js';

function capture(isTTY: boolean): { stream: Writable & { isTTY: boolean }; lines: string[] } {
  const lines: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
        done();
      },
    }),
    { isTTY },
  );
  return { stream, lines };
}

test('JSON lines carry ECS names: @timestamp, log.level, message, event.action, source.ip', async () => {
  const { stream, lines } = capture(false);
  const log = createLogger({ stream });
  log.info({ 'event.kind': 'alert', 'event.action': 'incident-opened', 'source.ip': '203.0.113.5', 'destination.ip': '198.51.100.10' }, 'scan from 203.0.113.5');
  log.flush();
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(rec['log.level'], 'info');
  assert.equal(rec.message, 'scan from 203.0.113.5');
  assert.equal(rec['event.action'], 'incident-opened');
  assert.equal(rec['source.ip'], '203.0.113.5');
  assert.match(String(rec['@timestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(rec.pid, undefined, 'no pino defaults outside ECS');
  assert.equal(rec.level, undefined);
});

test('on a terminal each event is one readable line', async () => {
  const { stream, lines } = capture(true);
  const log = createLogger({ stream });
  log.warn({ 'event.action': 'ban-refused', 'source.ip': '192.0.2.1', 'event.reason': 'ssh peer' }, 'not banning the SSH peer');
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} WARN  ban-refused 192\.0\.2\.1 -> \*: not banning the SSH peer {2}\(event\.reason=ssh peer\)$/);
});

test('levels below the configured one are not written', async () => {
  const { stream, lines } = capture(false);
  const log = createLogger({ stream, level: 'warn' });
  log.info('quiet');
  log.error('loud');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { message: string }).message), ['loud']);
});
