import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HOURS_OF_WEEK, SeasonalSeries, SERIES_BYTES, VALUES_PER_BUCKET, hourOfWeek } from './series.js';

describe('seasonal series', () => {
  it('keeps the last values of each hour of the week: median and MAD of those, older ones dropped', () => {
    const s = new SeasonalSeries();
    for (const v of [100, 10, 12, 11, 13, 9, 10, 12, 11]) s.learn(5, v, 0.1);
    // 9 values into a ring of 8: the first (100) is gone.
    const e = s.expect(5);
    assert.equal(e.samples, VALUES_PER_BUCKET);
    assert.equal(e.median, 11);
    assert.equal(e.mad, 1);
    assert.deepEqual(s.expect(6), { median: 0, mad: 0, samples: 0 });
    assert.equal(s.learned, 9);
  });

  it('scores with a spread of at least √median, so a steady count does not make every wobble infinite', () => {
    const s = new SeasonalSeries();
    for (let i = 0; i < 4; i++) s.learn(0, 100, 0.1);
    const e = s.expect(0);
    assert.equal(e.mad, 0);
    assert.equal(SeasonalSeries.zScore(110, e), 1);
    assert.equal(SeasonalSeries.zScore(400, e), 30);
  });

  it('round-trips through its byte form, and stays within about 8 KB', () => {
    const s = new SeasonalSeries();
    for (let h = 0; h < HOURS_OF_WEEK * 3; h++) s.learn(h % HOURS_OF_WEEK, h * 1.5, 0.01);
    s.lastAnomalyHourMs = 12345;
    const bytes = s.encode();
    assert.equal(bytes.length, SERIES_BYTES);
    assert.ok(SERIES_BYTES <= 8192, `${SERIES_BYTES} bytes`);
    const back = SeasonalSeries.decode(bytes, 0);
    assert.deepEqual(back.values, s.values);
    assert.deepEqual([back.ewma, back.learned, back.lastAnomalyHourMs], [s.ewma, s.learned, s.lastAnomalyHourMs]);
    assert.deepEqual(back.expect(7), s.expect(7));
    bytes[HOURS_OF_WEEK * VALUES_PER_BUCKET * 4] = 200; // bucket 0 claims 200 values
    assert.throws(() => SeasonalSeries.decode(bytes, 0), RangeError);
    assert.throws(() => SeasonalSeries.decode(bytes.subarray(1), 0), RangeError);
  });

  it('numbers the hours of the week from the epoch, 168 of them', () => {
    assert.equal(hourOfWeek(0), 0);
    assert.equal(hourOfWeek(3_600_000 * 169), 1);
  });
});
