/**
 * The decision stream's memory: which decisions each bouncer already has (its cursor), so a pull
 * answers only what changed since its last one. The truth is the ban book, read at every pull: a ban
 * there that the bouncer lacks is `new`, one the bouncer has that is gone (unbanned, merged into a
 * wider ban, or expired) is `deleted`. A ban whose expiry changed (escalated, lengthened by a narrower
 * ban) is a new decision: the old one is deleted and the new one sent in the same answer, deleted first
 * as crowdsec-firewall-bouncer applies them, so its element gets the new timeout.
 *
 * Reading the book instead of counting its events means nothing is missed, whatever path changed it
 * (a restore, a merge, the kernel's own expiry). A pull when the book has not changed and nothing the
 * bouncer holds is due (ending, or to be served again) answers at once; otherwise it is one pass over
 * the active bans (100,000 bans: about 90 ms of CPU with HTTP, `npm run bench -- lapi`). Memory: one
 * entry per ban per bouncer.
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
import { formatAddress, parseTarget } from '../net/target.js';
import { servedMs, toDecision, toDeleted, type LapiDecision } from './decision.js';

/**
 * What the stream reads: the ban book's active bans (BanBook.active; ended bans may still be in it) and
 * its change count, so a pull when nothing changed and nothing is due costs nothing.
 */
export interface BanSource {
  bans(): Iterable<readonly [Target, ActiveBan]>;
  changes(): number;
}

/** Which decisions a bouncer asked for (the stream's query: scopes, origins, scenarios_containing, scenarios_not_containing). */
export interface StreamFilter {
  /** Lower-case scopes; the LAPI's default is ip and range. */
  scopes: ReadonlySet<string>;
  /** null: every origin. */
  origins: ReadonlySet<string> | null;
  scenariosContaining: readonly string[];
  scenariosNotContaining: readonly string[];
}

/**
 * IPv4 networks of at most this many addresses are served address by address to a bouncer that asks
 * for it (`ranges: addresses`): crowdsec-firewall-bouncer's nftables mode keeps only a Range's first
 * address. Wider ones, and IPv6 networks, stay one Range decision.
 */
export const MAX_EXPANDED_ADDRESSES = 4096;

/** What one bouncer is served: the query's filter, the longest duration it is told (ms; null: no cap), how networks are sent. */
export interface Serving {
  filter: StreamFilter;
  maxMs: number | null;
  ranges: 'range' | 'addresses';
}

/** How many addresses `target` is served as when a bouncer asks for addresses: an IPv4 network's size up to the limit, else 1. */
function expandedCount(target: Target): number {
  if (!target.includes('/') || target.includes(':')) return 1;
  const p = parseTarget(target);
  const size = p.ok ? 2 ** (32 - p.target.prefixLength) : 1;
  return size > MAX_EXPANDED_ADDRESSES ? 1 : size;
}

/** The addresses of `target` when it is an IPv4 network to be served address by address; null to serve it as it is. */
function expansion(target: Target, ranges: Serving['ranges']): string[] | null {
  if (ranges !== 'addresses' || expandedCount(target) === 1) return null;
  const p = parseTarget(target);
  if (!p.ok) return null;
  const out: string[] = [];
  for (let a = p.target.start, end = p.target.start + (1n << BigInt(32 - p.target.prefixLength)); a < end; a++) out.push(formatAddress(4, a));
  return out;
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

/** Whether the bouncer's hold of `held` ends within `withinMs` while the ban goes on after it. */
function runsOut(held: Held, ban: ActiveBan, nowMs: number, withinMs: number): boolean {
  return held.servedUntilMs - nowMs <= withinMs && (ban.expiresAtMs === null || ban.expiresAtMs > held.servedUntilMs);
}

/** When `held` next needs a look: its ban's end (to delete it), or the moment to serve it again. */
function dueAt(held: Held, withinMs: number): number {
  const end = held.ban.expiresAtMs;
  return end !== null && end <= held.servedUntilMs ? end : held.servedUntilMs - withinMs;
}

/** A decision a bouncer was given: its id, the ban (the book's object: a changed ban is a new object), until when the bouncer holds it (wall-clock ms). */
interface Held {
  id: number;
  ban: ActiveBan;
  servedUntilMs: number;
  /** The pull that last found it in the book. */
  pull: number;
}

/** A bouncer's cursor: what it holds, and when a pull must look at the book again even if nothing changed. */
interface Cursor {
  held: Map<Target, Held>;
  /** The book's change count at the last pull. */
  changes: number;
  /** The first moment something it holds ends or must be served again (wall-clock ms). */
  dueMs: number;
  /** The filter and cap of the last pull: another one needs a full look. */
  asked: string;
}

/** A capped decision is served again when less than this is left of what the bouncer was told (or a tenth of the cap, if smaller). */
export const REFRESH_MS = 3_600_000;

export interface StreamAnswer {
  new: LapiDecision[];
  deleted: LapiDecision[];
}

const NOTHING: StreamAnswer = Object.freeze({ new: [], deleted: [] }) as unknown as StreamAnswer;

export class DecisionStream {
  readonly #source: BanSource;
  readonly #clock: () => number;
  /** Decision ids by ban object: the book replaces a ban's object whenever its end changes, so one object is one decision. */
  readonly #ids = new WeakMap<ActiveBan, number>();
  #nextId = 1;
  #pulls = 0;
  /** Bouncer name → its cursor. */
  readonly #cursors = new Map<string, Cursor>();

  constructor(source: BanSource, clock: () => number = Date.now) {
    this.#source = source;
    this.#clock = clock;
  }

  /**
   * A bouncer's pull. `startup` (or a bouncer this run has not seen) starts from nothing: every ban in
   * force is new and nothing is deleted. The cursor moves to what is answered. `maxMs`: the longest
   * duration this bouncer is told (null: no cap). The answer must not be changed by the caller.
   */
  pull(bouncer: string, startup: boolean, serving: Partial<Serving> = {}): StreamAnswer {
    const { filter = EVERY_DECISION, maxMs = null, ranges = 'range' } = serving;
    const now = this.#clock();
    const changes = this.#source.changes();
    const asked = `${[...filter.scopes].join(',')}|${filter.origins === null ? '*' : [...filter.origins].join(',')}|${filter.scenariosContaining.join(',')}|${filter.scenariosNotContaining.join(',')}|${maxMs}|${ranges}`;
    let cursor = startup ? undefined : this.#cursors.get(bouncer);
    if (cursor !== undefined && cursor.changes === changes && now < cursor.dueMs && cursor.asked === asked) return NOTHING;
    if (cursor === undefined) {
      cursor = { held: new Map(), changes, dueMs: Number.POSITIVE_INFINITY, asked };
      this.#cursors.set(bouncer, cursor);
    }
    const { held } = cursor;
    const refreshWithinMs = maxMs === null ? REFRESH_MS : Math.min(REFRESH_MS, maxMs / 10);
    const answer: StreamAnswer = { new: [], deleted: [] };
    const pull = ++this.#pulls;
    let dueMs = Number.POSITIVE_INFINITY;
    // One decision per (value, ban): a network served address by address is one per address, ids base + i.
    const serve = (value: Target, target: Target, ban: ActiveBan, index: number): void => {
      let h = held.get(value);
      if (h !== undefined && h.ban === ban && !runsOut(h, ban, now, refreshWithinMs)) {
        h.pull = pull;
        dueMs = Math.min(dueMs, dueAt(h, refreshWithinMs));
        return;
      }
      if (h !== undefined) answer.deleted.push(toDeleted(h.id, value, h.ban, now));
      const decisionId = this.#idOf(target, ban) + index;
      const servedUntilMs = now + servedMs(ban, now, maxMs);
      if (h === undefined) held.set(value, (h = { id: decisionId, ban, servedUntilMs, pull }));
      else Object.assign(h, { id: decisionId, ban, servedUntilMs, pull });
      dueMs = Math.min(dueMs, dueAt(h, refreshWithinMs));
      answer.new.push(toDecision(decisionId, value, ban, now, maxMs));
    };
    for (const [target, ban] of this.#source.bans()) {
      if ((ban.expiresAtMs !== null && ban.expiresAtMs <= now) || !matches(filter, target, ban)) continue;
      const addresses = expansion(target, ranges);
      if (addresses === null) serve(target, target, ban, 0);
      else for (let i = 0; i < addresses.length; i++) serve(addresses[i], target, ban, i);
    }
    for (const [target, h] of held) {
      if (h.pull === pull) continue;
      answer.deleted.push(toDeleted(h.id, target, h.ban, now));
      held.delete(target);
    }
    Object.assign(cursor, { changes, dueMs, asked });
    return answer;
  }

  /** The decision of a ban the book holds (found by the caller: an address's own ban or a wider one), with its id; null when none or ended. */
  decisionFor(found: readonly [Target, ActiveBan] | undefined): LapiDecision | null {
    if (found === undefined) return null;
    const [target, ban] = found;
    const now = this.#clock();
    if (ban.expiresAtMs !== null && ban.expiresAtMs <= now) return null;
    return toDecision(this.#idOf(target, ban), target, ban, now);
  }

  /** Decisions a bouncer holds now (as far as its last pull told it). */
  holding(bouncer: string): number {
    return this.#cursors.get(bouncer)?.held.size ?? 0;
  }

  /**
   * The decision id of `ban` (of `target`), the first of a block: a network some bouncer may be served
   * address by address reserves one id per address, whoever asks first, so ids never overlap.
   */
  #idOf(target: Target, ban: ActiveBan): number {
    let id = this.#ids.get(ban);
    if (id === undefined) {
      this.#ids.set(ban, (id = this.#nextId));
      this.#nextId += expandedCount(target);
    }
    return id;
  }
}
