/**
 * Event-driven repair: listens to nf_tables change notifications (kernel/nft-monitor.ts) and, when
 * our table is deleted — `nft delete table inet portwarden`, `nft flush ruleset`, a restart of
 * nftables.service whose nftables.conf begins with `flush ruleset` — asks the reconciler to set it up
 * again with its bans and allow sets, within a fraction of a second instead of at the next
 * reconcile round. The reconciler's timer stays as the backstop (a missed notification, a deleted
 * element).
 *
 * Our own changes do not set it off: element batches are not table events; a deletion is only acted
 * upon once the reconciler finds the table missing, so a transaction that deleted and recreated it
 * (our `nft -f` setup, a restore included, replaces the table that way) changes nothing; and the watch
 * stops before the daemon's own teardown (`--flush-on-exit`). The transaction's generation names the
 * process that deleted the table, for the log.
 * Bursts (a flush, then the service loading its own ruleset) are debounced into one check.
 */
import { performance } from 'node:perf_hooks';
import { NftMonitor, NFPROTO_INET, type NftMonitorHandlers } from '../kernel/nft-monitor.js';
import type { EventLogger } from '../model/logger.js';
import type { Reconciler } from './reconciler.js';

export interface TableWatchOptions {
  /** Our table's name (family inet). */
  tableName: string;
  reconciler: Pick<Reconciler, 'restoreIfMissing'>;
  log: EventLogger;
  /** Quiet time after the last deletion heard before the check; default 50 ms. */
  debounceMs?: number;
  /** Longest wait from the first deletion heard, however busy the kernel is; default 250 ms. */
  maxWaitMs?: number;
  /** The notification source; default a real NftMonitor. */
  monitor?: (handlers: NftMonitorHandlers) => { close(): void };
}

interface Pending {
  /** performance.now() when the first deletion of this burst was heard. */
  heardAt: number;
  /** Who committed the deletion, from the transaction's generation (null: not heard yet, or lost). */
  by: { pid: number | null; process: string | null } | null;
  lost: boolean;
}

export class TableWatch {
  readonly #o: TableWatchOptions;
  readonly #monitor: { close(): void };
  readonly #debounceMs: number;
  readonly #maxWaitMs: number;
  #pending: Pending | null = null;
  /** A deletion of our table was heard; its transaction's generation (which names who committed it) is next. */
  #awaitingGeneration = false;
  #timer: NodeJS.Timeout | null = null;
  #checking: Promise<void> | null = null;
  #stopped = false;

  /** @throws Error with code PW_ERR_NETLINK when the notification socket cannot be opened or bound. */
  constructor(options: TableWatchOptions) {
    this.#o = options;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#maxWaitMs = options.maxWaitMs ?? 250;
    this.#monitor = (options.monitor ?? ((h) => new NftMonitor(h)))({
      table: (change) => {
        if (change.change !== 'delete' || change.family !== NFPROTO_INET || change.table !== options.tableName) return;
        this.#awaitingGeneration = true;
        this.#heard(false);
      },
      generation: (gen) => {
        if (!this.#awaitingGeneration) return;
        this.#awaitingGeneration = false;
        if (this.#pending !== null && this.#pending.by === null) this.#pending.by = { pid: gen.pid, process: gen.process };
      },
      // A dropped notification may have been the deletion: check anyway.
      lost: () => this.#heard(true),
    });
  }

  /** No more checks; waits for one under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel();
    this.#monitor.close();
    await this.#checking;
  }

  #heard(lost: boolean): void {
    if (this.#stopped) return;
    const now = performance.now();
    if (this.#pending === null) this.#pending = { heardAt: now, by: null, lost };
    else this.#pending.lost ||= lost;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#debounceMs, this.#pending.heardAt + this.#maxWaitMs - now));
    this.#timer = setTimeout(() => void this.#check(), wait);
  }

  #cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = null;
  }

  async #check(): Promise<void> {
    this.#timer = null;
    const pending = this.#pending;
    this.#pending = null;
    if (pending === null || this.#stopped) return;
    // One check at a time; a deletion heard meanwhile gets its own check after this one.
    while (this.#checking !== null) await this.#checking;
    const run = (async () => {
      try {
        await this.#o.reconciler.restoreIfMissing({
          by: 'nf_tables event',
          fields: () => ({
            'restore.delay_ms': Math.round(performance.now() - pending.heardAt),
            'deleted.by.pid': pending.by?.pid ?? undefined,
            'deleted.by.process': pending.by?.process ?? undefined,
            'notifications.lost': pending.lost || undefined,
          }),
        });
      } catch (err) {
        this.#o.log.error({ 'event.action': 'table-restore-failed', error: err instanceof Error ? err.message : String(err) }, 'restoring the deleted table failed; the reconciler tries again at its next round');
      }
    })();
    this.#checking = run;
    await run;
    this.#checking = null;
  }
}
