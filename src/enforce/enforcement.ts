/**
 * The enforce stage assembled: the table of the chosen backend kind (backends.ts), set up without
 * lifting a ban; where bans go (the table, or the dry-run log); the ban book; the allow sets; the
 * reconciler; and the incident flow that takes detection's incidents through the decision policy
 * into the book. Built before its table is touched, so a start that fails halfway can still be stopped.
 */
import type { IncidentRecord } from '../model/incident.js';
import type { EventLogger } from '../model/logger.js';
import { CounterReader, type CounterGroup } from '../model/counters.js';
import { AllowSets, type AllowEntry, type ProtectedView } from './allow-sets.js';
import type { EnforcementBackend } from './backend.js';
import { buildEnforcer, buildTable, startTable, type BackendKind, type TableOptions, type TableStart } from './backends.js';
import { BanBook, type BanListener, type BanRecorder } from './ban-book.js';
import type { Decider } from '../model/decision.js';
import { IncidentFlow, type IncidentFlowOptions, type IncidentListener } from './incident-flow.js';
import { Reconciler } from './reconciler.js';
import { TableWatch } from './table-watch.js';

/** Hears of incidents with their decisions, and of bans, unbans, commits and refusals. */
export type EnforceListener = IncidentListener & BanListener;

export interface EnforcementOptions<Incident> {
  kind: BackendKind;
  table: TableOptions;
  /** Where incidents and bans are recorded (the state database). */
  recorder: BanRecorder<Incident> & { addIncident(entry: { atMs: number; record: IncidentRecord; decision: string; reason: string }): Incident };
  /** The decision policy in force; `decider` replaces it on reload. */
  decider: Decider;
  listeners: readonly EnforceListener[];
  /** The lockout guard in force (rebuilt on reload): what it protects goes into the allow sets. */
  guard: () => ProtectedView;
  /** The running config's allowlist (a table set up again gets it back). */
  allowlist: () => readonly AllowEntry[];
  /** Others' parts of the table to put back after the reconciler set it up again (the responder's sets). */
  afterTableRestored?: () => Promise<void>;
  log: EventLogger;
  /** User rules and the after-recording hook (playbooks), handed to the incident flow. */
  flow?: Pick<IncidentFlowOptions<Incident>, 'rules' | 'recorded'>;
}

export class Enforcement<Incident> {
  readonly table: EnforcementBackend;
  readonly #o: EnforcementOptions<Incident>;
  #book?: BanBook<Incident>;
  #allowSets?: AllowSets;
  #reconciler?: Reconciler;
  #watch: TableWatch | null = null;
  #flow?: IncidentFlow<Incident>;
  #decider: Decider;

  constructor(options: EnforcementOptions<Incident>) {
    this.#o = options;
    this.#decider = options.decider;
    this.table = buildTable(options.kind, options.table);
  }

  /** A new decision policy (reload, `portwarden allow`): decides from the next incident on. */
  set decider(decider: Decider) {
    this.#decider = decider;
    if (this.#flow !== undefined) this.#flow.decider = decider;
  }

  /** Incidents decided so far. */
  get incidents(): number {
    return this.#flow?.incidents ?? 0;
  }

  /** The ban book; none before start(). */
  get book(): BanBook<Incident> | undefined {
    return this.#book;
  }

  get allowSets(): AllowSets | undefined {
    return this.#allowSets;
  }

  /**
   * Sets the table up (keeping its ban sets where the backend can) and fills the allow sets. Returns
   * the ban book and allow sets, and how the table came up (for restore).
   */
  async start(): Promise<{ book: BanBook<Incident>; allowSets: AllowSets; flow: IncidentFlow<Incident>; tableStart: TableStart }> {
    const { kind, log, recorder } = this.#o;
    const tableStart = await startTable(this.table, !kind.dryRun, log);
    // An unbanned target's new-ban bookkeeping goes first, then everyone else hears of it.
    const listeners = [{ unban: (target: string) => this.#decider.forget(target) }, ...this.#o.listeners];
    const book = (this.#book = new BanBook<Incident>({ backend: await buildEnforcer(kind, this.table, log), recorder, log, listeners }));
    const flow = (this.#flow = new IncidentFlow({ book, decider: this.#decider, record: (entry) => recorder.addIncident(entry), log, listeners: this.#o.listeners, ...this.#o.flow }));
    const allowSets = (this.#allowSets = new AllowSets(book, this.#o.guard, log));
    this.#reconciler = new Reconciler({ table: this.table, book, allow: allowSets, allowlist: this.#o.allowlist, afterTableRestored: this.#o.afterTableRestored, log });
    await allowSets.apply(this.#o.allowlist());
    this.#watch = this.#watchTable(this.#reconciler);
    return { book, allowSets, flow, tableStart };
  }

  /** Reconcile rounds finished. */
  get reconcileRounds(): number {
    return this.#reconciler?.rounds ?? 0;
  }

  /** The reconciler's counters for the registry: repairs and rounds. */
  readonly counters: CounterGroup = new CounterReader('reconcile', { 'reconcile.repairs': 'bans put back into the kernel by the reconciler', 'reconcile.rounds': 'reconcile rounds finished' }, () => ({
    'reconcile.repairs': this.#book?.repairs ?? 0,
    'reconcile.rounds': this.reconcileRounds,
  }));

  /** One reconcile round (enforce.reconcileEveryMs). */
  reconcile(): Promise<void> {
    return this.#reconciler?.reconcile() ?? Promise.resolve();
  }

  /**
   * A table in nf_tables is set up again as soon as its deletion is heard (a flush ruleset, an
   * nftables.service restart), not only at the next reconcile round. Without the notification
   * socket (no CAP_NET_ADMIN for the group), the reconciler's rounds remain.
   */
  #watchTable(reconciler: Reconciler): TableWatch | null {
    const tableName = this.table.nfTableName;
    if (tableName === undefined) return null;
    try {
      return new TableWatch({ tableName, reconciler, log: this.#o.log });
    } catch (err) {
      this.#o.log.warn({ 'event.action': 'table-watch-unavailable', error: err instanceof Error ? err.message : String(err) }, 'cannot listen to nf_tables notifications; a deleted table comes back at the next reconcile round');
      return null;
    }
  }

  /** No reconcile from now on; what is queued is committed (after a commit under way). */
  async stop(): Promise<void> {
    await this.#watch?.stop();
    this.#reconciler?.stop();
    await this.#book?.commit();
  }

  /** Last: with `flush` the table (and every ban in it) goes; otherwise bans stay until they expire. */
  async close(flush: boolean): Promise<void> {
    if (flush) await this.table.teardown();
    this.table.close?.();
  }
}
