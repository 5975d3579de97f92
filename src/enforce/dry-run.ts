/**
 * The dry-run backend: decides exactly what the nftables backend would put into the kernel (same
 * planner, same overlap policy, same timeouts on an injected clock) and logs each element change
 * instead. For trying a configuration on a live host without touching its firewall.
 */
import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { PortwardenError } from '../errors.js';
import type { CommitResult, EnforcementBackend } from './backend.js';
import type { KernelBan, Target } from '../model/ban.js';
import { EnforceError, QueueingBackend, type Action, type EnforceFailure } from './decisions.js';
import { ElementState, type SetName } from './element-state.js';

/** One line of what dry-run would have done; `decision` is the queued decision that caused it. */
export type DryRunLogEntry =
  | { readonly event: 'setup' }
  | { readonly event: 'teardown' }
  | {
      readonly event: 'add-element';
      readonly set: SetName;
      readonly target: Target;
      readonly timeoutSeconds: number | null;
      readonly decision: { readonly action: Action; readonly target: Target };
    }
  | {
      readonly event: 'delete-element';
      readonly set: SetName;
      readonly target: Target;
      readonly decision: { readonly action: Action; readonly target: Target };
    };

export type DryRunLogger = (entry: DryRunLogEntry) => void;

export interface DryRunOptions {
  /** Wall-clock ms; default Date.now. Inject a fake clock to replay deterministically. */
  clock?: () => number;
}

const ENOENT = osConstants.errno.ENOENT;

export class DryRunBackend extends QueueingBackend implements EnforcementBackend {
  readonly name = 'dry-run' as const;
  readonly #log: DryRunLogger;
  readonly #clock: () => number;
  // No kernel timer lags behind ours, so no grace period.
  readonly #state = new ElementState(0);
  #present = false;

  constructor(log: DryRunLogger, options: DryRunOptions = {}) {
    super();
    this.#log = log;
    this.#clock = options.clock ?? Date.now;
  }

  async setup(): Promise<void> {
    this.#state.clear();
    this.#present = true;
    this.#log({ event: 'setup' });
  }

  async commit(): Promise<CommitResult> {
    const changes = this.takeQueued();
    const started = performance.now();
    if (!this.#present) {
      // As in the kernel: nothing can be added to a missing table; removing from it is already done.
      const failures: EnforceFailure[] = changes
        .filter((c) => c.action === 'ban' || c.action === 'allow')
        .map((c) => ({ action: c.action, target: c.target.text, errno: ENOENT, reason: 'ENOENT (table missing: setup first)' }));
      if (failures.length > 0) throw new EnforceError(failures, changes.length - failures.length, performance.now() - started);
      return { applied: changes.length, durationMs: performance.now() - started };
    }
    const now = this.#clock();
    this.#state.sweep(now);
    this.#state.begin();
    changes.forEach((change, index) => this.#state.plan(change, now, index));
    for (const { decision, change } of this.#state.planned()) {
      const cause = { action: changes[decision].action, target: changes[decision].target.text };
      if (change.kind === 'add') {
        const timeoutSeconds = change.timeoutMs === null ? null : change.timeoutMs / 1000;
        this.#log({ event: 'add-element', set: change.set, target: change.target.text, timeoutSeconds, decision: cause });
      } else {
        this.#log({ event: 'delete-element', set: change.set, target: change.target.text, decision: cause });
      }
    }
    this.#state.settle();
    return { applied: changes.length, durationMs: performance.now() - started };
  }

  async bans(): Promise<KernelBan[]> {
    if (!this.#present) throw new PortwardenError('PW_ERR_ENFORCE', 'dry-run: no table (setup first)');
    const now = this.#clock();
    return this.#state.liveBans(now).map((entry) => ({
      target: entry.target.text,
      // Whole seconds rounded down, as nft reports them.
      expiresInSeconds: entry.expiresAtMs === null ? null : Math.floor((entry.expiresAtMs - now) / 1000),
    }));
  }

  async present(): Promise<boolean> {
    return this.#present;
  }

  async teardown(): Promise<void> {
    this.#state.clear();
    this.dropQueued();
    this.#present = false;
    this.#log({ event: 'teardown' });
  }
}
