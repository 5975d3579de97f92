import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decayedScore, Escalation, ordinal, seededRandom, type EscalationSettings } from './escalation.js';
import { type OffenderBook, type OffenderRecord } from '../model/offender.js';

function book(): OffenderBook & { map: Map<string, OffenderRecord> } {
  const map = new Map<string, OffenderRecord>();
  return { map, get: (a) => map.get(a), put: (r) => void map.set(r.address, r) };
}

const DAY_MS = 86_400_000;
const base: EscalationSettings = { enabled: true, factor: 2, maxBanSeconds: 86_400, jitterRatio: 0, permanentAfter: 0, scoreHalfLifeSeconds: 365 * 86_400 };

test('the escalation sequence: base × factor^(n−1), capped, with the why of each length', () => {
  const e = new Escalation(base, book());
  const t0 = Date.UTC(2026, 0, 1);
  // One offence a minute: the score barely decays with a year's half-life.
  const got = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => e.offence('192.0.2.7', 600, t0 + n * 60_000));
  assert.deepEqual(
    got.map((g) => g.seconds),
    [600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 86400],
  );
  assert.match(got[0].why, /^1st offence \(1 in all, reputation 1\.00\): 600 s, the profile's ban$/);
  assert.match(got[2].why, /^3rd offence \(3 in all, reputation 3\.00\): 600 s × 2\^2 = 2,400 s → 2,400 s \(40m\)$/);
  assert.match(got[8].why, /9th offence .*600 s × 2\^8 = 153,600 s, capped at 86,400 s → 86,400 s \(1d\)$/);
  assert.equal(got[8].offender.offences, 9);
});

test('jitter is seeded and bounded, never on the first offence, and never past the cap', () => {
  const run = () => {
    const e = new Escalation({ ...base, jitterRatio: 0.1 }, book(), seededRandom(42));
    return [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => e.offence('198.51.100.1', 600, n * 1000));
  };
  const a = run();
  const b = run();
  assert.deepEqual(a.map((x) => x.seconds), b.map((x) => x.seconds), 'same seed, same sequence');
  assert.equal(a[0].seconds, 600);
  for (let i = 1; i < a.length; i++) {
    const nominal = Math.min(600 * 2 ** i, 86_400);
    const s = a[i].seconds!;
    assert.ok(s >= Math.floor(nominal * 0.9) && s <= Math.min(Math.ceil(nominal * 1.1), 86_400), `${i + 1}: ${s} vs ${nominal}`);
    assert.match(a[i].why, /jitter [+−]\d+ %/);
  }
  assert.ok(a.slice(1).some((x, i) => x.seconds !== Math.min(600 * 2 ** (i + 1), 86_400)), 'jitter changes something');
});

test('offences count across incident kinds and addresses apart; the score decays with its half-life', () => {
  const e = new Escalation({ ...base, scoreHalfLifeSeconds: 86_400 }, book());
  assert.equal(e.offence('192.0.2.1', 3600, 0).seconds, 3600); // a scan (1 h base)
  assert.equal(e.offence('192.0.2.1', 600, 1000).seconds, 1200); // then a flood (10 min base): 2nd offence
  assert.equal(e.offence('192.0.2.2', 600, 2000).seconds, 600, 'another address starts at 1');
  // Ten half-lives later the earlier offences have decayed to nothing: the 1st offence again.
  const later = e.offence('192.0.2.1', 600, 10 * DAY_MS);
  assert.equal(later.seconds, 600);
  assert.equal(later.offender.offences, 3, 'the lifetime count is kept');
  // One half-life after two offences: score 2 → 1, so the next is the 2nd.
  const f = new Escalation({ ...base, scoreHalfLifeSeconds: 86_400 }, book());
  f.offence('a', 600, 0);
  f.offence('a', 600, 0);
  assert.equal(f.offence('a', 600, DAY_MS).seconds, 1200);
  assert.ok(Math.abs(decayedScore(4, 0, 2 * DAY_MS, 86_400) - 1) < 1e-9);
});

test('permanent from the Nth offence on; escalation off keeps the profile length; null base stays null', () => {
  const e = new Escalation({ ...base, permanentAfter: 3 }, book());
  assert.deepEqual([1, 2, 3, 4].map((n) => e.offence('x', 600, n).seconds), [600, 1200, null, null]);
  assert.match(e.offence('x', 600, 5).why, /no expiry \(permanent from the 3rd offence on\)/);
  const off = new Escalation({ ...base, enabled: false }, book());
  assert.deepEqual([1, 2, 3].map((n) => off.offence('y', 600, n).seconds), [600, 600, 600]);
  assert.equal(new Escalation(base, book()).offence('z', null, 0).seconds, null);
});

test('the policy hook keeps the why for the ban record, once', () => {
  const e = new Escalation(base, book());
  e.durationFor('10.0.0.1', 600, 0);
  assert.equal(e.durationFor('10.0.0.1', 600, 1), 1200);
  assert.match(e.takeWhy('10.0.0.1'), /^2nd offence/);
  assert.equal(e.takeWhy('10.0.0.1'), '');
});

test('settings out of range are refused naming the field', () => {
  assert.throws(() => new Escalation({ ...base, factor: 0.5 }, book()), (err: Error & { code?: string }) => err.code === 'PW_ERR_DECIDE_INPUT' && /escalation\.factor/.test(err.message));
  assert.throws(() => new Escalation({ ...base, jitterRatio: 0.9 }, book()), /escalation\.jitterRatio/);
  assert.deepEqual([1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal), ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '101st']);
});
