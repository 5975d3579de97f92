/**
 * The anomaly model against the capture corpus (bench/anomaly-eval.ts): trained on benign captures, no
 * source of a benign capture it did not see scores above the alert level, and the sources it ranks
 * highest are the corpus's scanners.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corpusCaptures, evalSettings, evaluate, scoreCapture, train } from '../bench/anomaly-eval.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const captures = corpusCaptures(FIXTURES);
const benign = captures.filter((c) => c.benign);

test('the corpus has benign captures to learn from, and labelled scanners', () => {
  assert.ok(benign.length >= 5, benign.map((c) => c.name).join(', '));
  assert.ok(captures.filter((c) => c.malicious.size > 0).length >= 20);
});

for (const held of benign) {
  test(`${held.name}: trained on the other benign captures, none of its sources scores above the alert level`, () => {
    const model = train(benign.filter((c) => c !== held));
    assert.ok(model.trained >= 5, `trained on ${model.trained} sources`);
    const { scored, reported } = scoreCapture(held, model);
    assert.deepEqual(reported, []);
    const above = scored.filter((s) => s.score >= evalSettings().alertScore);
    assert.deepEqual(above, []);
  });
}

test('precision at the top 10 scores: the corpus scanners rank first', () => {
  const r = evaluate(FIXTURES);
  assert.ok(r.precisionAt10 >= 0.9, `precision@10 ${r.precisionAt10}: ${JSON.stringify(r.top)}`);
  assert.ok(r.reported.every((x) => x.malicious), JSON.stringify(r.reported));
});
