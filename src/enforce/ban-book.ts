/**
 * The ban book: what this daemon has banned (target → reason, expiry, origin), and the one way a ban
 * or unban reaches the kernel. Changes are queued on the backend and committed together, every
 * `enforce.commitEveryMs` or when a caller must wait for its change (a control request); the record
 * (the state database, behind BanRecorder) is written first, so a ban is on disk before the kernel
 * has it and before anyone is told it is applied. The kernel owns every ban's timeout, so a daemon
 * that dies leaves no ban forever; the book is for status, planning, restore and repair.
 */
import type { Ban, KernelBan, Target } from '../model/ban.js';
import type { BanView } from '../model/control.js';
import { humanDuration, utcMinute } from '../model/duration.js';
import type { EventLogger } from '../model/logger.js';
import { AddressIndexedMap } from '../net/address-map.js';
import { AddressSet } from '../net/address-set.js';
import { parseTarget, targetContains, type ParsedTarget } from '../net/target.js';
import type { EnforcementBackend } from './backend.js';
import { EnforceError } from './decisions.js';

export type BanOrigin = BanView['origin'];

export interface ActiveBan {
  reason: string;
  /** Wall-clock ms when the kernel lifts it; null: no timeout. */
  expiresAtMs: number | null;
  origin: BanOrigin;
  /** Wall-clock ms when it was decided (or, restored, recorded). */
  createdAtMs: number;
}

/**
 * What `ban` did. The book never holds two bans of which one contains the other (the kernel's interval
 * sets cannot either), so a ban is one of:
 *  - `banned`: the target is banned until `expiresAtMs`; `retired` are the narrower bans it swallowed
 *    (their rows lifted, the kernel merges them into the wider one), and the expiry is the latest of
 *    theirs and its own, so nobody is released earlier than decided;
 *  - `covered`: a wider ban (`by`) already holds the target at least as long: nothing changes;
 *  - `extended`: a wider ban (`by`) held the target, but not as long as asked: the wider ban now
 *    lasts until `expiresAtMs` (the kernel cannot hold the narrower one inside it).
 */
export type BanOutcome =
  | { kind: 'banned'; target: Target; expiresAtMs: number | null; retired: Target[] }
  | { kind: 'covered' | 'extended'; target: Target; by: Target; expiresAtMs: number | null };

/** Canonical text of a target ('10.0.0.5/32' → '10.0.0.5'); the input itself when it does not parse (the backend refuses it). */
export function canonicalTarget(target: Target): Target {
  const p = parseTarget(target);
  return p.ok ? p.target.text : target;
}

/** The later of two expiries (null: never). */
function later(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

/** Where bans are recorded (src/state/ implements it); `Incident` is the record's handle of the incident behind a ban. */
export interface BanRecorder<Incident> {
  addBan(ban: { target: Target; reason: string; createdMs: number; expiresMs: number | null; origin: BanOrigin; durationWhy: string }, incident: Incident | null): void;
  liftBan(target: Target, atMs: number): void;
  /** Writes what is queued, durably; reports its own failures (the kernel still gets the bans). */
  persist(): void;
}

/** Who wants to hear what the book does (the decision policy, metrics, alerts); every hook is optional. */
export interface BanListener {
  /** A ban was queued (restores and repairs are not new bans and are not told). */
  ban?(target: Target, seconds: number | null, origin: BanOrigin, reason: string): void;
  unban?(target: Target): void;
  /** A commit went through: when each of its changes was queued (performance.now()) and when it ended. */
  committed?(queuedAtMs: readonly number[], committedAtMs: number): void;
  /** The kernel refused a change (target) or the whole transaction (no target). */
  refused?(message: string, target: Target | undefined): void;
}

export interface BanBookOptions<Incident> {
  /** Where bans go: the table, or the dry-run log. */
  backend: EnforcementBackend;
  recorder: BanRecorder<Incident>;
  log: EventLogger;
  listeners?: readonly BanListener[];
  /** Wall-clock ms; default Date.now. */
  clock?: () => number;
}

/** Listing the kernel's bans costs it time quadratic in their size: list at most 1/LISTING_SHARE of the time. */
const LISTING_SHARE = 50;

export class BanBook<Incident = unknown> {
  readonly backend: EnforcementBackend;
  /** Keyed by target; `.addresses` indexes them (prefixes included) for inline mode's per-packet check. */
  readonly active = new AddressIndexedMap<ActiveBan>();
  readonly #recorder: BanRecorder<Incident>;
  readonly #log: EventLogger;
  readonly #listeners: readonly BanListener[];
  readonly #clock: () => number;
  /** Changes queued on the backend since the last commit. */
  #queued = 0;
  /** When each ban or unban waiting for the next commit was queued (performance.now()), for the latency metric. */
  #queuedAt: number[] = [];
  #committing: Promise<void> | null = null;
  /** The kernel's bans are listed again from then on (wall-clock ms). */
  #nextListingMs = 0;
  /** Targets unbanned while a restore compares kernel and record (watchUnbans). */
  #unbannedWhileWatching: Set<Target> | null = null;
  /** Targets banned while the kernel's bans are being listed: that list cannot show them yet. */
  #bannedWhileListing: Set<Target> | null = null;
  #repairs = 0;

  constructor(options: BanBookOptions<Incident>) {
    this.backend = options.backend;
    this.#recorder = options.recorder;
    this.#log = options.log;
    this.#listeners = options.listeners ?? [];
    this.#clock = options.clock ?? Date.now;
  }

  /** Repairs made so far: bans put back or recorded, a table set up again. */
  get repairs(): number {
    return this.#repairs;
  }

  /** Changes queued and not yet committed. */
  get queued(): number {
    return this.#queued;
  }

  countRepair(): void {
    this.#repairs++;
  }

  get(target: Target): ActiveBan | undefined {
    return this.active.get(target);
  }

  has(target: Target): boolean {
    return this.active.has(target);
  }

  /**
   * Seconds a ban of `target` still has at `nowMs`: a number, null for no expiry, or undefined when
   * the target is not banned (or its ban has ended).
   */
  remainingSeconds(target: Target, nowMs: number): number | null | undefined {
    const ban = this.active.get(target);
    if (ban === undefined) return undefined;
    if (ban.expiresAtMs === null) return null;
    return ban.expiresAtMs > nowMs ? Math.ceil((ban.expiresAtMs - nowMs) / 1000) : undefined;
  }

  /** The ban that holds `target` because it contains it (a wider prefix), if any; not `target`'s own. */
  coveringBan(target: Target): { target: Target; ban: ActiveBan } | undefined {
    const parsed = parseTarget(target);
    if (!parsed.ok) return undefined;
    const hit = this.active.addresses.overlapping(parsed.target.text);
    if (hit === null || hit.network === parsed.target.text) return undefined;
    const outer = parseTarget(hit.network);
    if (!outer.ok || !targetContains(outer.target, parsed.target)) return undefined;
    const ban = this.active.get(hit.network);
    return ban === undefined ? undefined : { target: hit.network, ban };
  }

  /** The book's bans inside `target` (narrower prefixes and addresses), not `target` itself. */
  #inside(target: ParsedTarget): Target[] {
    // The index answers "anything inside?" cheaply; only then are the bans walked (prefix bans are rare).
    const hit = this.active.addresses.overlapping(target.text);
    if (hit === null || hit.network === target.text) return [];
    const out: Target[] = [];
    for (const key of this.active.keys()) {
      if (key === target.text) continue;
      const p = parseTarget(key);
      if (p.ok && targetContains(target, p.target)) out.push(key);
    }
    return out;
  }

  /**
   * Queues a ban for the kernel and the record; both are written by the next commit, the record first.
   * `target` is taken in canonical form (a /32 or /128 is the address). A target inside a wider ban is
   * not banned again (covered), or the wider ban is lengthened (extended); a prefix swallows the bans
   * inside it (their rows are lifted). Returns what happened.
   */
  ban(target: Target, seconds: number | null, reason: string, origin: BanOrigin, why = '', incident: Incident | null = null): BanOutcome {
    const now = this.#clock();
    const parsed = parseTarget(target);
    const text = parsed.ok ? parsed.target.text : target;
    let expiresAtMs = seconds === null ? null : now + seconds * 1000;
    const covering = parsed.ok ? this.coveringBan(text) : undefined;
    if (covering !== undefined) return this.#covered(text, expiresAtMs, covering, reason, origin, now);
    const retired = parsed.ok ? this.#inside(parsed.target) : [];
    for (const t of retired) {
      expiresAtMs = later(expiresAtMs, this.active.get(t)?.expiresAtMs ?? null);
      this.active.delete(t);
      this.#recorder.liftBan(t, now);
      this.#log.info({ 'event.action': 'ban-merged', 'source.ip': t, 'ban.into': text }, `ban of ${t} merged into the ban of ${text}`);
    }
    const length = expiresAtMs === null ? null : Math.ceil((expiresAtMs - now) / 1000);
    const lengthWhy = length !== seconds ? `${why ? `${why}; ` : ''}lengthened to ${humanDuration(length)} by the narrower ban(s) it merges` : why;
    this.#recorder.addBan({ target: text, reason, createdMs: now, expiresMs: expiresAtMs, origin, durationWhy: lengthWhy }, incident);
    this.backend.ban({ target: text, timeoutSeconds: length });
    this.active.set(text, { reason, expiresAtMs, origin, createdAtMs: now });
    this.#bannedWhileListing?.add(text);
    this.#queued++;
    this.#queuedAt.push(performance.now());
    for (const l of this.#listeners) l.ban?.(text, length, origin, reason);
    this.#log.info(
      {
        'event.action': 'ban',
        'source.ip': text,
        'event.duration': length,
        'event.end': expiresAtMs === null ? undefined : new Date(expiresAtMs).toISOString(),
        origin,
        'ban.duration_why': lengthWhy || undefined,
        'ban.merged': retired.length > 0 ? retired : undefined,
      },
      `ban ${text} for ${humanDuration(length)}${expiresAtMs === null ? '' : `, until ${utcMinute(expiresAtMs)}`}${lengthWhy ? ` (${lengthWhy})` : ''}${retired.length > 0 ? `; merges ${retired.length} narrower ban(s)` : ''}`,
    );
    return { kind: 'banned', target: text, expiresAtMs, retired };
  }

  /** A ban of `target` inside the wider ban `covering`: nothing to do, or the wider ban lasts longer. */
  #covered(target: Target, expiresAtMs: number | null, covering: { target: Target; ban: ActiveBan }, reason: string, origin: BanOrigin, now: number): BanOutcome {
    const by = covering.target;
    const old = covering.ban;
    if (old.expiresAtMs === null || (expiresAtMs !== null && expiresAtMs <= old.expiresAtMs)) {
      this.#log.info(
        { 'event.action': 'ban-covered', 'source.ip': target, 'ban.by': by, 'event.end': old.expiresAtMs === null ? undefined : new Date(old.expiresAtMs).toISOString(), origin },
        `ban of ${target} not made: already covered by ${by} (${old.expiresAtMs === null ? 'permanent' : `expires ${utcMinute(old.expiresAtMs)}`})`,
      );
      return { kind: 'covered', target, by, expiresAtMs: old.expiresAtMs };
    }
    // The kernel cannot hold the narrower ban inside the wider one: the wider one is held longer.
    const seconds = expiresAtMs === null ? null : Math.ceil((expiresAtMs - now) / 1000);
    const why = `lengthened to ${humanDuration(seconds)} for ${target} inside it (${origin}: ${reason})`;
    this.#recorder.addBan({ target: by, reason: old.reason, createdMs: now, expiresMs: expiresAtMs, origin: old.origin, durationWhy: why }, null);
    this.backend.ban({ target: by, timeoutSeconds: seconds });
    this.active.set(by, { ...old, expiresAtMs });
    this.#queued++;
    this.#queuedAt.push(performance.now());
    this.#log.info(
      { 'event.action': 'ban-extended', 'source.ip': by, 'ban.for': target, 'event.duration': seconds, 'event.end': expiresAtMs === null ? undefined : new Date(expiresAtMs).toISOString(), origin },
      `ban of ${by} ${why}; now ${expiresAtMs === null ? 'permanent' : `until ${utcMinute(expiresAtMs)}`}`,
    );
    return { kind: 'extended', target, by, expiresAtMs };
  }

  /**
   * Queues an unban of exactly `target` (canonical form); whether the book had it. An address inside a
   * wider ban stays banned by that one: callers ask `coveringBan` first to say so.
   */
  unban(target: Target): boolean {
    const text = canonicalTarget(target);
    this.#unbannedWhileWatching?.add(text);
    const had = this.active.delete(text);
    this.#recorder.liftBan(text, this.#clock());
    this.backend.unban(text);
    this.#queued++;
    this.#queuedAt.push(performance.now());
    for (const l of this.#listeners) l.unban?.(text);
    this.#log.info({ 'event.action': 'unban', 'source.ip': text }, `unban ${text}`);
    return had;
  }

  /** Takes a ban into the book without sending it (the kernel has it, or `send` follows). */
  know(target: Target, ban: ActiveBan): void {
    this.active.set(target, ban);
  }

  /** Sends a ban to the kernel without recording it again (restore, repair). */
  send(ban: Ban): void {
    this.backend.ban(ban);
    this.#queued++;
  }

  /** Counts a change queued on the backend by someone else (allow sets), so the next commit applies it. */
  touch(): void {
    this.#queued++;
  }

  /**
   * Applies everything queued as one transaction; one commit at a time. A caller arriving during a
   * commit waits for it and then commits its own changes, so a control request is answered only once
   * its ban is recorded (written first, fsynced) and in the kernel. Refused changes are logged and
   * reported one by one; the reconciler repairs what is missing later.
   */
  async commit(): Promise<void> {
    while (this.#committing !== null) await this.#committing;
    if (this.#queued === 0) {
      this.#recorder.persist(); // incidents that led to no ban
      return;
    }
    this.#queued = 0;
    this.#recorder.persist();
    const queuedAt = this.#queuedAt;
    this.#queuedAt = [];
    this.#committing = (async () => {
      try {
        const r = await this.backend.commit();
        const at = performance.now();
        for (const l of this.#listeners) l.committed?.(queuedAt, at);
        if (r.applied > 0) this.#log.debug({ 'event.action': 'commit', applied: r.applied, 'duration.ms': r.durationMs }, `committed ${r.applied} change(s)`);
      } catch (err) {
        const failures = err instanceof EnforceError ? err.failures : [];
        for (const f of failures) this.#log.error({ 'event.action': 'enforce-failed', 'source.ip': f.target, error: f.reason, code: 'PW_ERR_ENFORCE' }, `kernel refused ${f.action} ${f.target}: ${f.reason}`);
        if (failures.length === 0) this.#log.error({ 'event.action': 'enforce-failed', error: err instanceof Error ? err.message : String(err) }, 'kernel transaction failed');
        const refused = failures.length > 0 ? failures.map((f) => [`kernel refused ${f.action} ${f.target}: ${f.reason}`, f.target] as const) : [[`kernel transaction failed: ${err instanceof Error ? err.message : String(err)}`, undefined] as const];
        for (const [message, target] of refused) for (const l of this.#listeners) l.refused?.(message, target);
      } finally {
        this.#committing = null;
      }
    })();
    await this.#committing;
  }

  /**
   * Bans the book holds that the kernel lost (someone deleted an element) go back, each repair logged.
   * Listing the ban sets costs the kernel time quadratic in their size (1-2 s for 100,000 bans) and
   * holds back commits meanwhile: with large sets, they are listed at most 2 % of the time.
   */
  async repairMissing(): Promise<void> {
    if (this.backend.name === 'dry-run' || this.#clock() < this.#nextListingMs) return;
    // What is queued goes to the kernel first, and bans made while the kernel is listed are not judged by
    // that list: either would be "missing" from it without having been lost.
    await this.commit();
    const listedAt = performance.now();
    const bannedWhileListing = new Set<Target>();
    this.#bannedWhileListing = bannedWhileListing;
    let listed: KernelBan[];
    try {
      listed = await this.backend.bans();
    } finally {
      this.#bannedWhileListing = null;
    }
    const inKernel = new Set(listed.map((k) => k.target));
    const now = this.#clock();
    this.#nextListingMs = now + LISTING_SHARE * (performance.now() - listedAt);
    const missing = missingFromKernel(this.active, inKernel, now);
    // A ban the kernel holds inside a wider element it lists (merged there) is not missing: sending it
    // again would only restart the wider one's timer.
    const wider = missing.length > 0 ? kernelCover(listed) : null;
    for (const target of missing) {
      if (bannedWhileListing.has(target)) continue;
      if (wider !== null && coveredBy(wider, target)) continue;
      this.#repairs++;
      this.#log.warn({ 'event.action': 'reconcile-element', 'source.ip': target, 'event.reason': 'ban missing from the kernel' }, `ban of ${target} was missing from the kernel; restored`);
      this.send({ target, timeoutSeconds: secondsLeft(this.active.get(target)?.expiresAtMs ?? null, now) });
    }
  }

  /** After the table was set up again (empty): every ban still due goes back (how many is returned); ended ones leave the book. */
  reinstall(): number {
    const now = this.#clock();
    let sent = 0;
    for (const [target, ban] of this.active) {
      if (ban.expiresAtMs !== null && ban.expiresAtMs <= now) {
        this.active.delete(target);
        continue;
      }
      this.send({ target, timeoutSeconds: secondsLeft(ban.expiresAtMs, now) });
      sent++;
    }
    return sent;
  }

  /**
   * From now until `stopWatching`, unbans are collected: a restore comparing the kernel's list with the
   * record must not write back a ban unbanned meanwhile. Returns the live set.
   */
  watchUnbans(): ReadonlySet<Target> {
    this.#unbannedWhileWatching = new Set();
    return this.#unbannedWhileWatching;
  }

  stopWatching(): void {
    this.#unbannedWhileWatching = null;
  }
}

/** The kernel's prefixes as a set, to ask whether one contains a target. */
function kernelCover(listed: readonly { target: Target }[]): AddressSet {
  const set = new AddressSet();
  for (const k of listed) if (k.target.includes('/')) set.add(k.target, '');
  return set;
}

function coveredBy(set: AddressSet, target: Target): boolean {
  try {
    const hit = set.overlapping(target);
    if (hit === null || hit.network === target) return false;
    const outer = parseTarget(hit.network);
    const inner = parseTarget(target);
    return outer.ok && inner.ok && targetContains(outer.target, inner.target);
  } catch {
    return false;
  }
}

/** Seconds until `expiresAtMs` (rounded up), or null for no expiry. */
function secondsLeft(expiresAtMs: number | null, nowMs: number): number | null {
  return expiresAtMs === null ? null : Math.ceil((expiresAtMs - nowMs) / 1000);
}

/**
 * The repair plan of a reconcile: targets the book holds with more than a second left that the kernel
 * does not list. Ended bans leave the book here (ones about to end are let go without a repair).
 */
export function missingFromKernel(book: Map<Target, ActiveBan>, inKernel: ReadonlySet<Target>, nowMs: number): Target[] {
  const missing: Target[] = [];
  for (const [target, ban] of book) {
    if (ban.expiresAtMs !== null && ban.expiresAtMs <= nowMs + 1000) {
      if (ban.expiresAtMs <= nowMs) book.delete(target);
      continue;
    }
    if (!inKernel.has(target)) missing.push(target);
  }
  return missing;
}
