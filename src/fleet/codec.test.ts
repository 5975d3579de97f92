/** The fleet's message codec and signing, the rate cap and the expiry math, without NATS. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSigned, encodeSigned, isFleetMessage, keyOf, secondsLeft, type FleetBan } from './codec.js';
import { Outbox } from './outbox.js';
import { fingerprint, generateKey, loadOrCreateKey, publicKeyObject, readKey, writeNewKey } from './signing.js';
import { fleetSchema, FLEET_DEFAULTS, isPublicKeyText } from './settings.js';
import { SourceLimiter } from '../net/rate-limit.js';

const a = generateKey().key;
const b = generateKey().key;
const ban: FleetBan = { v: 1, t: 'ban', host: 'web-1', target: '192.0.2.7', reason: 'scan', incident: 'web-1:scan:1', createdAt: 1_000_000, expiresAt: 1_900_000 };
const trusted = (host: string) => (host === 'web-1' ? publicKeyObject(a.publicKey) : undefined);

test('a signed message decodes to itself with the origin host', () => {
  const d = decodeSigned(encodeSigned(a, ban), trusted, isFleetMessage);
  assert.deepEqual(d, { ok: true, message: ban, host: 'web-1' });
});

test('unsigned, unknown-key, bad-signature and malformed messages are refused with the reason', () => {
  const enc = new TextEncoder();
  assert.deepEqual(decodeSigned(enc.encode(JSON.stringify(ban)), trusted, isFleetMessage), { ok: false, why: 'unsigned' });
  assert.deepEqual(decodeSigned(encodeSigned(b, { ...ban, host: 'web-9' }), trusted, isFleetMessage), { ok: false, why: 'unknown-key', host: 'web-9' });
  // Signed by b, claiming to be web-1 (whose trusted key is a's).
  assert.deepEqual(decodeSigned(encodeSigned(b, ban), trusted, isFleetMessage), { ok: false, why: 'bad-signature', host: 'web-1' });
  // One byte of the payload changed after signing.
  const frame = encodeSigned(a, ban);
  const i = frame.lastIndexOf(0x37); // a '7' of the target
  frame[i] = 0x38;
  assert.deepEqual(decodeSigned(frame, trusted, isFleetMessage), { ok: false, why: 'bad-signature', host: 'web-1' });
  assert.deepEqual(decodeSigned(encodeSigned(a, { host: 'web-1', t: 'ban' } as { host: string }), trusted, isFleetMessage), { ok: false, why: 'malformed', host: 'web-1' });
  assert.deepEqual(decodeSigned(enc.encode('garbage'), trusted, isFleetMessage), { ok: false, why: 'malformed' });
});

test('KV keys of addresses and prefixes use only characters KV keys allow, one per target', () => {
  assert.equal(keyOf('192.0.2.7'), '192.0.2.7');
  assert.equal(keyOf('2001:db8::/64'), '2001_db8__=64');
  for (const t of ['192.0.2.0/24', '2001:db8::1', '::1']) assert.match(keyOf(t), /^[-/_=.a-zA-Z0-9]+$/);
  assert.notEqual(keyOf('2001:db8::1'), keyOf('2001:db8::/64'));
});

test('expiry math: the time left rounded up; under a second left is ended; null stays permanent', () => {
  assert.equal(secondsLeft(null, 5), null);
  assert.equal(secondsLeft(10_000, 0), 10);
  assert.equal(secondsLeft(10_001, 0), 11);
  assert.equal(secondsLeft(10_000, 9_001), 'expired');
  assert.equal(secondsLeft(10_000, 10_000), 'expired');
  assert.equal(secondsLeft(10_000, 20_000), 'expired');
});

test('the rate cap allows maxFleetBansPerMinute per origin host, judged on the bans\' own time', () => {
  const perMinute = 600;
  const cap = new SourceLimiter(perMinute / 60, perMinute, 1024);
  let allowed = 0;
  for (let i = 0; i < 1000; i++) if (cap.take('web-1', 1_000_000)) allowed++; // 1,000 bans at once
  assert.equal(allowed, perMinute);
  assert.ok(cap.take('web-2', 1_000_000), 'another host has its own cap');
  assert.ok(!cap.take('web-1', 1_000_050), 'a twentieth of a second later: half a token back, not a ban');
  assert.ok(cap.take('web-1', 1_000_000 + 60_000), 'a minute later it may ban again');
});

test('the outbox keeps the last word per target, bounded, and settles only what was sent', () => {
  const box = new Outbox<string>(3);
  box.put('x', 'ban');
  box.put('y', 'ban');
  box.put('x', 'unban'); // replaces x's ban and moves to the end
  assert.deepEqual(box.take(10, new Set()), [['y', 'ban'], ['x', 'unban']]);
  box.settle('x', 'ban'); // an older word acknowledged: the newer stays
  assert.equal(box.size, 2);
  box.settle('x', 'unban');
  assert.equal(box.size, 1);
  for (const k of ['p', 'q', 'r']) box.put(k, 'ban');
  assert.equal(box.size, 3);
  assert.equal(box.dropped, 1);
  assert.deepEqual(box.take(10, new Set(['q'])).map(([k]) => k), ['p', 'r']);
});

test('keys: made 0600 at first start, read back the same, refused when not a key; the public line is what trustedKeys takes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-fleet-key-'));
  try {
    const file = join(dir, 'sub', 'fleet.key');
    const made = loadOrCreateKey(file);
    assert.equal(made.created, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = loadOrCreateKey(file);
    assert.equal(again.created, false);
    assert.equal(again.key.publicKey, made.key.publicKey);
    assert.ok(isPublicKeyText(made.key.publicKey));
    assert.match(fingerprint(made.key.publicKey), /^[0-9a-f]{16}$/);
    assert.throws(() => writeNewKey(file), /already there/);
    writeFileSync(join(dir, 'bad.key'), 'not a key\n');
    assert.throws(() => readKey(join(dir, 'bad.key')), (e: Error & { code?: string }) => e.code === 'PW_ERR_FLEET' && e.message.includes('bad.key'));
    const parsed = fleetSchema.safeParse({ ...FLEET_DEFAULTS, trustedKeys: { 'web-1': made.key.publicKey } });
    assert.equal(parsed.success, true);
    const bad = fleetSchema.safeParse({ ...FLEET_DEFAULTS, trustedKeys: { 'web-1': 'abc' } });
    assert.equal(bad.success, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
