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
import type { ControlHandler, ResultOf } from '../model/control.js';
import type { EventLogger } from '../model/logger.js';
import { asNetwork, type AllowSets } from '../enforce/allow-sets.js';
import type { BanBook } from '../enforce/ban-book.js';
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
  log: EventLogger;
}

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
    }),
    bans: async () =>
      (await book.backend.bans()).map((k) => {
        const known = book.get(k.target);
        return { target: k.target, expiresInSeconds: k.expiresInSeconds, reason: known?.reason ?? 'in the kernel, not from this run', origin: known?.origin ?? 'config' };
      }),
    ban: async (r) => {
      network(r.target);
      const protectedBy = p.guard().protects(r.target);
      if (protectedBy !== null) throw new PortwardenError('PW_ERR_USAGE', `refusing to ban ${r.target}: ${protectedBy.reason} (the lockout guard never bans it)`);
      book.ban(r.target, r.seconds, r.reason || 'operator', 'operator');
      await book.commit();
      return { target: r.target, expiresInSeconds: r.seconds };
    },
    unban: async (r) => {
      const removed = book.unban(r.target);
      await book.commit();
      return { target: r.target, removed };
    },
    allow: async (r) => {
      network(r.target);
      // The entry joins the running allowlist (kept across reloads) and the decisions built from it.
      await p.redecide(p.running.allow({ value: r.target, reason: r.reason || 'operator' }));
      if (book.has(r.target)) book.unban(r.target);
      p.allowSets.add(r.target);
      await book.commit();
      p.log.info({ 'event.action': 'allow', 'source.ip': r.target }, `allow ${r.target}`);
      return { target: r.target };
    },
    reload: async () => p.reload(),
  };
}
