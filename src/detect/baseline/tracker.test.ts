import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../config/load.js';
import { analyzeFiles, Pipeline } from '../pipeline.js';
import type { IncidentRecord } from '../../model/incident.js';
import type { BaselineSettings } from './settings.js';
import { monthHourMs, SERVER, writeMonthPcap } from '../../../bench/baseline-month.js';
import { Scenario } from '../../../test/support/scenario.js';

const SURGE = { day: 29, hour: 14, port: 443, factor: 4 };
let dir: string;
let surgePcap: string;
let quietPcap: string;

function analyze(paths: string[], settings: BaselineSettings = defaultConfig('aggressive').baseline): { records: IncidentRecord[]; pipeline: Pipeline } {
  const pipeline = new Pipeline(defaultConfig('aggressive').detection, null, settings);
  analyzeFiles(paths, pipeline);
  return { records: pipeline.engine.incidents().map((i) => i.toRecord()), pipeline };
}

describe('baselines over a month of packet time', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-baseline-'));
    surgePcap = join(dir, 'surge.pcap');
    quietPcap = join(dir, 'quiet.pcap');
    writeMonthPcap(surgePcap, { days: 30, surge: SURGE });
    writeMonthPcap(quietPcap, { days: 30 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a 4x surge on one port for one hour is exactly one anomaly, at that hour, naming expected and observed', () => {
    const { records, pipeline } = analyze([surgePcap]);
    assert.equal(records.length, 1, JSON.stringify(records));
    const r = records[0];
    assert.equal(r.kind, 'anomaly');
    assert.equal(r.class, 'connections');
    assert.equal(r['destination.ip'], SERVER);
    assert.equal(r['destination.port'], 'tcp/443');
    assert.equal(r.first_seen, new Date(monthHourMs(SURGE.day, SURGE.hour)).toISOString());
    assert.equal(r.last_seen, new Date(monthHourMs(SURGE.day, SURGE.hour + 1)).toISOString());
    const e = r.evidence;
    assert.equal(e.scope, 'port');
    assert.ok(typeof e.expected === 'number' && typeof e.observed === 'number');
    assert.ok(e.observed >= 3 * e.expected, `observed ${e.observed}, expected ${e.expected}`);
    assert.ok(typeof e.robust_z === 'number' && e.robust_z >= 4);
    assert.equal(e.samples, 4); // four earlier weeks of this hour of the week
    assert.match(String(e.trigger), /new connections an hour at 10\.0\.0\.1 tcp\/443, expected/);
    // Host, address, 4 ports: 4 + 3 + 4 × 2 metrics, each its fixed size.
    assert.equal(pipeline.baseline!.trackedMetrics, 15);
    assert.equal(pipeline.baseline!.counter('anomalies'), 1);
    assert.equal(pipeline.baseline!.counter('hours'), 30 * 24 - 1);
  });

  it('the same month without the surge raises nothing, in any week', () => {
    const { records } = analyze([quietPcap]);
    assert.deepEqual(records, []);
  });

  it('the surge is judged only after the warm-up: with too few weeks of history it is learned, not alerted', () => {
    const settings = { ...defaultConfig('aggressive').baseline, minSamples: 5 };
    assert.deepEqual(analyze([surgePcap], settings).records, []);
  });

  it('off in the normal profile, on in aggressive and paranoid', () => {
    assert.equal(defaultConfig('normal').baseline.enabled, false);
    assert.equal(defaultConfig('aggressive').baseline.enabled, true);
    assert.equal(defaultConfig('paranoid').baseline.enabled, true);
    assert.equal(new Pipeline(defaultConfig('normal').detection, null, defaultConfig('normal').baseline).baseline, null);
  });
});

describe('baseline limits', () => {
  it('tracks at most maxMetrics metrics; further servers are counted, the host is always tracked', () => {
    const settings = { ...defaultConfig('aggressive').baseline, maxMetrics: 4 + 3 + 2 * 2 };
    const s = new Scenario('aggressive', settings);
    for (let i = 0; i < 10; i++) {
      const server = `10.0.1.${i + 1}`;
      s.at(i * 10).tcp('10.9.0.1', server, 40000 + i, 80, 'S').tcp(server, '10.9.0.1', 80, 40000 + i, 'SA').tcp(server, '10.9.0.1', 443, 41000 + i, 'SA');
    }
    const b = s.pipeline.baseline!;
    assert.equal(b.trackedMetrics, 11); // host 4, the first server's address 3, its two ports 2 each
    assert.equal(b.counter('limit.metrics'), 18); // both answers of each of the 9 other servers
    assert.equal(b.memoryBytes, b.counter('memory_bytes'));
    assert.ok(b.counter('metric_bytes') <= 8192);
  });
});
