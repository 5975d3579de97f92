/**
 * The baselines outlive a restart: a month analysed in two halves, with the learned state written to a
 * real state.db between them and read back by a fresh pipeline, gives exactly the incidents of one run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { defaultConfig } from '../config/load.js';
import { analyzeFiles, Pipeline } from '../detect/pipeline.js';
import { PcapWriter } from '../capture/pcap-writer.js';
import { LinkType } from '../model/packet.js';
import { monthHourMs, monthOfTraffic } from '../../bench/baseline-month.js';
import { openState } from './state-store.js';
import { STATE_FILE } from './database.js';

const config = defaultConfig('aggressive');
let dir: string;
let whole: string;
let first: string;
let second: string;

function records(p: Pipeline): unknown[] {
  return p.engine.incidents().map((i) => i.toRecord());
}

describe('baseline state in state.db', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-baseline-state-'));
    whole = join(dir, 'whole.pcap');
    first = join(dir, 'first.pcap');
    second = join(dir, 'second.pcap');
    // The cut falls in the middle of an hour, so the hour being counted must survive too.
    const cutUs = (monthHourMs(15, 10) + 30 * 60_000) * 1000;
    const w = new PcapWriter(whole, LinkType.ETHERNET);
    const a = new PcapWriter(first, LinkType.ETHERNET);
    const b = new PcapWriter(second, LinkType.ETHERNET);
    for (const f of monthOfTraffic({ days: 30, surge: { day: 29, hour: 14, port: 443, factor: 4 } })) {
      w.write(f.tsUs, f.frame);
      (f.tsUs < cutUs ? a : b).write(f.tsUs, f.frame);
    }
    for (const x of [w, a, b]) x.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('analysing the month in two runs with a restart between them equals one run', () => {
    const one = new Pipeline(config.detection, null, config.baseline);
    analyzeFiles([whole], one);
    const expected = records(one);
    assert.equal(expected.length, 1);

    const stateDir = join(dir, 'state');
    const before = new Pipeline(config.detection, null, config.baseline);
    analyzeFiles([first], before);
    let store = openState(stateDir, (err) => assert.fail(err.message));
    assert.equal(store.persistent, true);
    store.saveBaseline(before.baseline!.snapshot(), Date.now());
    store.close();

    // What is on disk: one row per tracked place, the clock in the middle of hour 10 of day 15.
    const db = new Database(join(stateDir, STATE_FILE), { readonly: true });
    const names = (db.prepare('SELECT name FROM baseline_metrics ORDER BY position').all() as { name: string }[]).map((r) => r.name);
    assert.equal(names[0], 'host');
    assert.deepEqual([...names].sort(), ['10.0.0.1', ...['22', '25', '443', '80'].map((p) => `10.0.0.1|tcp/${p}`), 'host']);
    const clock = db.prepare('SELECT hour_start_ms, packets_this_hour FROM baseline_clock').get() as { hour_start_ms: number; packets_this_hour: number };
    db.close();
    assert.equal(clock.hour_start_ms, monthHourMs(15, 10));
    assert.ok(clock.packets_this_hour > 0);

    store = openState(stateDir, (err) => assert.fail(err.message));
    const saved = store.loadBaseline();
    store.close();
    assert.ok(saved !== null);
    const after = new Pipeline(config.detection, null, config.baseline);
    after.baseline!.restore(saved);
    analyzeFiles([second], after);
    assert.deepEqual(records(after), expected);
  });

  it('without the saved state the second half has too little history to judge the surge: the restore is what finds it', () => {
    const fresh = new Pipeline(config.detection, null, config.baseline);
    analyzeFiles([second], fresh);
    assert.deepEqual(records(fresh), []);
  });

  it('a state with nothing saved reads as null; a damaged row is refused, not half-read', () => {
    const stateDir = join(dir, 'empty');
    const store = openState(stateDir, (err) => assert.fail(err.message));
    assert.equal(store.loadBaseline(), null);
    const p = new Pipeline(config.detection, null, config.baseline);
    const snap = p.baseline!.snapshot();
    snap.keys[0].data = snap.keys[0].data.subarray(0, 100);
    store.saveBaseline(snap, Date.now());
    const back = store.loadBaseline()!;
    store.close();
    assert.throws(() => new Pipeline(config.detection, null, config.baseline).baseline!.restore(back), /bytes of state, expected/);
  });
});
