/**
 * A CrowdSec decision as the LAPI serves it (crowdsec pkg/models/decision.go, v1.4): what portwarden's
 * ban book holds, in the words bouncers read. Field order is Go's (alphabetical in the generated
 * model), so an answer reads like the real LAPI's.
 */
import type { ActiveBan } from '../enforce/ban-book.js';
import type { Target } from '../model/ban.js';
import { goDuration } from './go-duration.js';

export interface LapiDecision {
  /** Time left as a Go duration ("3h59m58.5s"); negative or "0s" for a deleted decision. */
  duration: string;
  id: number;
  /** Who made the ban: detection, operator, config (and later fleet). */
  origin: string;
  /** The ban's reason (CrowdSec's scenario name). */
  scenario: string;
  scope: 'Ip' | 'Range';
  type: 'ban';
  value: string;
}

/**
 * CrowdSec decisions always end; a portwarden ban without expiry is served as ten years (what
 * `cscli decisions add -d 87600h` makes), so a bouncer holds it until the unban deletes it.
 */
export const PERMANENT_MS = 87_600 * 3_600_000;

/** Milliseconds of `ban` a bouncer is told at `nowMs`: what is left, at most `maxMs` (null: no cap). */
export function servedMs(ban: ActiveBan, nowMs: number, maxMs: number | null): number {
  const left = ban.expiresAtMs === null ? PERMANENT_MS : ban.expiresAtMs - nowMs;
  return maxMs === null ? left : Math.min(left, maxMs);
}

/** A ban as a decision with `id`, its duration counted from `nowMs` (at most `maxMs`). */
export function toDecision(id: number, target: Target, ban: ActiveBan, nowMs: number, maxMs: number | null = null): LapiDecision {
  const left = servedMs(ban, nowMs, maxMs);
  return { duration: goDuration(left), id, origin: ban.origin, scenario: ban.reason, scope: target.includes('/') ? 'Range' : 'Ip', type: 'ban', value: target };
}

/**
 * A decision that no longer holds: its duration is what was left of it when it ended ("0s" for an
 * unban, negative once expired), as the LAPI reports soft-deleted and expired decisions.
 */
export function toDeleted(id: number, target: Target, ban: ActiveBan, nowMs: number): LapiDecision {
  const d = toDecision(id, target, ban, nowMs);
  if (ban.expiresAtMs === null || ban.expiresAtMs > nowMs) d.duration = '0s';
  return d;
}
