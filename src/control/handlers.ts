/**
 * What the control commands do (the protocol is model/control.ts; server.ts only moves requests and
 * replies): status and the ban list read the ban book and the backend; ban, unban and allow change the
 * book and answer once the change is recorded and in the kernel. Built from the parts it is given, so
 * the dashboard and the CLI go through the same handlers.
 *
 * Contract with the server (server.ts PIPELINED): `ban` and `unban` check and queue their change on the
 * book before their first await, so several in flight at once keep their order and share a commit.
 */
import { PortwardenError } from '../errors.js';
import type { PortwardenConfig } from '../config/load.js';
import type { BanView, ControlHandler, LapiStatusView, ResultOf } from '../model/control.js';
import type { FleetStatusView } from '../model/fleet.js';
import { humanDuration } from '../model/duration.js';
import type { EventLogger } from '../model/logger.js';
import { asNetwork, type AllowSets } from '../enforce/allow-sets.js';
import { canonicalTarget, type BanBook } from '../enforce/ban-book.js';
import type { RunningConfig } from './running-config.js';
import type { Watching } from './start-summary.js';

export interface ControlParts {
  book: BanBook;
  allowSets: AllowSets;
  /** Who is never banned (the lockout guard in force; rebuilt on reload). */
  guard(): { protects(target: string): { reason: string } | null };
  running: RunningConfig;
  /** What capture watches, as started. */
  watching: Watching;
  version: string;
  startedAt: Date;
  incidents(): number;
  /** Every stage's counters (detection, capture, reconcile, responder, inline). */
  counters(): Promise<Record<string, number>>;
  /** Builds the decisions (lockout guard, policy) of a config again: after `allow`, its entry is in the allowlist. */
  redecide(config: PortwardenConfig): Promise<unknown>;
  reload(): Promise<ResultOf['reload']>;
  /** Everything known of an address (control/lookup.ts). */
  lookup(address: string): Promise<ResultOf['lookup']>;
  /** The threat feeds (intel/feeds); none: `feeds` answers an empty list. */
  feeds?: { list(): Promise<ResultOf['feeds']>; update(name?: string): Promise<ResultOf['feeds-update']> };
  log: EventLogger;
  /** The CrowdSec decision stream's state; absent or null: not serving. */
  lapi?: () => LapiStatusView | null;
  /** The fleet's state; absent or null: no fleet (fleet.servers empty). */
  fleet?(): FleetStatusView | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function network(target: string): string {
  const n = asNetwork(target);
  if (n === null) throw new PortwardenError('PW_ERR_USAGE', `${target} is not an address or network`);
  return n;
}

export function controlHandlers(p: ControlParts): ControlHandler {
  const { book } = p;
  return {
    status: async () => ({
      version: p.version,
      startedAt: p.startedAt.toISOString(),
      profile: p.running.current.profile,
      interfaces: p.watching.interfaces,
      allInterfaces: p.watching.interfaces.length === 0,
      captureMethod: p.watching.method,
      socket: p.running.current.control.socketPath,
      stateDir: p.running.current.state.dir,
      configFile: p.running.path ?? null,
      backend: book.backend.name,
      dryRun: book.backend.name === 'dry-run',
      bans: (await book.backend.bans()).length,
      incidents: p.incidents(),
      counters: await p.counters(),
      lapi: p.lapi?.() ?? null,
      fleet: p.fleet?.()?.state ?? 'off',
    }),
    bans: async () => {
      const now = Date.now();
      return (await book.backend.bans()).map((k): BanView => {
        const known = book.get(k.target);
        if (known === undefined) {
          const expiresAt = k.expiresInSeconds === null ? null : now + k.expiresInSeconds * 1000;
          return { target: k.target, expiresInSeconds: k.expiresInSeconds, reason: 'in the kernel, not from this run', origin: 'config', createdAt: null, expiresAt: iso(expiresAt), lengthSeconds: null };
        }
        // The kernel's count is the truth of what is left; the book knows when it began and was meant to end.
        const length = known.expiresAtMs === null ? null : Math.round((known.expiresAtMs - known.createdAtMs) / 1000);
        return { target: k.target, expiresInSeconds: k.expiresInSeconds, reason: known.reason, origin: known.origin, createdAt: iso(known.createdAtMs), expiresAt: iso(known.expiresAtMs), lengthSeconds: length };
      });
    },
    ban: async (r) => {
      const target = canonicalTarget(network(r.target));
      const protectedBy = p.guard().protects(target);
      if (protectedBy !== null) throw new PortwardenError('PW_ERR_USAGE', `refusing to ban ${target}: ${protectedBy.reason} (the lockout guard never bans it)`);
      const max = p.running.current.enforce.maxOperatorBanSeconds;
      if (r.seconds !== null && r.seconds > max) {
        throw new PortwardenError('PW_ERR_USAGE', `refusing to ban ${target} for ${humanDuration(r.seconds)}: longer than enforce.maxOperatorBanSeconds (${humanDuration(max)}); ban --permanent bans without end`);
      }
      const outcome = book.ban(target, r.seconds, r.reason || 'operator', 'operator');
      await book.commit();
      const left = outcome.expiresAtMs === null ? null : Math.max(0, Math.ceil((outcome.expiresAtMs - Date.now()) / 1000));
      if (outcome.kind === 'banned') return { target, expiresInSeconds: left, outcome: 'banned', expiresAt: iso(outcome.expiresAtMs), ...(outcome.retired.length > 0 ? { merged: outcome.retired } : {}) };
      return { target, expiresInSeconds: left, outcome: outcome.kind, by: outcome.by, expiresAt: iso(outcome.expiresAtMs) };
    },
    unban: async (r) => {
      if (r.target === undefined) {
        const lifted = [...book.active].filter(([, b]) => r.origin === undefined || b.origin === r.origin).map(([t]) => t);
        for (const t of lifted) book.unban(t);
        await book.commit();
        return { target: '*', removed: lifted.length > 0, lifted };
      }
      const target = canonicalTarget(r.target);
      const blocking = book.has(target) ? undefined : book.coveringBan(target);
      if (blocking !== undefined) return { target, removed: false, blockedBy: { target: blocking.target, expiresAt: iso(blocking.ban.expiresAtMs) } };
      const removed = book.unban(target);
      await book.commit();
      return { target, removed };
    },
    allow: async (r) => {
      const target = canonicalTarget(network(r.target));
      // The entry joins the running allowlist (kept across reloads) and the decisions built from it.
      await p.redecide(p.running.allow({ value: target, reason: r.reason || 'operator' }));
      if (book.has(target)) book.unban(target);
      p.allowSets.add(target);
      await book.commit();
      p.log.info({ 'event.action': 'allow', 'source.ip': target }, `allow ${target}`);
      return { target };
    },
    reload: async () => p.reload(),
    lookup: async (r) => p.lookup(r.address),
    feeds: async () => (p.feeds === undefined ? [] : p.feeds.list()),
    'feeds-update': async (r) => {
      const result = p.feeds === undefined ? [] : await p.feeds.update(r.name);
      if (r.name !== undefined && result.every((x) => x.outcome === 'unknown')) throw new PortwardenError('PW_ERR_CONTROL', `no feed is named ${JSON.stringify(r.name)}`);
      return result;
    },
    fleet: async () => {
      const view = p.fleet?.() ?? null;
      if (view === null) throw new PortwardenError('PW_ERR_CONTROL', 'this daemon is in no fleet (fleet.servers is empty)');
      return view;
    },
  };
}
