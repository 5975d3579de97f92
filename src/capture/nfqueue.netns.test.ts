/**
 * The nfqueue addon against the real kernel: a namespace of its own, iptables-nft NFQUEUE rules on
 * its loopback, the addon driven by a child process inside it (testkit-nfqueue-child.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';

const NS = `pwnfq-${process.pid}`;
const QUEUE = 7000 + (process.pid % 500);
const CHILD = new URL('../../test/support/nfqueue-child.ts', import.meta.url).pathname;
let result: Record<string, unknown>;

function inNs(cmd: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', NS, cmd, ...args], { encoding: 'utf8' });
}

before(() => {
  execFileSync('ip', ['netns', 'add', NS]);
  process.once('exit', () => spawnSync('ip', ['netns', 'del', NS]));
  inNs('ip', ['link', 'set', 'lo', 'up']);
  for (const port of ['9999', '9998', '9997', '9996', '9995']) inNs('iptables-nft', ['-A', 'INPUT', '-p', 'udp', '--dport', port, '-j', 'NFQUEUE', '--queue-num', String(QUEUE), '--queue-bypass']);
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', CHILD, String(QUEUE)], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `child failed (${String(r.status)}): ${r.stderr}`);
  result = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
});

after(() => {
  spawnSync('ip', ['netns', 'del', NS]);
});

test('verdicts: accept passes, drop drops, a replacement payload is what the receiver gets', () => {
  // The replaced packet's verdict goes out before the batch's: compare as sets.
  assert.deepEqual([...(result.verdicts as string[])].sort(), ['MANGLE', 'accept-1', 'accept-2']);
});

test('open fails cleanly (queue already bound, bad number) and close after a failed open is safe, twice', () => {
  assert.equal(result.secondOpen, 'PW_ERR_INLINE');
  assert.equal(result.badNumber, 'PW_ERR_INLINE');
  assert.equal(result.closeAfterFailedOpen, null);
});

test('a stalled event loop is caught by the watchdog thread: the queued packets are accepted meanwhile', () => {
  const stall = result.stall as { received: number; ms: number; watchdogAccepted: number };
  assert.equal(stall.received, 5, JSON.stringify(stall));
  assert.ok(stall.watchdogAccepted >= 5, JSON.stringify(stall));
});

test('close accepts packets still waiting for a verdict (an unbind would drop them); double close is a no-op', () => {
  assert.deepEqual(result.heldBeforeClose, { held: 3, received: 0 });
  assert.equal(result.heldAfterClose, 3);
  assert.equal(result.doubleClose, null);
  assert.notEqual(result.verdictAfterClose, null, 'a verdict on a closed queue throws');
  assert.equal((result.stats as { open: number }).open, 0);
});

test('a batch whose callback throws is accepted at once by the addon, not held until close', () => {
  const t = result.throwing as { receivedBeforeClose: number; callbackErrors: number; failedBatchAccepts: number; received: number; closeAccepted: number };
  assert.equal(t.received, 3, JSON.stringify(t));
  assert.equal(t.receivedBeforeClose, 3, `the packets got through while the queue was still open (watchdog off): ${JSON.stringify(t)}`);
  assert.ok(t.callbackErrors >= 1, JSON.stringify(t));
  assert.equal(t.failedBatchAccepts, t.callbackErrors, JSON.stringify(t));
});

test('an overflow of the queue socket (NETLINK_NO_ENOBUFS off) is counted, and the queue keeps receiving after it', () => {
  const o = result.overflow as { enobufs: number; receivedAfter: number; recvErrors: number; afterDelivered: number };
  assert.ok(o.enobufs >= 1, JSON.stringify(o));
  assert.equal(o.recvErrors, 0, JSON.stringify(o));
  assert.equal(o.receivedAfter, 3, JSON.stringify(o));
  assert.equal(o.afterDelivered, 3, JSON.stringify(o));
});
