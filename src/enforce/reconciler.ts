/**
 * Reconcile, every `enforce.reconcileEveryMs`: compares the kernel with the ban book. A table that was
 * deleted is set up again with every ban still due, its allow sets and whatever else lives in it
 * (`afterTableRestored`: the responder's sets); a ban element someone deleted goes back. Each repair
 * is logged.
 */
import type { EventLogger } from '../model/logger.js';
import type { AllowEntry, AllowSets } from './allow-sets.js';
import type { EnforcementBackend } from './backend.js';
import type { BanBook } from './ban-book.js';

export interface ReconcilerOptions {
  /** The table (capture rules, allow sets; the bans unless a dry run). */
  table: EnforcementBackend;
  book: BanBook;
  allow: AllowSets;
  /** The allowlist to put back into a table set up again (the running config's). */
  allowlist: () => readonly AllowEntry[];
  /** Others' parts of the table to put back after it was set up again. */
  afterTableRestored?: () => Promise<void>;
  log: EventLogger;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  #stopped = false;
  #rounds = 0;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  /** Rounds finished so far (a test waits for rounds, not for time). */
  get rounds(): number {
    return this.#rounds;
  }

  stop(): void {
    this.#stopped = true;
  }

  async reconcile(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#round();
    } finally {
      this.#rounds++;
    }
  }

  async #round(): Promise<void> {
    const { table, book, allow, log } = this.#o;
    if (await table.present()) {
      // Addresses change and SSH sessions come and go: what the guard protects now goes into the allow sets too.
      allow.refresh();
      await book.repairMissing();
      return;
    }
    book.countRepair();
    log.warn({ 'event.action': 'reconcile-table', 'event.reason': 'table missing' }, 'the portwarden table was deleted; restoring it with its bans');
    await table.setup();
    if (book.backend !== table) await book.backend.setup();
    allow.forgetKernel(); // the new table's allow sets are empty
    await this.#o.afterTableRestored?.();
    book.reinstall();
    await allow.apply(this.#o.allowlist());
  }
}
