/** Token buckets for replies, on an injected clock: counts of what passes, never wall-clock time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SourceLimiter, TokenBucket } from './rate-limit.js';

function passed(take: (now: number) => boolean, times: readonly number[]): number {
  return times.filter((t) => take(t)).length;
}

test('a bucket lets its burst through at once, then its rate', () => {
  const b = new TokenBucket(10, 5, 0);
  assert.equal(passed((t) => b.take(t), Array(100).fill(0)), 5);
  // One second later: 10 more tokens, but never more than the burst.
  assert.equal(passed((t) => b.take(t), Array(100).fill(1000)), 5);
  // 100 ms: one token.
  assert.equal(passed((t) => b.take(t), Array(10).fill(1100)), 1);
});

test('over a long run the bucket passes burst + rate × elapsed, whatever is asked', () => {
  const b = new TokenBucket(20, 10, 0);
  // 10,000 asks spread over 10 s (one every millisecond).
  const n = passed((t) => b.take(t), Array.from({ length: 10_000 }, (_, i) => i + 1));
  assert.ok(n <= 10 + 20 * 10 && n >= 20 * 10, `passed ${n}`);
});

test('a clock that goes back refills nothing', () => {
  const b = new TokenBucket(1000, 1, 5000);
  assert.equal(b.take(5000), true);
  assert.equal(b.take(0), false);
  assert.equal(b.take(4000), false);
});

test('each source has its own bucket; one busy source does not starve another', () => {
  const l = new SourceLimiter(1, 3, 100);
  assert.equal(passed((t) => l.take('198.51.100.1', t), Array(10).fill(0)), 3);
  assert.equal(passed((t) => l.take('198.51.100.2', t), Array(10).fill(0)), 3);
  assert.equal(passed((t) => l.take('198.51.100.1', t), Array(10).fill(2000)), 2);
});

test('the source table is bounded: the least recently asked source is forgotten and counted', () => {
  const l = new SourceLimiter(1, 1, 2);
  assert.equal(l.take('a', 0), true);
  assert.equal(l.take('b', 0), true);
  assert.equal(l.take('a', 0), false); // a is now the most recent
  assert.equal(l.take('c', 0), true); // evicts b
  assert.equal(l.size, 2);
  assert.equal(l.evicted, 1);
  assert.equal(l.take('a', 0), false, 'a was kept');
  assert.equal(l.take('b', 0), true, 'b was forgotten and starts full');
});

test('bad numbers are refused at construction', () => {
  assert.throws(() => new TokenBucket(0, 1, 0), RangeError);
  assert.throws(() => new TokenBucket(1, 0, 0), RangeError);
  assert.throws(() => new SourceLimiter(1, 1, 0), RangeError);
});
