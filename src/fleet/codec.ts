/**
 * The fleet's wire format: one signed message per KV value or subject message. A message is the
 * base64 ed25519 signature, a newline, and the payload's JSON; the signature covers the payload bytes
 * exactly as sent, so nothing is re-serialised before verifying. The payload names its origin host,
 * whose key (from `trustedKeys`) must verify it: unsigned, unknown-key, bad-signature and malformed
 * messages are refused with the reason, for the counters and the log.
 */
import type { KeyObject } from 'node:crypto';
import { signBytes, verifyBytes, type SigningKey } from './signing.js';

export const WIRE_VERSION = 1;

/** A ban decided on `host`: the target, why, and until when (wall-clock ms; null: no expiry). */
export interface FleetBan {
  v: 1;
  t: 'ban';
  host: string;
  /** An address or a prefix (canonical text). */
  target: string;
  reason: string;
  /** The incident behind it on the origin host, if any. */
  incident: string | null;
  createdAt: number;
  expiresAt: number | null;
}

/** A ban lifted on `host` (kept as a signed tombstone in the bucket until its TTL). */
export interface FleetUnban {
  v: 1;
  t: 'unban';
  host: string;
  target: string;
  at: number;
}

export type FleetMessage = FleetBan | FleetUnban;

export type Refusal = 'unsigned' | 'unknown-key' | 'bad-signature' | 'malformed';
export const REFUSALS: readonly Refusal[] = ['unsigned', 'unknown-key', 'bad-signature', 'malformed'];

export type Decoded<M> = { ok: true; message: M; host: string } | { ok: false; why: Refusal; host?: string };

const NL = 0x0a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Signs `payload` (which must name its `host`) and frames it. */
export function encodeSigned<P extends { host: string }>(key: SigningKey, payload: P): Uint8Array {
  const body = encoder.encode(JSON.stringify(payload));
  const sig = encoder.encode(signBytes(key, body));
  const out = new Uint8Array(sig.length + 1 + body.length);
  out.set(sig, 0);
  out[sig.length] = NL;
  out.set(body, sig.length + 1);
  return out;
}

/**
 * Verifies and parses a frame. `keyOf(host)` gives the trusted key of a host, or undefined. `check`
 * tells whether the parsed payload has the expected shape (refused as malformed otherwise).
 */
export function decodeSigned<M extends { host: string }>(bytes: Uint8Array, keyOf: (host: string) => KeyObject | undefined, check: (value: unknown) => value is M): Decoded<M> {
  const nl = bytes.indexOf(NL);
  // A signature is 88 base64 characters: anything else before the first newline is no signature.
  if (nl !== 88) return { ok: false, why: looksLikeJson(bytes) ? 'unsigned' : 'malformed' };
  const body = bytes.subarray(nl + 1);
  let payload: unknown;
  try {
    payload = JSON.parse(decoder.decode(body));
  } catch {
    return { ok: false, why: 'malformed' };
  }
  const host = typeof payload === 'object' && payload !== null ? (payload as { host?: unknown }).host : undefined;
  if (typeof host !== 'string') return { ok: false, why: 'malformed' };
  const key = keyOf(host);
  if (key === undefined) return { ok: false, why: 'unknown-key', host };
  if (!verifyBytes(key, body, decoder.decode(bytes.subarray(0, nl)))) return { ok: false, why: 'bad-signature', host };
  if (!check(payload)) return { ok: false, why: 'malformed', host };
  return { ok: true, message: payload, host };
}

function looksLikeJson(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === 0x7b; // '{'
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function isFleetMessage(value: unknown): value is FleetMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  if (m.v !== WIRE_VERSION || typeof m.host !== 'string' || typeof m.target !== 'string') return false;
  if (m.t === 'unban') return isNum(m.at);
  if (m.t !== 'ban') return false;
  return typeof m.reason === 'string' && (m.incident === null || typeof m.incident === 'string') && isNum(m.createdAt) && (m.expiresAt === null || isNum(m.expiresAt));
}

/**
 * The KV key of a target: KV keys allow letters, digits and `-/_=.`, so an IPv6 address's colons
 * become underscores and a prefix's slash `=` (one key per target; the value says which exactly).
 */
export function keyOf(target: string): string {
  return target.replaceAll(':', '_').replace('/', '=');
}

/** Seconds a ban still has at `nowMs` (rounded up), null for no expiry, or 'expired'. */
export function secondsLeft(expiresAt: number | null, nowMs: number): number | null | 'expired' {
  if (expiresAt === null) return null;
  const left = expiresAt - nowMs;
  return left < 1000 ? 'expired' : Math.ceil(left / 1000);
}
