/**
 * The responder's user-space path without a kernel (test/support/responder-rig.ts: SYNs handed to
 * `onFrame` directly, replies recorded by a fake sender, a test clock, `true` standing in for nft).
 * Checks the order of the checks (nothing is sent past a suppression) and the throttled send-failure
 * log. The text encoded per settings across a reload into try-harder, which binds a real NFLOG
 * group, is responder.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFlag } from '../model/packet.js';
import { OTHER, SCANNER, setup } from '../../test/support/responder-rig.js';

test('only banned sources get a reply, within the per-source burst; not-SYNs are not answered', async () => {
  const t = setup({ perSourceBurst: 3, perSourcePerSecond: 1, burst: 100, maxPerSecond: 100 });
  t.frame(SCANNER); // nobody answered yet
  t.ban(SCANNER);
  for (let i = 0; i < 5; i++) t.frame(SCANNER);
  t.frame(OTHER);
  t.frame(SCANNER, TcpFlag.SYN | TcpFlag.ACK);
  assert.equal(t.sent.length, 3);
  assert.ok(t.sent.every((s) => s.address === SCANNER));
  const c = await t.responder.counters();
  assert.equal(c['respond.sent'], 3);
  assert.equal(c['respond.suppressed.source'], 2);
  assert.equal(c['respond.suppressed.unknown'], 2);
  assert.equal(c['respond.suppressed.not_syn'], 1);
  await t.responder.stop();
});

test('the global cap is checked before a reply is sent', async () => {
  const t = setup({ perSourceBurst: 100, perSourcePerSecond: 100, burst: 2, maxPerSecond: 1 });
  t.ban(SCANNER);
  for (let i = 0; i < 4; i++) t.frame(SCANNER);
  assert.equal(t.sent.length, 2);
  assert.equal((await t.responder.counters())['respond.suppressed.global'], 2);
  await t.responder.stop();
});

test('send failures are all counted but logged at most once per 10 s, with the count', async () => {
  const t = setup({ perSourceBurst: 1000, perSourcePerSecond: 1000, burst: 1000, maxPerSecond: 1000 }, 'EPERM');
  t.ban(SCANNER);
  for (let i = 0; i < 5; i++) t.frame(SCANNER);
  const failed = t.warnings.filter((w) => w['event.action'] === 'respond-send-failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.count, 1);
  t.advance(9_999);
  t.frame(SCANNER);
  assert.equal(t.warnings.filter((w) => w['event.action'] === 'respond-send-failed').length, 1);
  t.advance(1);
  t.frame(SCANNER);
  const again = t.warnings.filter((w) => w['event.action'] === 'respond-send-failed');
  assert.equal(again.length, 2);
  assert.equal(again[1]!.count, 6);
  assert.equal((await t.responder.counters())['respond.send.failed'], 7);
  await t.responder.stop();
});
