import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../config/load.js';
import { Scenario } from '../../../test/support/scenario.js';
import { RobustModel } from './model.js';
import { FEATURE_COUNT } from './features.js';
import { ipPacket, Proto, tcp } from '../../../scripts/frames.js';

const SERVER = '10.0.0.1';
const PROBER = '203.0.113.77';

/** Ordinary clients: each opens a few sessions to the web ports, at irregular times. */
function clients(s: Scenario, n: number): void {
  for (let i = 0; i < n; i++) {
    const client = `10.5.${i >> 8}.${(i & 255) + 1}`;
    let t = i * 997;
    for (let k = 0; k < 3 + (i % 3); k++) {
      s.at(t).session(client, SERVER, 40000 + k, k % 2 === 0 ? 443 : 80);
      t += 150 + ((i * 7919 + k * 104729) % 4000);
    }
  }
}

describe('anomaly model', () => {
  it('scores one-sided against the history, with a floor on each spread', () => {
    const m = new RobustModel(100);
    for (let i = 0; i < 50; i++) m.learn(new Float64Array(FEATURE_COUNT).fill(i % 2 === 0 ? 0 : 0.01));
    assert.equal(m.score(new Float64Array(FEATURE_COUNT)).score, 0);
    // Below the usual on every feature: nothing unusual in the direction that matters.
    assert.equal(m.score(new Float64Array(FEATURE_COUNT).fill(-5)).score, 0);
    const failing = new Float64Array(FEATURE_COUNT);
    failing[3] = 1; // every contact failed, against a history of none: (1 - 0) / 0.1 floor
    const s = m.score(failing);
    assert.ok(Math.abs(s.z[3] - 10) < 0.2, String(s.z[3]));
    const copy = m.clone();
    copy.learn(failing);
    assert.equal(m.trained, 50);
    assert.equal(copy.trained, 51);
  });

  it('off by default; when on, reports a source the fixed detectors missed, alert only, naming its unusual features', () => {
    assert.equal(defaultConfig('paranoid').anomaly.enabled, false);
    const settings = { ...defaultConfig('normal').anomaly, enabled: true };
    const withModel = new Scenario('normal', null, settings);
    const pipeline = withModel.pipeline;
    clients(withModel, 60);
    // FIN probes at a metronome's pace to four closed ports (below the scan detector's five), each tried
    // three times, with a TTL the tool varies per packet.
    for (let i = 0; i < 12; i++) {
      const port = 20 + (i % 4);
      const fin = tcp({ src: PROBER, dst: SERVER, srcPort: 61000, dstPort: port, flags: 'F', seq: 1 });
      withModel.at(200_000 + i * 1000).send(ipPacket({ src: PROBER, dst: SERVER, protocol: Proto.TCP, payload: fin, ttl: 32 + ((i * 13) % 33) }));
      withModel.tcp(SERVER, PROBER, port, 61000, 'RA', { seq: 0 });
    }
    const records = withModel.finish();
    assert.deepEqual(records.map((r) => `${r.kind}/${r.class} ${r['source.ip']}`), ['anomaly/behaviour 203.0.113.77']);
    const e = records[0].evidence as { score: number; robust_z: Record<string, number>; trained_on: number };
    assert.ok(e.score >= settings.alertScore);
    assert.ok(e.robust_z.odd_flags > 5 && e.robust_z.failure_ratio > 5 && e.robust_z.ttl_spread > 3, JSON.stringify(e.robust_z));
    assert.ok(e.trained_on >= settings.minTraining);
    assert.equal(pipeline.behaviour!.reported, 1);
  });
});
