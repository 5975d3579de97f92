import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../config/load.js';
import { Scenario, summary } from '../../../test/support/scenario.js';
import { createRng } from '../../../scripts/frames.js';
import { PortThresholds } from './port-thresholds.js';

const PORT = 8443;
const HOSTS = Array.from({ length: 40 }, (_, i) => `10.2.0.${i + 1}`);
/** Backends that are down: their contacts go unanswered, so a client that reaches them has failures. */
const DOWN = new Set(HOSTS.slice(0, 12));

/**
 * A busy port's normal day: `sources` clients each connect to one to three backends, and one in 200 is a
 * health checker that connects to 24 of them, ten of which are down.
 */
function sourceAddress(n: number): string {
  return `10.${100 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

function normalTraffic(s: Scenario, firstSource: number, sources: number, startMs: number, seed: number): void {
  const rng = createRng(seed);
  for (let i = 0; i < sources; i++) {
    const src = sourceAddress(firstSource + i);
    const checker = i % 200 === 199;
    const targets = checker ? HOSTS.slice(2, 26) : rng.shuffle(HOSTS.slice(12)).slice(0, rng.int(1, 3));
    let t = startMs + i * 50;
    for (const host of targets) {
      s.at(t).synProbe(src, host, PORT, DOWN.has(host) ? 'silent' : 'open', 30000 + (i % 30000));
      t += 2;
    }
  }
}

/** Sweeps reported for the learning sources, the later normal sources, and the scanner. */
function sweeps(dynamic: boolean): { learning: string[]; later: string[]; scanner: string[] } {
  const settings = { ...defaultConfig('aggressive').baseline, dynamicThresholds: dynamic, falsePositiveRate: 0.002 };
  const s = new Scenario('aggressive', settings);
  // Learning: 1,000 sources (the port adapts after 1 / 0.002 = 500 of them).
  normalTraffic(s, 1, 1000, 0, 1);
  // Later, 1,000 new sources with the same habits; then a real sweep of the port.
  normalTraffic(s, 5000, 1000, 400_000, 2);
  for (let i = 0; i < HOSTS.length; i++) s.at(900_000 + i * 10).synProbe('198.51.100.66', HOSTS[i], PORT, 'silent', 55555);
  const records = s.finish();
  const all = summary(records);
  const from = (r: (typeof records)[number]) => Number((r['source.ip'] ?? '').split('.').slice(2).reduce((n, x) => n * 256 + Number(x), 0));
  return {
    learning: all.filter((_, i) => records[i]['source.ip']!.startsWith('10.') && from(records[i]) < 5000),
    later: all.filter((_, i) => records[i]['source.ip']!.startsWith('10.') && from(records[i]) >= 5000),
    scanner: all.filter((_, i) => records[i]['source.ip'] === '198.51.100.66'),
  };
}

describe('dynamic sweep thresholds', () => {
  it('static thresholds: a busy port\'s health checkers are reported as sweeps', () => {
    const r = sweeps(false);
    assert.equal(r.later.length, 5, JSON.stringify(r.later)); // the five checkers among the later sources
    assert.ok(r.later.every((x) => x.startsWith('sweep/')));
    assert.deepEqual(r.scanner, ['sweep/syn 198.51.100.66 -> tcp/8443']);
  });

  it('dynamicThresholds: once the port has learned, its normal traffic raises no sweep, a real sweep still does', () => {
    const r = sweeps(true);
    assert.deepEqual(r.later, []);
    assert.deepEqual(r.scanner, ['sweep/syn 198.51.100.66 -> tcp/8443']);
    // While it learned (fewer than 1 / falsePositiveRate sources) the static thresholds held.
    assert.ok(r.learning.length >= 1 && r.learning.length <= 3, JSON.stringify(r.learning));
  });

  it('the threshold is the host count at most falsePositiveRate of the sources reach, never below the static one', () => {
    const t = new PortThresholds(0.01);
    const base = { minimum: 8, windows: [{ windowMs: 60_000, count: 20 }], minFailureRatio: 0.4 };
    for (let i = 0; i < 50; i++) t.reached(1, 1);
    assert.equal(t.sweep(1, base), base); // 50 sources: too few for a 1% rate
    for (let i = 0; i < 950; i++) t.reached(1, 1);
    for (let i = 0; i < 30; i++) for (let k = 2; k <= 12; k++) t.reached(1, k); // 3% reach 12 hosts
    for (let k = 2; k <= 15; k++) t.reached(1, k); // one reaches 15
    const raised = t.sweep(1, base);
    assert.equal(raised.minimum, 13);
    assert.deepEqual(raised.windows, [{ windowMs: 60_000, count: 20 }]);
    assert.equal(t.sweep(2, base), base);
  });
});
