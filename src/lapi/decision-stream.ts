/**
 * The decision stream's memory: which decisions each bouncer already has (its cursor), so a pull
 * answers only what changed since its last one. The truth is the ban book, read at every pull: a ban
 * there that the bouncer lacks is `new`, one the bouncer has that is gone (unbanned, merged into a
 * wider ban, or expired) is `deleted`. A ban whose expiry changed (escalated, lengthened by a narrower
 * ban) is a new decision: the old one is deleted and the new one sent in the same answer, deleted first
 * as crowdsec-firewall-bouncer applies them, so its element gets the new timeout.
 *
 * Reading the book instead of counting its events means nothing is missed, whatever path changed it
 * (a restore, a merge, the kernel's own expiry): a pull costs one pass over the active bans (100,000
 * bans: tens of ms, every update_frequency per bouncer). Memory: one entry per ban per bouncer.
 *
 * A bouncer may be told at most `maxMs` of a ban (ipset, behind crowdsec-firewall-bouncer's iptables
 * mode, refuses timeouts over 2,147,483 s): a longer ban is served for that long and served again (its
 * decision deleted and sent anew, so the bouncer's timer restarts) once less than REFRESH_MS of what it
 * was told is left, so the bouncer never lets go of a ban that still holds.
 *
 * Differences from CrowdSec's LAPI, on purpose: the cursor is the set of decisions a bouncer was given,
 * not the time of its last pull, so a clock step or a slow answer loses nothing; it lives in memory, so
 * after a daemon restart a bouncer's next pull is answered as a startup (every ban new) and deletions
 * made while the daemon was down reach it only as the decisions' own expiry. Decision ids count from 1
 * in each run of the daemon.
 */
import type { ActiveBan } from '../enforce/ban-book.js';
import type { Target } from '../model/ban.js';
import { servedMs, toDecision, toDeleted, type LapiDecision } from './decision.js';

/** What the stream reads: the ban book's active bans (BanBook.active). Ended bans may still be in it. */
export type BanSource = () => Iterable<readonly [Target, ActiveBan]>;

/** Which decisions a bouncer asked for (the stream's query: scopes, origins, scenarios_containing, scenarios_not_containing). */
export interface StreamFilter {
  /** Lower-case scopes; the LAPI's default is ip and range. */
  scopes: ReadonlySet<string>;
  /** null: every origin. */
  origins: ReadonlySet<string> | null;
  scenariosContaining: readonly string[];
  scenariosNotContaining: readonly string[];
}

export const EVERY_DECISION: StreamFilter = { scopes: new Set(['ip', 'range']), origins: null, scenariosContaining: [], scenariosNotContaining: [] };

/** The filter of a stream request's query (comma-separated lists, as go-cs-bouncer sends them). */
export function streamFilter(query: URLSearchParams): StreamFilter {
  const list = (name: string): string[] | null => {
    const v = query.get(name);
    return v === null ? null : v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  };
  const scopes = list('scopes');
  const origins = list('origins');
  return {
    scopes: new Set((scopes ?? ['ip', 'range']).map((s) => s.toLowerCase())),
    origins: origins === null ? null : new Set(origins),
    scenariosContaining: list('scenarios_containing') ?? [],
    scenariosNotContaining: list('scenarios_not_containing') ?? [],
  };
}

function matches(filter: StreamFilter, target: Target, ban: ActiveBan): boolean {
  if (!filter.scopes.has(target.includes('/') ? 'range' : 'ip')) return false;
  if (filter.origins !== null && !filter.origins.has(ban.origin)) return false;
  if (filter.scenariosContaining.length > 0 && !filter.scenariosContaining.some((s) => ban.reason.includes(s))) return false;
  return !filter.scenariosNotContaining.some((s) => ban.reason.includes(s));
}

/** Whether the bouncer's hold of `before` ends within `withinMs` while the ban goes on after it. */
function runsOut(before: Held, ban: ActiveBan, nowMs: number, withinMs: number): boolean {
  return before.servedUntilMs - nowMs <= withinMs && (ban.expiresAtMs === null || ban.expiresAtMs > before.servedUntilMs);
}

/** A decision a bouncer was given: its id, the ban as it was then, and until when the bouncer holds it (wall-clock ms). */
interface Held {
  id: number;
  ban: ActiveBan;
  servedUntilMs: number;
}

/** A capped decision is served again when less than this is left of what the bouncer was told (or a tenth of the cap, if smaller). */
export const REFRESH_MS = 3_600_000;

/** The decision id of a ban: one per (target, creation, expiry), so a changed expiry is a new decision. */
interface IdEntry {
  id: number;
  createdAtMs: number;
  expiresAtMs: number | null;
  /** The pass that last saw the ban (entries of bans gone are dropped after a pass). */
  pass: number;
}

export interface StreamAnswer {
  new: LapiDecision[];
  deleted: LapiDecision[];
}

export class DecisionStream {
  readonly #source: BanSource;
  readonly #clock: () => number;
  readonly #ids = new Map<Target, IdEntry>();
  #nextId = 1;
  #pass = 0;
  /** Bouncer name → what it holds, by target. */
  readonly #cursors = new Map<string, Map<Target, Held>>();

  constructor(source: BanSource, clock: () => number = Date.now) {
    this.#source = source;
    this.#clock = clock;
  }

  /**
   * A bouncer's pull. `startup` (or a bouncer this run has not seen) starts from nothing: every ban in
   * force is new and nothing is deleted. The cursor moves to what is answered. `maxMs`: the longest
   * duration this bouncer is told (null: no cap).
   */
  pull(bouncer: string, startup: boolean, filter: StreamFilter = EVERY_DECISION, maxMs: number | null = null): StreamAnswer {
    const now = this.#clock();
    const refreshWithinMs = maxMs === null ? REFRESH_MS : Math.min(REFRESH_MS, maxMs / 10);
    const had = startup ? undefined : this.#cursors.get(bouncer);
    const held = new Map<Target, Held>();
    const answer: StreamAnswer = { new: [], deleted: [] };
    const pass = ++this.#pass;
    for (const [target, ban] of this.#source()) {
      if (ban.expiresAtMs !== null && ban.expiresAtMs <= now) continue;
      const id = this.#idOf(target, ban, pass);
      if (!matches(filter, target, ban)) continue;
      const before = had?.get(target);
      if (before !== undefined && before.id === id && !runsOut(before, ban, now, refreshWithinMs)) {
        held.set(target, before);
        continue;
      }
      held.set(target, { id, ban, servedUntilMs: now + servedMs(ban, now, maxMs) });
      if (before !== undefined) answer.deleted.push(toDeleted(before.id, target, before.ban, now));
      answer.new.push(toDecision(id, target, ban, now, maxMs));
    }
    if (had !== undefined) {
      for (const [target, before] of had) if (!held.has(target)) answer.deleted.push(toDeleted(before.id, target, before.ban, now));
    }
    for (const [target, entry] of this.#ids) if (entry.pass !== pass) this.#ids.delete(target);
    this.#cursors.set(bouncer, held);
    return answer;
  }

  /** The decision holding `address`: the ban `held(address)` finds (its own or a wider one's), with its id. */
  decisionFor(found: readonly [Target, ActiveBan] | undefined): LapiDecision | null {
    if (found === undefined) return null;
    const [target, ban] = found;
    const now = this.#clock();
    if (ban.expiresAtMs !== null && ban.expiresAtMs <= now) return null;
    const known = this.#ids.get(target);
    const id = known !== undefined && known.createdAtMs === ban.createdAtMs && known.expiresAtMs === ban.expiresAtMs ? known.id : this.#idOf(target, ban, this.#pass);
    return toDecision(id, target, ban, now);
  }

  /** Decisions a bouncer holds now (as far as its last pull told it). */
  holding(bouncer: string): number {
    return this.#cursors.get(bouncer)?.size ?? 0;
  }

  #idOf(target: Target, ban: ActiveBan, pass: number): number {
    let entry = this.#ids.get(target);
    if (entry === undefined || entry.createdAtMs !== ban.createdAtMs || entry.expiresAtMs !== ban.expiresAtMs) {
      entry = { id: this.#nextId++, createdAtMs: ban.createdAtMs, expiresAtMs: ban.expiresAtMs, pass };
      this.#ids.set(target, entry);
    } else entry.pass = pass;
    return entry.id;
  }
}
