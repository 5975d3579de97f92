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
 *
 * The database is compared in canonical form: a row of an older version spelled '10.0.0.5/32' is the
 * ban of '10.0.0.5' (its row is written again so spelled), and a row inside a wider live row (a single
 * ban an older version kept beside the /24 that swallowed it) is retired: the kernel holds one element,
 * so the record holds one ban.
 */
import type { KernelBan } from '../model/ban.js';
import { AddressSet } from '../net/address-set.js';
import { parseTarget, targetContains } from '../net/target.js';
import type { BanRow } from './ban-store.js';

export interface RestoreBan {
  target: string;
  /** Seconds left; null: no expiry. */
  seconds: number | null;
  reason: string;
  origin: BanRow['origin'];
  /** Wall-clock ms it ends (null: no expiry). */
  expiresMs: number | null;
  /** Wall-clock ms it was decided. */
  createdMs: number;
}

/** A live database row to lift: a non-canonical spelling of `by`, or a ban inside the wider ban `by`. */
export interface Retire {
  target: string;
  by: string;
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
  /** Database rows to lift (not repairs: the kernel is not changed by them). */
  retire: Retire[];
}

/**
 * The plan for `stored` (live database bans) and `kernel` (what the kernel held before the table was
 * replaced; `tablePresent` false when there was no table). Bans with under a second left are let go.
 */
export function planRestore(stored: readonly BanRow[], kernel: readonly KernelBan[], tablePresent: boolean, nowMs: number): RestorePlan {
  const inKernel = new Map<string, KernelBan>();
  for (const k of kernel) inKernel.set(k.target, k);
  const plan: RestorePlan = { restore: [], record: [], repairs: [], retire: [] };
  const live = canonicalRows(stored, nowMs, plan.retire);
  const known = new Set<string>(live.keys());
  for (const b of live.values()) {
    const seconds = b.expiresMs === null ? null : Math.ceil((b.expiresMs - nowMs) / 1000);
    const ban: RestoreBan = { target: b.target, seconds, reason: b.reason, origin: b.origin, expiresMs: b.expiresMs, createdMs: b.createdMs };
    plan.restore.push(ban);
    if (b.respelled) plan.record.push(ban);
    if (tablePresent && !inKernel.has(b.target)) plan.repairs.push({ target: b.target, kind: 'missing-from-kernel' });
  }
  const wider = prefixes(live.keys());
  for (const k of kernel) {
    if (known.has(k.target) || insideOf(wider, k.target) !== null) continue;
    if (k.expiresInSeconds !== null && k.expiresInSeconds <= 0) continue;
    const ban: RestoreBan = {
      target: k.target,
      seconds: k.expiresInSeconds,
      reason: 'found in the kernel, not in the state database',
      origin: 'detection',
      expiresMs: k.expiresInSeconds === null ? null : nowMs + k.expiresInSeconds * 1000,
      createdMs: nowMs,
    };
    plan.restore.push(ban);
    plan.record.push(ban);
    plan.repairs.push({ target: k.target, kind: 'missing-from-database' });
  }
  return plan;
}

type LiveRow = BanRow & { respelled: boolean };

/**
 * The unexpired rows by canonical target, none inside another: a row spelled otherwise is retired (and
 * recorded again, `respelled`); of two spellings the later expiry wins; a row inside a wider one is
 * retired and the wider one lasts at least as long.
 */
function canonicalRows(stored: readonly BanRow[], nowMs: number, retire: Retire[]): Map<string, LiveRow> {
  const byTarget = new Map<string, LiveRow>();
  for (const b of stored) {
    if (b.expiresMs !== null && Math.ceil((b.expiresMs - nowMs) / 1000) <= 0) continue;
    const parsed = parseTarget(b.target);
    const text = parsed.ok ? parsed.target.text : b.target;
    const respelled = text !== b.target;
    if (respelled) retire.push({ target: b.target, by: text });
    const row: LiveRow = { ...b, target: text, respelled };
    const had = byTarget.get(text);
    if (had === undefined) byTarget.set(text, row);
    else byTarget.set(text, { ...(laterOf(had, row) === had ? had : row), respelled: had.respelled || respelled, expiresMs: laterExpiry(had.expiresMs, row.expiresMs) });
  }
  const wider = prefixes(byTarget.keys());
  for (const [target, row] of byTarget) {
    const by = insideOf(wider, target);
    if (by === null) continue;
    const outer = byTarget.get(by);
    if (outer === undefined) continue;
    byTarget.delete(target);
    if (!row.respelled) retire.push({ target, by });
    if (laterExpiry(outer.expiresMs, row.expiresMs) !== outer.expiresMs) byTarget.set(by, { ...outer, expiresMs: row.expiresMs, respelled: true });
  }
  return byTarget;
}

function laterExpiry(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

function laterOf(a: LiveRow, b: LiveRow): LiveRow {
  return b.createdMs > a.createdMs ? b : a;
}

/** The prefixes (not single addresses) among `targets`, as a set for containment questions. */
function prefixes(targets: Iterable<string>): AddressSet {
  const set = new AddressSet();
  for (const t of targets) if (t.includes('/') && parseTarget(t).ok) set.add(t, '');
  return set;
}

/** The wider prefix of `set` that contains `target` (not `target` itself), or null. */
function insideOf(set: AddressSet, target: string): string | null {
  const inner = parseTarget(target);
  if (!inner.ok) return null;
  const hit = set.overlapping(inner.target.text);
  if (hit === null || hit.network === inner.target.text) return null;
  const outer = parseTarget(hit.network);
  return outer.ok && targetContains(outer.target, inner.target) ? hit.network : null;
}
