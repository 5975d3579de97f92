/**
 * The checks every backend makes when a decision is queued, and the error a commit raises when the
 * kernel refused some of its changes. Invalid input is refused when queued (synchronously), so a
 * bad target never reaches a kernel transaction.
 */
import { PortwardenError } from '../errors.js';
import type { Ban, Target } from '../model/ban.js';
import type { QueuedChange } from './element-state.js';
import { parseTarget, type ParsedTarget } from '../net/target.js';

export type Action = QueuedChange['action'];

/** One decision the kernel refused. */
export interface EnforceFailure {
  readonly action: Action;
  readonly target: Target;
  /** Positive errno from the kernel (0 when the failure was not the kernel's). */
  readonly errno: number;
  readonly reason: string;
}

/**
 * PW_ERR_ENFORCE from a commit: `failures` lists each refused decision; the others (`applied`) are
 * in the kernel, committed without the refused ones.
 */
export class EnforceError extends PortwardenError {
  readonly failures: readonly EnforceFailure[];
  readonly applied: number;
  readonly durationMs: number;

  constructor(failures: readonly EnforceFailure[], applied: number, durationMs: number, options?: { cause?: unknown }) {
    const sample = failures
      .slice(0, 5)
      .map((f) => `${f.action} ${f.target}: ${f.reason}`)
      .join('; ');
    const more = failures.length > 5 ? ` (and ${failures.length - 5} more)` : '';
    super('PW_ERR_ENFORCE', `${failures.length} change(s) refused, ${applied} applied: ${sample}${more}`, options);
    this.name = 'EnforceError';
    this.failures = failures;
    this.applied = applied;
    this.durationMs = durationMs;
  }
}

/** Seconds as given in a Ban; at most what a JS number holds exactly in ms. */
const MAX_TIMEOUT_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

export function parseDecisionTarget(action: Action, target: Target): ParsedTarget {
  const parsed = parseTarget(String(target));
  if (!parsed.ok) throw new PortwardenError('PW_ERR_ENFORCE', `${action} ${JSON.stringify(target)}: ${parsed.reason}`);
  return parsed.target;
}

export function queuedBan(ban: Ban): QueuedChange {
  const target = parseDecisionTarget('ban', ban.target);
  const seconds = ban.timeoutSeconds;
  if (seconds !== null && !(typeof seconds === 'number' && seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new PortwardenError('PW_ERR_ENFORCE', `ban ${target.text}: timeoutSeconds ${String(seconds)} is not a positive number of seconds or null`);
  }
  return { action: 'ban', target, timeoutMs: seconds === null ? null : Math.max(1, Math.round(seconds * 1000)) };
}

export function queuedChange(action: 'unban' | 'allow' | 'disallow', target: Target): QueuedChange {
  return { action, target: parseDecisionTarget(action, target) };
}

/**
 * The queueing half every backend shares: ban, unban, allow and disallow only record changes; the
 * backend's commit() takes them all and applies them in one transaction.
 */
export abstract class QueueingBackend {
  #queue: QueuedChange[] = [];

  ban(ban: Ban): void {
    this.#queue.push(queuedBan(ban));
  }

  unban(target: Target): void {
    this.#queue.push(queuedChange('unban', target));
  }

  allow(target: Target): void {
    this.#queue.push(queuedChange('allow', target));
  }

  disallow(target: Target): void {
    this.#queue.push(queuedChange('disallow', target));
  }

  /** Decisions queued and not yet committed. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Takes every queued change, leaving the queue empty. */
  protected takeQueued(): QueuedChange[] {
    const changes = this.#queue;
    this.#queue = [];
    return changes;
  }

  /** Forgets what was queued (the table it was meant for is gone). */
  protected dropQueued(): void {
    this.#queue = [];
  }
}
