import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goDuration, parseGoDuration } from './go-duration.js';

// Expected strings are what Go 1.20's time.Duration.String() prints for the same values.
const CASES: readonly [number, string][] = [
  [0, '0s'],
  [1e-6, '1ns'],
  [0.001, '1µs'],
  [0.0015, '1.5µs'],
  [1, '1ms'],
  [1.5, '1.5ms'],
  [999.999999, '999.999999ms'],
  [1000, '1s'],
  [1500, '1.5s'],
  [60_000, '1m0s'],
  [61_000, '1m1s'],
  [3_600_000, '1h0m0s'],
  [3_600_000 + 2 * 60_000 + 300, '1h2m0.3s'],
  [4_530_918.273645, '1h15m30.918273645s'],
  [14_398_528.516, '3h59m58.528516s'],
  [87_600 * 3_600_000, '87600h0m0s'],
  [-2500, '-2.5s'],
  [-61_000, '-1m1s'],
  [-0.5, '-500µs'],
];

test('goDuration prints what Go prints', () => {
  for (const [ms, go] of CASES) assert.equal(goDuration(ms), go, `${ms} ms`);
});

test('goDuration rounds to the nanosecond and carries into the next second', () => {
  assert.equal(goDuration(999.9999999), '1s');
  assert.equal(goDuration(59_999.9999999), '1m0s');
});

test('goDuration keeps the milliseconds of long durations', () => {
  assert.equal(goDuration(200 * 86_400_000 + 1.5), '4800h0m0.0015s');
  assert.equal(goDuration(365 * 86_400_000 + 59_999), '8760h0m59.999s');
});

test('goDuration refuses what is not a number of milliseconds', () => {
  assert.throws(() => goDuration(Number.NaN), RangeError);
  assert.throws(() => goDuration(Number.POSITIVE_INFINITY), RangeError);
});

test('parseGoDuration reads what goDuration writes, and Go forms it does not write', () => {
  for (const [ms, go] of CASES) assert.ok(Math.abs((parseGoDuration(go) ?? Number.NaN) - ms) < 1e-6, `${go} → ${parseGoDuration(go)}, expected ${ms}`);
  assert.equal(parseGoDuration('4h'), 14_400_000);
  assert.equal(parseGoDuration('1.5h'), 5_400_000);
  assert.equal(parseGoDuration('300us'), 0.3);
  assert.equal(parseGoDuration('0'), 0);
  for (const bad of ['', '4', 'h', '1d', '1h 2m', '--1s']) assert.equal(parseGoDuration(bad), null, bad);
});
