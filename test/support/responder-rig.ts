/**
 * Test helper, not shipped behaviour: a Responder without a kernel for responder.test.ts and
 * responder.netns.test.ts. SYNs are handed to `onFrame` directly, replies recorded by a fake sender,
 * the clock is the test's, and `true` stands in for nft. Only a user-space mode started or reloaded
 * binds a real NFLOG group (RESPOND_GROUP), which needs root.
 */
import assert from 'node:assert/strict';
import type { Decision } from '../../src/model/decision.js';
import type { Guard } from '../../src/decide/lockout-guard.js';
import { decodeFrame } from '../../src/decode/decoder.js';
import { DecodeStats } from '../../src/decode/events.js';
import { IpProtocol, LinkType, Packet, TcpFlag } from '../../src/model/packet.js';
import { ipv4, tcp } from './frames.js';
import type { EventLogger } from '../../src/model/logger.js';
import { Responder } from '../../src/respond/responder.js';
import { RESPOND_PROFILES, type RespondSettings } from '../../src/respond/settings.js';

/** The NFLOG group a reload into try-harder binds: one per test process, so concurrent runs never share it. */
export const RESPOND_GROUP = 9000 + (process.pid % 1000);

export const SCANNER = '198.51.100.7';
export const OTHER = '198.51.100.8';
export const HOST = '192.0.2.10';

export function synFrame(src: string, flags: number = TcpFlag.SYN): Buffer {
  return ipv4({ src, dst: HOST, protocol: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: 22, seq: 1, flags, window: 1024 }));
}

export function payloadOf(reply: Buffer): string {
  const p = new Packet();
  decodeFrame(p, reply, 0, reply.length, LinkType.RAW, 0, new DecodeStats());
  assert.equal(p.valid, true);
  return reply.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength).toString('utf8');
}

export function setup(overrides: Partial<RespondSettings>, sendOutcome = 'sent') {
  let now = 1_000_000;
  const sent: { reply: Buffer; address: string }[] = [];
  const warnings: Record<string, unknown>[] = [];
  const noop = (): void => {};
  const log = { info: noop, error: noop, debug: noop, warn: (fields: Record<string, unknown>) => warnings.push(fields) } as unknown as EventLogger;
  const settings: RespondSettings = { ...RESPOND_PROFILES.normal, mode: 'try-harder', nflogGroup: RESPOND_GROUP, ...overrides };
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
