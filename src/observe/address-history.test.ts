import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncidentRecord } from '../model/incident.js';
import { PortwardenError } from '../errors.js';
import { BanStore } from '../state/ban-store.js';
import { openStateDatabase } from '../state/database.js';
import { IncidentStore } from '../state/incident-store.js';
import { OffenderStore } from '../state/offender-store.js';
import { StateHistory } from './address-history.js';
import { incidentTimeline } from './incident-timeline.js';
import { RecentIncidents } from './recent-incidents.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const HOUR = 3_600_000;
const DAY = 86_400 * 1000;

function scan(source: string, kind: IncidentRecord['kind'] = 'scan'): IncidentRecord {
  return { kind, class: 'syn', 'source.ip': source, 'destination.ip': '192.0.2.2', probes: 5 } as IncidentRecord;
}

test('an address history from a real state database: incidents, bans with their lengths, and reputation decaying between offences', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-history-'));
  try {
    const db = openStateDatabase(dir);
    const incidents = new IncidentStore(db);
    const bans = new BanStore(db);
    db.transaction(() => {
      // Two offences a day apart, then an operator ban (each new row marks the one before replaced), and a neighbour.
      const a = incidents.add({ atMs: T0, record: scan('192.0.2.7'), decision: 'ban', reason: 'r1' });
      bans.add({ target: '192.0.2.7', reason: 'scan', incidentId: a, createdMs: T0 + 5, expiresMs: T0 + 5 + 900_000, origin: 'detection', durationWhy: '1st offence (1 in all, reputation 1.00): 900 s' });
      const b = incidents.add({ atMs: T0 + DAY, record: scan('192.0.2.7'), decision: 'ban', reason: 'r2' });
      bans.add({ target: '192.0.2.7', reason: 'scan', incidentId: b, createdMs: T0 + DAY + 5, expiresMs: T0 + DAY + 5 + 1_800_000, origin: 'detection', durationWhy: '2nd offence (2 in all, reputation 1.50): 900 s × 2^1 = 1800 s' });
      bans.add({ target: '192.0.2.7', reason: 'by hand', incidentId: null, createdMs: T0 + 2 * DAY, expiresMs: null, origin: 'operator', durationWhy: '' });
      incidents.add({ atMs: T0, record: scan('192.0.2.8'), decision: 'ban', reason: 'other' });
      new OffenderStore(db).put({ address: '192.0.2.7', offences: 2, firstSeenMs: T0, lastSeenMs: T0 + DAY, score: 1.5 });
    }).immediate();
    db.close();

    const now = T0 + 3 * DAY;
    const h = new StateHistory(dir, 86_400).forAddress('192.0.2.7', now);
    assert.deepEqual(h.incidents.map((i) => [i.at, i.kind, i.reason]), [[new Date(T0).toISOString(), 'scan', 'r1'], [new Date(T0 + DAY).toISOString(), 'scan', 'r2']]);
    assert.deepEqual(h.bans.map((b) => [b.origin, b.lengthSeconds, b.active, b.lifted !== null]), [['detection', 900, false, true], ['detection', 1800, false, true], ['operator', null, true, false]]);
    assert.deepEqual(h.offender && [h.offender.offences, h.offender.score], [2, 1.5]);
    assert.equal(h.offender?.scoreNow, 1.5 / 4, 'two half-lives after the last offence');
    const offences = h.reputation.filter((p) => p.offence);
    assert.deepEqual(offences.map((p) => [p.at, p.score]), [[new Date(T0 + 5).toISOString(), 1], [new Date(T0 + DAY + 5).toISOString(), 1.5]], 'the offender record\'s last offence is not counted twice');
    const decay = h.reputation.filter((p) => !p.offence);
    assert.ok(decay.length > 0 && decay.every((p, i) => i === 0 || Date.parse(p.at) > Date.parse(decay[i - 1].at)));
    assert.equal(h.reputation.at(-1)?.at, new Date(now).toISOString());
    assert.ok(Math.abs((h.reputation.at(-1)?.score ?? 0) - 0.375) < 1e-3, 'decays to the score now');
    // Just before the 2nd offence the 1st has decayed about a half-life.
    const before = h.reputation[h.reputation.indexOf(offences[1]) - 1];
    assert.ok(Math.abs(before.score - 0.5) < 1e-3);

    // Without the half-life: the offences only.
    assert.deepEqual(new StateHistory(dir, null).forAddress('192.0.2.7', now).reputation.map((p) => p.score), [1, 1.5]);
    // The live ban's details, for the ban list; none for a target without a live row.
    const live = new StateHistory(dir, null).liveDetails(['192.0.2.7', '192.0.2.8']);
    assert.deepEqual([...live.entries()], [['192.0.2.7', { createdMs: T0 + 2 * DAY, expiresMs: null, durationWhy: '', geo: null }]]);
    assert.throws(() => new StateHistory(dir, null).forAddress('not-an-address', now), (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_USAGE');
    const missing = join(dir, 'nothing-here');
    assert.throws(() => new StateHistory(missing, null).forAddress('192.0.2.7', now), (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_STATE');
    assert.equal(new StateHistory(missing, null).liveDetails(['192.0.2.7']).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('country and AS: from each incident\'s record, and for a ban from its incident; null where the record has none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-history-geo-'));
  try {
    const db = openStateDatabase(dir);
    const incidents = new IncidentStore(db);
    const bans = new BanStore(db);
    const placed = { ...scan('192.0.2.9'), 'source.geo.country_iso_code': 'DE', 'source.as.number': 64501, 'source.as.organization.name': 'Lab Telekom DE' } as IncidentRecord;
    db.transaction(() => {
      incidents.add({ atMs: T0, record: scan('192.0.2.9'), decision: 'log', reason: 'before the database' });
      const id = incidents.add({ atMs: T0 + HOUR, record: placed, decision: 'ban', reason: 'r' });
      bans.add({ target: '192.0.2.9', reason: 'scan', incidentId: id, createdMs: T0 + HOUR, expiresMs: T0 + 2 * HOUR, origin: 'detection', durationWhy: '' });
    }).immediate();
    db.close();
    const geo = { country: 'DE', asn: 64501, asOrganization: 'Lab Telekom DE' };
    const h = new StateHistory(dir, null).forAddress('192.0.2.9', T0 + HOUR + 1);
    assert.deepEqual(h.incidents.map((i) => i.geo), [null, geo]);
    assert.deepEqual(h.bans.map((b) => b.geo), [geo]);
    assert.deepEqual(new StateHistory(dir, null).liveDetails(['192.0.2.9']).get('192.0.2.9')?.geo, geo);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the incident timeline counts the recent incidents per bucket and kind, most frequent kind first', () => {
  const recent = new RecentIncidents(100);
  const now = T0 + HOUR;
  recent.add(scan('192.0.2.1'), 'ban', '', T0 - 60_000); // before the window
  recent.add(scan('192.0.2.1'), 'ban', '', T0 + 10 * 60_000);
  recent.add(scan('192.0.2.2'), 'ban', '', T0 + 10 * 60_000 + 5_000);
  recent.add(scan('192.0.2.3', 'sweep'), 'alert', '', now - 1_000);
  const t = incidentTimeline(recent.list(), 3600, now);
  assert.equal(t.bucketSeconds, 60);
  assert.equal(t.buckets.length, 60);
  assert.deepEqual(t.kinds, ['scan', 'sweep']);
  const nonEmpty = t.buckets.filter((b) => Object.keys(b.counts).length > 0);
  assert.deepEqual(nonEmpty.map((b) => [b.start, b.counts]), [
    [new Date(T0 + 10 * 60_000).toISOString(), { scan: 2 }],
    [new Date(now - 60_000).toISOString(), { sweep: 1 }],
  ]);
  assert.equal(t.oldest, new Date(T0 - 60_000).toISOString());
  // A day in at most 120 buckets; never under a minute each.
  assert.equal(incidentTimeline([], 86_400, now, 1000).buckets.length, 120);
  assert.equal(incidentTimeline([], 600, now).bucketSeconds, 60);
  assert.equal(incidentTimeline([], 600, now).oldest, null);
});
