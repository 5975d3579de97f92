/**
 * Restore at start: the database is the record of what is banned; the kernel is what is enforced.
 * Before the daemon replaces its table it reads the kernel's bans; this compares the two and says what
 * goes back into the kernel (with the time it has left) and what to repair:
 *
 *   - in both: restored with the database's remaining time (the record; the kernel's may have drifted);
 *   - only in the database, with the table present: the kernel lost it (someone deleted the element):
 *     restored, and logged as a repair;
 *   - only in the database, no table at all (reboot, table deleted, `--flush-on-exit`): restored; that
 *     is what restore is for, not a repair;
 *   - only in the kernel: banned by the daemon but never recorded (a crash between kernel and
 *     database cannot happen in that order, but an operator's `nft add element` or an older version
 *     can): kept with the kernel's remaining time, written to the database, and logged as a repair.
 */
import type { KernelBan } from '../model/ban.js';
import type { BanRow } from './ban-store.js';

export interface RestoreBan {
  target: string;
  /** Seconds left; null: no expiry. */
  seconds: number | null;
  reason: string;
  origin: BanRow['origin'];
  /** Wall-clock ms it ends (null: no expiry). */
  expiresMs: number | null;
}

export interface Repair {
  target: string;
  /** `missing-from-kernel` or `missing-from-database`. */
  kind: 'missing-from-kernel' | 'missing-from-database';
}

export interface RestorePlan {
  restore: RestoreBan[];
  /** Kernel bans the database did not have: to be written to it. */
  record: RestoreBan[];
  repairs: Repair[];
}

/**
 * The plan for `stored` (live database bans) and `kernel` (what the kernel held before the table was
 * replaced; `tablePresent` false when there was no table). Bans with under a second left are let go.
 */
export function planRestore(stored: readonly BanRow[], kernel: readonly KernelBan[], tablePresent: boolean, nowMs: number): RestorePlan {
  const inKernel = new Map<string, KernelBan>();
  for (const k of kernel) inKernel.set(k.target, k);
  const plan: RestorePlan = { restore: [], record: [], repairs: [] };
  const known = new Set<string>();
  for (const b of stored) {
    known.add(b.target);
    const seconds = b.expiresMs === null ? null : Math.ceil((b.expiresMs - nowMs) / 1000);
    if (seconds !== null && seconds <= 0) continue;
    plan.restore.push({ target: b.target, seconds, reason: b.reason, origin: b.origin, expiresMs: b.expiresMs });
    if (tablePresent && !inKernel.has(b.target)) plan.repairs.push({ target: b.target, kind: 'missing-from-kernel' });
  }
  for (const k of kernel) {
    if (known.has(k.target)) continue;
    if (k.expiresInSeconds !== null && k.expiresInSeconds <= 0) continue;
    const ban: RestoreBan = {
      target: k.target,
      seconds: k.expiresInSeconds,
      reason: 'found in the kernel, not in the state database',
      origin: 'detection',
      expiresMs: k.expiresInSeconds === null ? null : nowMs + k.expiresInSeconds * 1000,
    };
    plan.restore.push(ban);
    plan.record.push(ban);
    plan.repairs.push({ target: k.target, kind: 'missing-from-database' });
  }
  return plan;
}
