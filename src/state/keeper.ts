/**
 * The daemon's hold on its state: opens the store (or memory, when the database is unusable), writes
 * what is queued right before each kernel commit, purges by retention in the background and closes.
 * Every failure is logged as PW_ERR_STATE and the daemon goes on: the kernel still gets the bans.
 */
import { PortwardenError } from '../errors.js';
import type { BanOrigin, BanRecorder } from '../enforce/ban-book.js';
import type { EventLogger } from '../model/logger.js';
import type { BanRow } from './ban-store.js';
import type { IncidentEntry } from './incident-store.js';
import { openState, type IncidentHandle, type RetentionSettings, type StateStore } from './state-store.js';

export class StateKeeper implements BanRecorder<IncidentHandle> {
  /** The store itself, for those who read it (escalation's offenders, the IPv6 /64 check, restore). */
  readonly store: StateStore;
  readonly #log: EventLogger;
  /** A purge in progress (close waits for it). */
  #purgeRun: Promise<void> | null = null;
  #closed = false;

  private constructor(store: StateStore, log: EventLogger) {
    this.store = store;
    this.#log = log;
  }

  /**
   * Opens the state database of `dir` (src/state/). One that cannot be used (corrupt, locked) is logged
   * as PW_ERR_STATE naming the file, and the daemon goes on with in-memory state: it still enforces.
   */
  static open(dir: string, log: EventLogger): StateKeeper {
    const store = openState(
      dir,
      (err) => log.error({ 'event.action': 'state-unavailable', code: err.code, error: err.message }, `${err.message}; going on with in-memory state (bans and offenders of this run only)`),
      (count, file) => log.info({ 'event.action': 'state-imported', count, file }, `${count} repeat IPv6 offender(s) imported from ${file} into the state database`),
    );
    return new StateKeeper(store, log);
  }

  addIncident(entry: IncidentEntry): IncidentHandle {
    return this.store.addIncident(entry);
  }

  /** Playbook outcomes into the stored incident (written with the next persist). */
  annotateIncident(handle: IncidentHandle, record: IncidentEntry['record']): void {
    this.store.annotateIncident(handle, record);
  }

  addBan(ban: { target: string; reason: string; createdMs: number; expiresMs: number | null; origin: BanOrigin; durationWhy: string }, incident: IncidentHandle | null): void {
    this.store.addBan(ban, incident);
  }

  liftBan(target: string, atMs: number): void {
    this.store.liftBan(target, atMs);
  }

  /** Writes what the state queued (one fsynced transaction); a failure is logged, the kernel still gets the bans. */
  persist(): void {
    try {
      this.store.flush();
    } catch (err) {
      this.failed(err);
    }
  }

  /** The bans in force at `nowMs`; none when the store cannot be read (logged). */
  liveBans(nowMs: number): BanRow[] {
    try {
      return this.store.liveBans(nowMs);
    } catch (err) {
      this.failed(err);
      return [];
    }
  }

  /** Retention: old incidents, ended bans and forgotten offenders go; the file is compacted. One purge at a time. */
  purge(retention: RetentionSettings): void {
    if (this.#purgeRun !== null || this.#closed) return;
    this.#purgeRun = this.#purgeOnce(retention).finally(() => (this.#purgeRun = null));
  }

  async #purgeOnce(retention: RetentionSettings): Promise<void> {
    try {
      const r = await this.store.purge(Date.now(), retention);
      if (r.incidents + r.bans + r.offenders + r.vacuumedPages > 0) this.#log.info({ 'event.action': 'state-purged', ...r }, `purged ${r.incidents} incident(s), ${r.bans} ban(s), ${r.offenders} offender(s); ${r.vacuumedPages} page(s) given back`);
    } catch (err) {
      this.failed(err);
    }
  }

  /** No purge starts from now on; waits for one under way. */
  async settle(): Promise<void> {
    this.#closed = true;
    await this.#purgeRun;
  }

  close(): void {
    this.#closed = true;
    try {
      this.store.close();
    } catch (err) {
      this.failed(err);
    }
  }

  failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.#log.error({ 'event.action': 'state-write-failed', code: err instanceof PortwardenError ? err.code : 'PW_ERR_STATE', error: message }, message);
  }
}
