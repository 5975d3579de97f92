/**
 * Restore at start, carried out: restore.ts plans (what goes back, what is recorded, what is a repair);
 * this puts the plan into the ban book and the kernel and logs it. Two ways, after how the table came
 * up (enforce/backends.ts startTable):
 *
 *   - replaced: every unexpired ban of the database goes back into the kernel with the time it has
 *     left, in one transaction, after comparing it with what the old table held;
 *   - kept (the backend kept its ban sets across the restart; no gap in enforcement): the database's
 *     bans are taken as present at once, and compared with the kernel's list in the background, since
 *     listing 100,000 bans takes the kernel a second or two.
 */
import type { BanBook } from '../enforce/ban-book.js';
import type { EnforcementBackend } from '../enforce/backend.js';
import type { KernelBan } from '../model/ban.js';
import type { EventLogger } from '../model/logger.js';
import type { StateKeeper } from './keeper.js';
import { planRestore, type Repair, type RestoreBan, type Retire } from './restore.js';

const KERNEL_TIME_LEFT = 'the time the kernel had left';

/** After the table was replaced: puts back the bans of the database and of the old table (`kernel`), and commits. */
export async function restoreReplaced(book: BanBook, keeper: StateKeeper, kernel: readonly KernelBan[], tablePresent: boolean, log: EventLogger): Promise<void> {
  const now = Date.now();
  const plan = planRestore(keeper.liveBans(now), kernel, tablePresent, now);
  for (const b of plan.restore) {
    book.backend.ban({ target: b.target, timeoutSeconds: b.seconds });
    book.know(b.target, { reason: b.reason, expiresAtMs: b.expiresMs, origin: b.origin, createdAtMs: b.createdMs });
  }
  retire(keeper, plan.retire, now, log);
  record(keeper, plan.record, now);
  logRepairs(book, plan.repairs, log);
  if (plan.restore.length === 0 && plan.record.length === 0 && plan.retire.length === 0) return;
  book.touch();
  await book.commit();
  log.info(
    { 'event.action': 'bans-restored', count: plan.restore.length, 'from.database': plan.restore.length - plan.record.length, repairs: plan.repairs.length, 'duration.ms': Date.now() - now },
    `${plan.restore.length} ban(s) restored across the restart (${plan.repairs.length} repair(s))`,
  );
}

/**
 * After the table kept its ban sets: the database's bans join the book (and the backend's planning) at
 * once; the returned promise compares them with the kernel's list in the background. A ban only the
 * database has goes back, one only the kernel has is recorded; each repair is logged. It never rejects.
 */
export function restoreKept(book: BanBook, keeper: StateKeeper, table: EnforcementBackend, log: EventLogger): Promise<void> {
  const started = Date.now();
  try {
    const stored = keeper.store.liveBans(started);
    // The canonical, non-nested view of the rows (the plan without a kernel list); the rows themselves are put right below.
    const canonical = planRestore(stored, [], false, started).restore;
    for (const b of canonical) book.know(b.target, { reason: b.reason, expiresAtMs: b.expiresMs, origin: b.origin, createdAtMs: b.createdMs });
    table.adoptBans?.(canonical.map((b) => ({ target: b.target, expiresAtMs: b.expiresMs })));
  } catch (err) {
    keeper.failed(err);
  }
  const unbanned = book.watchUnbans();
  return (async () => {
    try {
      const kernel = await table.bans();
      const now = Date.now();
      // Read after the listing: a ban decided meanwhile is in the database before the kernel.
      const plan = planRestore(keeper.store.liveBans(now), kernel, true, now);
      // An unban that raced the listing is in the database but was still in the kernel's list.
      plan.record = plan.record.filter((b) => !unbanned.has(b.target));
      plan.repairs = plan.repairs.filter((r) => !unbanned.has(r.target));
      const missing = new Set(plan.repairs.filter((r) => r.kind === 'missing-from-kernel').map((r) => r.target));
      for (const b of plan.restore) {
        if (!missing.has(b.target)) continue;
        table.forgetBan?.(b.target);
        book.send({ target: b.target, timeoutSeconds: b.seconds });
      }
      for (const b of plan.record) {
        book.know(b.target, { reason: b.reason, expiresAtMs: b.expiresMs, origin: b.origin, createdAtMs: b.createdMs });
        book.touch();
      }
      retire(keeper, plan.retire, now, log);
      record(keeper, plan.record, now);
      table.adoptBans?.(plan.record.map((b) => ({ target: b.target, expiresAtMs: b.expiresMs })));
      logRepairs(book, plan.repairs, log);
      await book.commit();
      log.info(
        { 'event.action': 'bans-restored', count: plan.restore.length, kept: true, repairs: plan.repairs.length, 'duration.ms': Date.now() - started },
        `${plan.restore.length} ban(s) kept in the kernel across the restart and compared with the database (${plan.repairs.length} repair(s))`,
      );
    } catch (err) {
      log.error({ 'event.action': 'restore-failed', error: err instanceof Error ? err.message : String(err) }, 'comparing kernel and database bans after the restart failed; the reconciler puts back what is missing');
    } finally {
      book.stopWatching();
    }
  })();
}

/** Rows spelled otherwise or inside a wider ban are lifted (the canonical or wider row stands for them). */
function retire(keeper: StateKeeper, rows: readonly Retire[], nowMs: number, log: EventLogger): void {
  for (const r of rows) {
    keeper.liftBan(r.target, nowMs);
    log.info({ 'event.action': 'ban-merged', 'source.ip': r.target, 'ban.into': r.by }, `recorded ban of ${r.target} retired: held by the ban of ${r.by}`);
  }
}

/** Kernel bans the database did not have are written to it. */
function record(keeper: StateKeeper, bans: readonly RestoreBan[], nowMs: number): void {
  for (const b of bans) keeper.addBan({ target: b.target, reason: b.reason, createdMs: b.createdMs ?? nowMs, expiresMs: b.expiresMs, origin: b.origin, durationWhy: KERNEL_TIME_LEFT }, null);
}

function logRepairs(book: BanBook, repairs: readonly Repair[], log: EventLogger): void {
  for (const r of repairs) {
    book.countRepair();
    const what = r.kind === 'missing-from-kernel' ? 'in the state database but missing from the kernel: put back' : 'in the kernel but missing from the state database: recorded';
    log.warn({ 'event.action': 'state-repair', 'source.ip': r.target, 'event.reason': r.kind }, `ban of ${r.target} was ${what}`);
  }
}
