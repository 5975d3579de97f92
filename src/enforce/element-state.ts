/**
 * What a backend believes is in its kernel sets, and the planner that turns queued decisions into
 * element additions and deletions. Shared by the nftables and dry-run backends so both have the
 * same semantics; only the nftables backend sends the plan to a kernel.
 *
 * Why a planner at all: the ban and allow sets are interval sets, and the kernel refuses an element
 * that overlaps another one (EEXIST), so "ban 192.0.2.0/24" while 192.0.2.7 is banned would fail.
 * Overlap policy (the wider network wins, and no ban is cut short by it):
 *  - banning a network that contains banned networks or addresses deletes those and adds the
 *    network with the latest of all their expiries (no address is released earlier than decided);
 *  - banning something inside a banned network changes nothing if the network lasts at least as
 *    long, otherwise the network's timeout is raised to the new ban's (the new ban still holds for
 *    its full time; the rest of the network is held longer than decided, never shorter);
 *  - re-banning exactly the same target restarts its timer, to the later of the old and the new
 *    expiry (delete + add in the same transaction: the kernel does not restart an existing
 *    element's timer on a plain add); to shorten a ban, unban it first;
 *  - unban removes exactly that element; a ban merged into a wider one lifts with the wider one;
 *  - the allowlist keeps every allowed target in memory but only the widest ones in the kernel, so
 *    disallowing a network puts back the narrower allowed entries inside it.
 *
 * Planning works per transaction (`begin` … `planned` … `settle` or `abort`): state changes are
 * journaled so a transaction the kernel refused can be undone and planned again without the
 * failing decisions; and an element added earlier in the same transaction is never deleted in it —
 * the addition is dropped instead (measured on Linux 6.18: ban, re-ban, re-ban of one /25 in one
 * batch — delete, add, delete, add — has the second delete refused with ENOENT).
 */
import { targetContains, familyWidth, widen, type Family, type ParsedTarget } from '../net/target.js';

export type SetName = 'allow4' | 'allow6' | 'ban4' | 'ban6';

export type QueuedChange =
  | { readonly action: 'ban'; readonly target: ParsedTarget; readonly timeoutMs: number | null }
  | { readonly action: 'unban' | 'allow' | 'disallow'; readonly target: ParsedTarget };

export type ElementChange =
  | { readonly kind: 'add'; readonly set: SetName; readonly target: ParsedTarget; readonly timeoutMs: number | null }
  | { readonly kind: 'delete'; readonly set: SetName; readonly target: ParsedTarget };

/** An element change and the index of the queued decision it comes from. */
export interface PlannedChange {
  readonly decision: number;
  readonly change: ElementChange;
}

export interface BanEntry {
  readonly target: ParsedTarget;
  /** Wall-clock ms when the kernel lifts it (our estimate, never later than the kernel's); null: never. */
  readonly expiresAtMs: number | null;
}

interface Entry {
  readonly target: ParsedTarget;
}

/** Non-overlapping prefixes of one family, keyed by prefix length then network start. */
class PrefixTable<V extends Entry> {
  readonly #byLength = new Map<number, Map<bigint, V>>();

  get(target: ParsedTarget): V | undefined {
    return this.#byLength.get(target.prefixLength)?.get(target.start);
  }

  /** Stores or (with undefined) removes; returns what was there. */
  put(target: ParsedTarget, value: V | undefined): V | undefined {
    let level = this.#byLength.get(target.prefixLength);
    const previous = level?.get(target.start);
    if (value === undefined) {
      if (level !== undefined && level.delete(target.start) && level.size === 0) this.#byLength.delete(target.prefixLength);
    } else {
      if (level === undefined) this.#byLength.set(target.prefixLength, (level = new Map()));
      level.set(target.start, value);
    }
    return previous;
  }

  /** Entries at shorter prefixes that contain `target`: one lookup per prefix length in use. */
  *covering(target: ParsedTarget): Generator<V> {
    for (const [length, level] of this.#byLength) {
      if (length >= target.prefixLength) continue;
      const hit = level.get(widen(target, length));
      if (hit !== undefined) yield hit;
    }
  }

  /**
   * Entries at longer prefixes inside `target`. A scan of those lengths' entries: networks are
   * banned far less often than addresses, and a single address has nothing inside it.
   */
  inside(target: ParsedTarget): V[] {
    const out: V[] = [];
    if (target.prefixLength === familyWidth(target.family)) return out;
    for (const [length, level] of this.#byLength) {
      if (length <= target.prefixLength) continue;
      for (const value of level.values()) if (targetContains(target, value.target)) out.push(value);
    }
    return out;
  }

  *values(): Generator<V> {
    for (const level of this.#byLength.values()) yield* level.values();
  }

  clear(): void {
    this.#byLength.clear();
  }
}

const SWEEP_INTERVAL_MS = 60_000;

type TablePair<V extends Entry> = readonly [PrefixTable<V>, PrefixTable<V>];
const pair = <V extends Entry>(): TablePair<V> => [new PrefixTable<V>(), new PrefixTable<V>()];
const pick = <V extends Entry>(tables: TablePair<V>, family: Family): PrefixTable<V> => tables[family === 4 ? 0 : 1];

interface JournalEntry {
  readonly table: PrefixTable<Entry>;
  readonly target: ParsedTarget;
  readonly previous: Entry | undefined;
}

export class ElementState {
  readonly #bans = pair<BanEntry>();
  /** What the kernel allow sets hold: the widest of the wanted entries. */
  readonly #allowKernel = pair<Entry>();
  /** Everything allowed, including entries hidden under a wider allowed network. */
  readonly #allowWanted = pair<Entry>();
  readonly #journal: JournalEntry[] = [];
  /** This transaction's element changes; a cancelled addition leaves null. */
  #changes: (PlannedChange | null)[] = [];
  /** Elements added in this transaction (the state's entry objects), to their position in #changes. */
  readonly #pendingAdds = new Map<Entry, number>();
  #decision = 0;
  #lastSweepMs = -Infinity;
  readonly #graceMs: number;

  /**
   * @param graceMs how long after our expiry estimate an element may still be in the kernel (its
   * timer started a little after ours); until then it is planned as present, and deleting it is
   * allowed to find nothing.
   */
  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  /** Starts planning a transaction (a transaction left unsettled is aborted). */
  begin(): void {
    this.abort();
  }

  /**
   * Plans decision number `decision` of the transaction and updates the state as if the kernel
   * applied it; the element changes accumulate for `planned`.
   */
  plan(change: QueuedChange, nowMs: number, decision: number): void {
    this.#decision = decision;
    switch (change.action) {
      case 'ban':
        this.#ban(change.target, change.timeoutMs, nowMs);
        break;
      case 'unban':
        this.#unban(change.target, nowMs);
        break;
      case 'allow':
        this.#allow(change.target);
        break;
      case 'disallow':
        this.#disallow(change.target);
        break;
    }
  }

  /** The transaction's element changes in order. */
  planned(): PlannedChange[] {
    return this.#changes.filter((c): c is PlannedChange => c !== null);
  }

  /** Undoes everything planned since `begin`. */
  abort(): void {
    while (this.#journal.length > 0) {
      const entry = this.#journal.pop() as JournalEntry;
      entry.table.put(entry.target, entry.previous);
    }
    this.#endTransaction();
  }

  /** The kernel applied the transaction. */
  settle(): void {
    this.#journal.length = 0;
    this.#endTransaction();
  }

  /** The kernel reported this element absent (expired, or removed by someone else): stop planning with it. */
  forget(set: SetName, target: ParsedTarget): void {
    const tables: TablePair<Entry> = set === 'ban4' || set === 'ban6' ? this.#bans : this.#allowKernel;
    pick(tables, target.family).put(target, undefined);
  }

  /**
   * Takes bans the kernel already holds (kept across a restart) as present, without planning any
   * change. Widest first; one inside another taken is skipped (the kernel cannot hold both).
   */
  adopt(bans: readonly BanEntry[]): void {
    const widestFirst = [...bans].sort((a, b) => a.target.prefixLength - b.target.prefixLength);
    for (const ban of widestFirst) {
      const table = pick(this.#bans, ban.target.family);
      if (table.get(ban.target) !== undefined || !table.covering(ban.target).next().done) continue;
      table.put(ban.target, ban);
    }
  }

  /** The table was created empty or removed. */
  clear(): void {
    for (const tables of [this.#bans, this.#allowKernel, this.#allowWanted] as TablePair<Entry>[]) {
      tables[0].clear();
      tables[1].clear();
    }
    this.#journal.length = 0;
    this.#endTransaction();
  }

  /** Bans not yet expired by our clock. */
  liveBans(nowMs: number): BanEntry[] {
    const out: BanEntry[] = [];
    for (const table of this.#bans) {
      for (const entry of table.values()) if (entry.expiresAtMs === null || entry.expiresAtMs > nowMs) out.push(entry);
    }
    return out;
  }

  /**
   * Forgets bans the kernel has certainly lifted, at most once a minute: expiry is otherwise only
   * noticed when a decision touches the entry, and most banned addresses are never seen again.
   * Call between transactions.
   */
  sweep(nowMs: number): void {
    if (nowMs - this.#lastSweepMs < SWEEP_INTERVAL_MS) return;
    this.#lastSweepMs = nowMs;
    for (const table of this.#bans) {
      for (const entry of [...table.values()]) if (this.#gone(entry, nowMs)) table.put(entry.target, undefined);
    }
  }

  #endTransaction(): void {
    this.#changes = [];
    this.#pendingAdds.clear();
  }

  /** Records the addition of `entry`, which the caller just stored in a kernel-side table. */
  #add(set: SetName, entry: Entry, timeoutMs: number | null): void {
    this.#pendingAdds.set(entry, this.#changes.length);
    this.#changes.push({ decision: this.#decision, change: { kind: 'add', set, target: entry.target, timeoutMs } });
  }

  /** Records the deletion of `entry`, which the caller just removed from a kernel-side table. */
  #delete(set: SetName, entry: Entry): void {
    const pending = this.#pendingAdds.get(entry);
    if (pending !== undefined) {
      // Added earlier in this transaction: drop that addition instead (whatever it replaced stays deleted).
      this.#changes[pending] = null;
      this.#pendingAdds.delete(entry);
      return;
    }
    this.#changes.push({ decision: this.#decision, change: { kind: 'delete', set, target: entry.target } });
  }

  #putBan(table: PrefixTable<BanEntry>, set: SetName, target: ParsedTarget, expiresAtMs: number | null, nowMs: number): void {
    const entry: BanEntry = { target, expiresAtMs };
    this.#put(table, target, entry);
    // At least 1 ms: a zero timeout would mean "the set's default", i.e. never for our sets.
    this.#add(set, entry, expiresAtMs === null ? null : Math.max(1, Math.ceil(expiresAtMs - nowMs)));
  }

  #put<V extends Entry>(table: PrefixTable<V>, target: ParsedTarget, value: V | undefined): void {
    const previous = table.put(target, value);
    this.#journal.push({ table: table as unknown as PrefixTable<Entry>, target, previous });
  }

  #gone(entry: BanEntry, nowMs: number): boolean {
    return entry.expiresAtMs !== null && entry.expiresAtMs + this.#graceMs <= nowMs;
  }

  #ban(target: ParsedTarget, timeoutMs: number | null, nowMs: number): void {
    const table = pick(this.#bans, target.family);
    const set: SetName = target.family === 4 ? 'ban4' : 'ban6';
    const expiresAtMs = timeoutMs === null ? null : nowMs + timeoutMs;

    for (const wider of [...table.covering(target)]) {
      if (this.#gone(wider, nowMs)) {
        this.#put(table, wider.target, undefined);
        continue;
      }
      if (!lastsLonger(expiresAtMs, wider.expiresAtMs)) return; // already dropped for at least as long
      this.#delete(set, wider);
      this.#putBan(table, set, wider.target, expiresAtMs, nowMs);
      return;
    }

    let until = expiresAtMs;
    const exact = table.get(target);
    if (exact !== undefined) {
      this.#put(table, target, undefined);
      if (!this.#gone(exact, nowMs)) {
        this.#delete(set, exact);
        if (lastsLonger(exact.expiresAtMs, until)) until = exact.expiresAtMs;
      }
    }
    for (const narrower of table.inside(target)) {
      this.#put(table, narrower.target, undefined);
      if (this.#gone(narrower, nowMs)) continue;
      this.#delete(set, narrower);
      if (lastsLonger(narrower.expiresAtMs, until)) until = narrower.expiresAtMs;
    }
    this.#putBan(table, set, target, until, nowMs);
  }

  #unban(target: ParsedTarget, nowMs: number): void {
    const table = pick(this.#bans, target.family);
    const exact = table.get(target);
    if (exact === undefined) return;
    this.#put(table, target, undefined);
    if (!this.#gone(exact, nowMs)) this.#delete(target.family === 4 ? 'ban4' : 'ban6', exact);
  }

  #allow(target: ParsedTarget): void {
    const wanted = pick(this.#allowWanted, target.family);
    const kernel = pick(this.#allowKernel, target.family);
    const set: SetName = target.family === 4 ? 'allow4' : 'allow6';
    if (wanted.get(target) !== undefined) return;
    this.#put(wanted, target, { target });
    if (kernel.get(target) !== undefined || !kernel.covering(target).next().done) return;
    for (const narrower of kernel.inside(target)) {
      this.#put(kernel, narrower.target, undefined);
      this.#delete(set, narrower);
    }
    this.#putAllow(kernel, set, target);
  }

  #disallow(target: ParsedTarget): void {
    const wanted = pick(this.#allowWanted, target.family);
    const kernel = pick(this.#allowKernel, target.family);
    const set: SetName = target.family === 4 ? 'allow4' : 'allow6';
    if (wanted.get(target) === undefined) return;
    this.#put(wanted, target, undefined);
    const element = kernel.get(target);
    if (element === undefined) return; // hidden under a wider allowed network that stays
    this.#put(kernel, target, undefined);
    this.#delete(set, element);
    const inner = wanted.inside(target).sort((a, b) => a.target.prefixLength - b.target.prefixLength);
    for (const entry of inner) {
      if (kernel.covering(entry.target).next().done) this.#putAllow(kernel, set, entry.target);
    }
  }

  #putAllow(kernel: PrefixTable<Entry>, set: SetName, target: ParsedTarget): void {
    const entry: Entry = { target };
    this.#put(kernel, target, entry);
    this.#add(set, entry, null);
  }
}

/** Whether expiry `a` is later than `b` (null is never). */
function lastsLonger(a: number | null, b: number | null): boolean {
  if (a === null) return b !== null;
  return b !== null && a > b;
}
