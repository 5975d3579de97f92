/**
 * Reconcile, every `enforce.reconcileEveryMs` and when the table watch hears the table go: compares
 * the kernel with the ban book. A table that was deleted is set up again with every ban still due,
 * its allow sets and whatever else lives in it (`afterTableRestored`: the responder's sets); a ban
 * element someone deleted goes back. Each repair is logged. Rounds run one at a time, so a round of
 * the timer and one of the watch never both set the table up.
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

/** What a restore put back. */
export interface TableRestore {
  bans: number;
  allow: number;
}

/** What asked for a round: the timer, or the table watch (with what it heard). */
export interface RestoreTrigger {
  by: 'reconcile' | 'nf_tables event';
  /** Log fields describing the trigger (who deleted the table, how long ago it was heard). */
  fields?: () => Record<string, unknown>;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  #stopped = false;
  #tail: Promise<unknown> = Promise.resolve();
  #rounds = 0;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  /** Full rounds finished so far (a test waits for rounds, not for time). */
  get rounds(): number {
    return this.#rounds;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** A full round: the table if it is gone, otherwise allow sets and missing ban elements. */
  reconcile(): Promise<void> {
    return this.#serial(async () => {
      try {
        const { table, book, allow } = this.#o;
        if (await table.present()) {
          // Addresses change and SSH sessions come and go: what the guard protects now goes into the allow sets too.
          allow.refresh();
          await book.repairMissing();
          return;
        }
        await this.#restore({ by: 'reconcile' });
      } finally {
        this.#rounds++;
      }
    });
  }

  /** Sets the table up again if it is missing (the watch heard a deletion); null when it was there. */
  restoreIfMissing(trigger: RestoreTrigger): Promise<TableRestore | null> {
    return this.#serial(async () => ((await this.#o.table.present()) ? null : this.#restore(trigger)));
  }

  async #restore(trigger: RestoreTrigger): Promise<TableRestore | null> {
    const { table, book, allow, log } = this.#o;
    if (this.#stopped) return null;
    book.countRepair();
    log.warn({ 'event.action': 'reconcile-table', 'event.reason': 'table missing', 'event.trigger': trigger.by }, 'the portwarden table was deleted; restoring it with its bans');
    await table.setup();
    if (book.backend !== table) await book.backend.setup();
    allow.forgetKernel(); // the new table's allow sets are empty
    await this.#o.afterTableRestored?.();
    const bans = book.reinstall();
    await allow.apply(this.#o.allowlist());
    const restored = { bans, allow: allow.size };
    log.info(
      { 'event.action': 'table-restored', 'event.trigger': trigger.by, 'restored.bans': restored.bans, 'restored.allow': restored.allow, ...trigger.fields?.() },
      `table restored (${trigger.by}): ${restored.bans} ban(s), ${restored.allow} allow entr${restored.allow === 1 ? 'y' : 'ies'} put back`,
    );
    return restored;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => (this.#stopped ? (null as T) : work()));
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
