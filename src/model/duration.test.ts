import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, utcMinute } from './duration.js';

test('humanDuration states the two largest units, truncated, never longer than the ban', () => {
  const cases: [number | null, string][] = [
    [0, '0s'],
    [59, '59s'],
    [90, '1m 30s'],
    [3600, '1h'],
    [3660, '1h 1m'],
    [86_400, '1d'],
    [365_574, '4d 5h'],
    [86_399_996, '2y 269d'],
    [86_400 + 59, '1d'],
    [7 * 86_400 + 3 * 3600 + 59 * 60, '7d 3h'],
    [null, 'permanent'],
  ];
  for (const [seconds, text] of cases) assert.equal(humanDuration(seconds), text, String(seconds));
});

test('utcMinute writes a moment in UTC to the minute', () => {
  assert.equal(utcMinute(Date.UTC(2026, 11, 6, 14, 3, 59)), '2026-12-06 14:03 UTC');
  assert.equal(utcMinute(null), 'never');
});
