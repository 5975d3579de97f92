/**
 * The responder's user-space path across a reload: reloading into try-harder binds a real NFLOG
 * group (test/support/responder-rig.ts), which needs root; the replies are still recorded by the
 * rig's fake sender. The rest of the responder without a kernel is responder.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCANNER, payloadOf, setup } from '../../test/support/responder-rig.js';

test('try-harder carries the configured text, and the text of the new settings after a reload', async () => {
  const t = setup({ text: 'first text' });
  t.ban(SCANNER);
  t.frame(SCANNER);
  assert.equal(payloadOf(t.sent[0]!.reply), 'first text');
  await t.responder.reload({ ...t.responder.settings, text: 'second text' });
  t.frame(SCANNER);
  assert.equal(t.sent.length, 2);
  assert.equal(payloadOf(t.sent[1]!.reply), 'second text');
  await t.responder.stop();
});
