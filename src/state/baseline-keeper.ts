/**
 * The daemon's hold on the baselines' learned state: read from state.db at start, written when an
 * hour has been learned since the last write (checked every `baseline.saveEveryMs`) and at stop. A
 * failure is logged (PW_ERR_STATE) and the daemon goes on learning: baselines are never worth a stop.
 */
import { PortwardenError } from '../errors.js';
import type { EventLogger } from '../model/logger.js';
import type { BaselineTracker } from '../detect/baseline/tracker.js';
import type { StateStore } from './state-store.js';

export class BaselineKeeper {
  readonly #store: StateStore;
  readonly #tracker: BaselineTracker;
  readonly #log: EventLogger;
  /** Hours learned at the last write: nothing new, nothing to write. */
  #savedHours = -1;

  constructor(store: StateStore, tracker: BaselineTracker, log: EventLogger) {
    this.#store = store;
    this.#tracker = tracker;
    this.#log = log;
  }

  /** Takes over what the last run learned (call before the first packet). */
  restore(): void {
    try {
      const saved = this.#store.loadBaseline();
      if (saved === null) return;
      this.#tracker.restore(saved);
      this.#savedHours = this.#tracker.counter('hours');
      this.#log.info(
        { 'event.action': 'baselines-restored', metrics: this.#tracker.trackedMetrics, 'hour.start': saved.hourStartMs >= 0 ? new Date(saved.hourStartMs).toISOString() : null },
        `baselines restored: ${this.#tracker.trackedMetrics} metrics from ${this.#store.file}`,
      );
    } catch (err) {
      this.#failed('restore', err);
    }
  }

  /** Writes the learned state when an hour was learned since the last write, or always with `force` (stop). */
  save(nowMs: number, force = false): void {
    const hours = this.#tracker.counter('hours');
    if (!force && hours === this.#savedHours) return;
    try {
      this.#store.saveBaseline(this.#tracker.snapshot(), nowMs);
      this.#savedHours = hours;
    } catch (err) {
      this.#failed('save', err);
    }
  }

  #failed(what: 'restore' | 'save', err: unknown): void {
    const e = err instanceof PortwardenError ? err : new PortwardenError('PW_ERR_STATE', `${this.#store.file}: baselines: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    this.#log.error({ 'event.action': 'state-write-failed', code: e.code, error: e.message }, what === 'restore' ? `${e.message}; baselines start afresh` : `${e.message}; baselines go on learning in memory`);
  }
}
