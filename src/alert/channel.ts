/**
 * The alert-channel interface: one implementation per kind of receiver (webhook.ts, slack.ts,
 * email.ts, syslog.ts). A channel only knows how to deliver one batch once; batching, rate limits,
 * retries and back-pressure are the dispatcher's (dispatcher.ts), the same for every channel.
 */
import type { Alert } from './alert.js';

/** What one delivery carries: the alerts of one batching window, and how many the rate limit held back since the last delivery. */
export interface AlertBatch {
  /** The channel's configured name (its metrics label). */
  channel: string;
  alerts: readonly Alert[];
  /** Alerts dropped by the rate limit since the previous delivery; a batch may carry only this count. */
  suppressed: number;
}

export interface AlertChannel {
  readonly name: string;
  /**
   * Delivers one batch, resolving once the receiver has accepted it and rejecting with the reason
   * otherwise (the dispatcher retries). `signal` aborts at the attempt's timeout: the channel must
   * release sockets and stop then.
   */
  deliver(batch: AlertBatch, signal: AbortSignal): Promise<void>;
  /** Releases connections and helpers; called once, after the last delivery. */
  close(): Promise<void>;
}

/** `N alerts suppressed by the rate limit` for text channels; '' for none. */
export function suppressedText(n: number): string {
  return n === 0 ? '' : `${n} more alert${n === 1 ? ' was' : 's were'} suppressed by this channel's rate limit`;
}

/** Rejects with `signal.reason` (or a timeout error) when the signal aborts; for work that has no signal of its own. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => void = () => {}): Promise<T> {
  if (signal.aborted) {
    onAbort();
    return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
