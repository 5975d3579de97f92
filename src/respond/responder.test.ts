/**
 * The responder's user-space path without a kernel: SYNs handed to `onFrame` directly, replies
 * recorded by a fake sender, a test clock, and `true` standing in for nft. Checks the order of the
 * checks (nothing is sent past a suppression), the text encoded per settings, and the throttled
 * send-failure log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Decision } from '../model/decision.js';
import type { Guard } from '../decide/lockout-guard.js';
import { decodeFrame } from '../decode/decoder.js';
import { DecodeStats } from '../decode/events.js';
import { IpProtocol, LinkType, Packet, TcpFlag } from '../model/packet.js';
import { ipv4, tcp } from '../../test/support/frames.js';
import type { EventLogger } from '../model/logger.js';
import { Responder } from './responder.js';
import { RESPOND_PROFILES, type RespondSettings } from './settings.js';

const SCANNER = '198.51.100.7';
const OTHER = '198.51.100.8';
const HOST = '192.0.2.10';

function synFrame(src: string, flags: number = TcpFlag.SYN): Buffer {
  return ipv4({ src, dst: HOST, protocol: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: 22, seq: 1, flags, window: 1024 }));
}

function payloadOf(reply: Buffer): string {
  const p = new Packet();
  decodeFrame(p, reply, 0, reply.length, LinkType.RAW, 0, new DecodeStats());
  assert.equal(p.valid, true);
  return reply.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength).toString('utf8');
}

function setup(overrides: Partial<RespondSettings>, sendOutcome = 'sent') {
  let now = 1_000_000;
  const sent: { reply: Buffer; address: string }[] = [];
  const warnings: Record<string, unknown>[] = [];
  const noop = (): void => {};
  const log = { info: noop, error: noop, debug: noop, warn: (fields: Record<string, unknown>) => warnings.push(fields) } as unknown as EventLogger;
  const settings: RespondSettings = { ...RESPOND_PROFILES.normal, mode: 'try-harder', nflogGroup: 9001, ...overrides };
  const responder = new Responder({
    settings,
    captureGroup: 9000,
    guard: () => ({ protects: () => null }) as unknown as Guard,
    log,
    nftPath: 'true',
    clock: () => now,
    sender: {
      open: () => {},
      close: () => {},
      send: (reply: Buffer, address: string) => {
        sent.push({ reply, address });
        return sendOutcome;
      },
    },
  });
  const ban = (address: string): void => {
    const decision = {
      action: 'ban',
      targets: [address],
      durationSeconds: 900,
      reason: '',
      refused: [],
      bans: [{ target: address, timeoutSeconds: 900 }],
      incident: { kind: 'scan', class: 'syn', 'source.ip': address, probes: 10, first_seen: '', last_seen: '', confidence: 1, evidence: {} },
    } as unknown as Decision;
    responder.onDecision(decision);
  };
  const frame = (src: string, flags?: number): void => {
    const f = synFrame(src, flags);
    responder.onFrame(f, 0, f.length, 0, LinkType.RAW);
  };
  return { responder, sent, warnings, ban, frame, advance: (ms: number) => (now += ms) };
}

test('only banned sources get a reply, within the per-source burst; not-SYNs are not answered', async () => {
  const t = setup({ perSourceBurst: 3, perSourcePerSecond: 1, burst: 100, maxPerSecond: 100 });
  t.frame(SCANNER); // nobody answered yet
  t.ban(SCANNER);
  for (let i = 0; i < 5; i++) t.frame(SCANNER);
  t.frame(OTHER);
  t.frame(SCANNER, TcpFlag.SYN | TcpFlag.ACK);
  assert.equal(t.sent.length, 3);
  assert.ok(t.sent.every((s) => s.address === SCANNER));
  const c = await t.responder.counters();
  assert.equal(c['respond.sent'], 3);
  assert.equal(c['respond.suppressed.source'], 2);
  assert.equal(c['respond.suppressed.unknown'], 2);
  assert.equal(c['respond.suppressed.not_syn'], 1);
  await t.responder.stop();
});

test('the global cap is checked before a reply is sent', async () => {
  const t = setup({ perSourceBurst: 100, perSourcePerSecond: 100, burst: 2, maxPerSecond: 1 });
  t.ban(SCANNER);
  for (let i = 0; i < 4; i++) t.frame(SCANNER);
  assert.equal(t.sent.length, 2);
  assert.equal((await t.responder.counters())['respond.suppressed.global'], 2);
  await t.responder.stop();
});

test('try-harder carries the configured text, and the text of the new settings after a reload', async () => {
  const t = setup({ text: 'first text' });
  t.ban(SCANNER);
  t.frame(SCANNER);
  assert.equal(payloadOf(t.sent[0]!.reply), 'first text');
  await t.responder.reload({ ...t.responder.settings, text: 'second text' });
  t.frame(SCANNER);
  assert.equal(t.sent.length, 2);
  assert.equal(payloadOf(t.sent[1]!.reply), 'second text');
  await t.responder.stop();
});

test('send failures are all counted but logged at most once per 10 s, with the count', async () => {
  const t = setup({ perSourceBurst: 1000, perSourcePerSecond: 1000, burst: 1000, maxPerSecond: 1000 }, 'EPERM');
  t.ban(SCANNER);
  for (let i = 0; i < 5; i++) t.frame(SCANNER);
  const failed = t.warnings.filter((w) => w['event.action'] === 'respond-send-failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.count, 1);
  t.advance(9_999);
  t.frame(SCANNER);
  assert.equal(t.warnings.filter((w) => w['event.action'] === 'respond-send-failed').length, 1);
  t.advance(1);
  t.frame(SCANNER);
  const again = t.warnings.filter((w) => w['event.action'] === 'respond-send-failed');
  assert.equal(again.length, 2);
  assert.equal(again[1]!.count, 6);
  assert.equal((await t.responder.counters())['respond.send.failed'], 7);
  await t.responder.stop();
});
