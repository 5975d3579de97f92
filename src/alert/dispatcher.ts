/**
 * The alert dispatcher: the daemon hands it alerts with `publish(alert)`, which only files each alert
 * into the queue of every channel that wants it and returns. Everything slow (HTTP, SMTP, syslog
 * connections, retries) happens later, one delivery at a time per channel, so detection never waits on
 * a receiver.
 *
 * Per channel, in this order:
 * - minimum severity: lower alerts are not queued (counted as `filtered` in stats only);
 * - rate limit: a token bucket of `ratePerMinute` tokens refilled evenly; an alert without a token is
 *   counted `suppressed` and the count travels with the next delivery (or a summary of its own once a
 *   token is back), so the receiver learns that alerts were held back;
 * - bounded queue: past `maxQueued` waiting alerts, new ones are counted `dropped` (fail-open: memory
 *   stays bounded, detection and enforcement go on), logged once per overflow episode;
 * - batching: the first alert starts a `batchWindowMs` timer; what arrived by then (up to MAX_BATCH)
 *   goes out as one message;
 * - retry: a failed delivery is tried again after initialDelayMs · 2^(n-1) (at most maxDelayMs), with
 *   jitter, up to `attempts` tries; then it is counted `failed` and logged.
 * Every outcome goes to the `DeliveryObserver` (metrics) with the number of alerts it concerned.
 */
import type { EventLogger } from '../model/logger.js';
import { severityRank, type Alert, type Severity } from './alert.js';
import type { AlertBatch, AlertChannel } from './channel.js';

export type DeliveryOutcome = 'delivered' | 'failed' | 'dropped' | 'suppressed';

/** Told of every outcome with the number of alerts concerned; must be cheap and must not throw (errors are swallowed). */
export interface DeliveryObserver {
  onDelivery(channel: string, outcome: DeliveryOutcome, count: number): void;
}

export interface ChannelSettings {
  name: string;
  minSeverity: Severity;
  batchWindowMs: number;
  ratePerMinute: number;
  maxQueued: number;
  timeoutMs: number;
  retry: { attempts: number; initialDelayMs: number; maxDelayMs: number };
}

export interface ChannelStats {
  /** Alerts the receiver accepted. */
  delivered: number;
  /** Alerts whose delivery failed every attempt. */
  failed: number;
  /** Alerts refused because the queue was full, or still waiting when shutdown's time ran out. */
  dropped: number;
  /** Alerts held back by the rate limit. */
  suppressed: number;
  /** Alerts below the channel's minimum severity. */
  filtered: number;
  /** Delivery attempts, successful or not. */
  attempts: number;
  /** Alerts waiting now. */
  queued: number;
}

/** Alerts per message at most: keeps one Slack message, mail or request a readable size. */
export const MAX_BATCH = 100;

export interface DispatcherOptions {
  log: EventLogger;
  observers?: DeliveryObserver[];
  /** For tests of backoff: the jitter source; default Math.random. */
  random?: () => number;
}

export class AlertDispatcher {
  readonly #channels: ChannelQueue[];
  readonly #log: EventLogger;
  #closed = false;

  constructor(channels: readonly { channel: AlertChannel; settings: ChannelSettings }[], options: DispatcherOptions) {
    this.#log = options.log;
    this.#channels = channels.map((c) => new ChannelQueue(c.channel, c.settings, options));
  }

  get channelNames(): string[] {
    return this.#channels.map((c) => c.name);
  }

  /** Files `alert` for every channel that wants it (of `only`, when named: a rule's alert channels); returns at once and never throws. */
  publish(alert: Alert, only?: readonly string[]): void {
    if (this.#closed) return;
    for (const c of this.#channels) {
      if (only !== undefined && only.length > 0 && !only.includes(c.name)) continue;
      try {
        c.offer(alert);
      } catch (err) {
        this.#log.error({ 'event.action': 'alert-publish-failed', 'alert.channel': c.name, error: errorText(err) }, `alert channel ${c.name}: cannot queue an alert`);
      }
    }
  }

  stats(): Record<string, ChannelStats> {
    return Object.fromEntries(this.#channels.map((c) => [c.name, c.stats()]));
  }

  /**
   * Stops taking alerts and sends what is pending now (no batching wait), retrying within `timeoutMs`;
   * whatever is still undelivered then is counted as dropped. Closes every channel.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#channels.map((c) => c.close(timeoutMs)));
  }
}

class ChannelQueue {
  readonly name: string;
  readonly #channel: AlertChannel;
  readonly #s: ChannelSettings;
  readonly #log: EventLogger;
  readonly #observers: DeliveryObserver[];
  readonly #random: () => number;
  readonly #minRank: number;
  #queue: Alert[] = [];
  /** Suppressed since the last delivery: reported with the next one. */
  #suppressed = 0;
  #tokens: number;
  #refilledAt = Date.now();
  #timer: NodeJS.Timeout | null = null;
  #sending: Promise<void> | null = null;
  #overflowing = false;
  /** Aborted when shutdown's time is up: cuts backoff sleeps and attempts short. */
  readonly #shutdown = new AbortController();
  #closing = false;
  readonly #stats = { delivered: 0, failed: 0, dropped: 0, suppressed: 0, filtered: 0, attempts: 0 };

  constructor(channel: AlertChannel, settings: ChannelSettings, options: DispatcherOptions) {
    this.name = settings.name;
    this.#channel = channel;
    this.#s = settings;
    this.#log = options.log;
    this.#observers = options.observers ?? [];
    this.#random = options.random ?? Math.random;
    this.#minRank = severityRank(settings.minSeverity);
    this.#tokens = settings.ratePerMinute;
  }

  stats(): ChannelStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  offer(alert: Alert): void {
    if (this.#closing) return;
    if (alert['event.severity'] < this.#minRank) {
      this.#stats.filtered++;
      return;
    }
    if (!this.#takeToken()) {
      this.#suppressed++;
      this.#stats.suppressed++;
      this.#tell('suppressed', 1);
      this.#schedule();
      return;
    }
    if (this.#queue.length >= this.#s.maxQueued) {
      this.#stats.dropped++;
      this.#tell('dropped', 1);
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#log.warn(
          { 'event.action': 'alert-dropped', 'alert.channel': this.name, 'event.reason': 'queue full', 'alert.queued': this.#queue.length },
          `alert channel ${this.name}: ${this.#queue.length} alerts waiting, dropping new ones until it catches up`,
        );
      }
      return;
    }
    this.#queue.push(alert);
    this.#schedule();
  }

  /** Token bucket refilled evenly: `ratePerMinute` tokens a minute, holding at most that many. */
  #takeToken(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #refill(): void {
    const now = Date.now();
    const rate = this.#s.ratePerMinute;
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilledAt) * rate) / 60_000);
    this.#refilledAt = now;
  }

  /** Starts the batching window unless one is open or a delivery is under way (it reschedules when done). */
  #schedule(): void {
    if (this.#timer !== null || this.#sending !== null || this.#closing) return;
    let delay = this.#s.batchWindowMs;
    if (this.#queue.length === 0 && this.#suppressed > 0) {
      // Only a suppressed count to report: that summary is a message too and waits for a token.
      this.#refill();
      delay = Math.max(delay, Math.ceil(((1 - this.#tokens) * 60_000) / this.#s.ratePerMinute));
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#startSend();
    }, delay);
    this.#timer.unref();
  }

  #startSend(): void {
    // Past shutdown's deadline nothing more is tried: close() counts what is left as dropped.
    if (this.#sending !== null || this.#shutdown.signal.aborted) return;
    if (this.#queue.length === 0) {
      if (this.#suppressed === 0) return;
      if (!this.#closing && !this.#takeToken()) {
        this.#schedule();
        return;
      }
    }
    this.#sending = this.#send().finally(() => {
      this.#sending = null;
      if (this.#queue.length > 0 || this.#suppressed > 0) {
        if (this.#closing) this.#startSend();
        else this.#schedule();
      }
    });
  }

  async #send(): Promise<void> {
    const alerts = this.#queue.splice(0, MAX_BATCH);
    if (this.#queue.length < this.#s.maxQueued) this.#overflowing = false;
    const batch: AlertBatch = { channel: this.name, alerts, suppressed: this.#suppressed };
    this.#suppressed = 0;
    const { attempts, initialDelayMs, maxDelayMs } = this.#s.retry;
    for (let attempt = 1; ; attempt++) {
      this.#stats.attempts++;
      try {
        await this.#attempt(batch);
        this.#stats.delivered += alerts.length;
        this.#tell('delivered', alerts.length);
        return;
      } catch (err) {
        const last = attempt >= attempts || this.#shutdown.signal.aborted;
        this.#log.warn(
          { 'event.action': 'alert-delivery-failed', 'alert.channel': this.name, 'alert.count': alerts.length, attempt, error: errorText(err) },
          `alert channel ${this.name}: delivery attempt ${attempt} of ${attempts} failed: ${errorText(err)}${last ? '' : '; retrying'}`,
        );
        if (last) {
          this.#stats.failed += alerts.length;
          this.#tell('failed', alerts.length);
          this.#log.error(
            { 'event.action': 'alert-failed', 'alert.channel': this.name, 'alert.count': alerts.length, attempts: attempt, error: errorText(err) },
            `alert channel ${this.name}: gave up on ${alerts.length} alert(s) after ${attempt} attempt(s)`,
          );
          return;
        }
        const full = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
        // Equal jitter: half fixed, half random, so channels that failed together do not retry in step.
        await sleep(full / 2 + (this.#random() * full) / 2, this.#shutdown.signal);
      }
    }
  }

  /** One try, cut short at the channel's timeout or at the end of shutdown's time. */
  async #attempt(batch: AlertBatch): Promise<void> {
    const timeout = AbortSignal.timeout(this.#s.timeoutMs);
    const signal = AbortSignal.any([timeout, this.#shutdown.signal]);
    await this.#channel.deliver(batch, signal);
  }

  #tell(outcome: DeliveryOutcome, count: number): void {
    if (count === 0) return;
    for (const o of this.#observers) {
      try {
        o.onDelivery(this.name, outcome, count);
      } catch {
        // An observer's failure must not stop delivery (it is metrics, not the alert).
      }
    }
  }

  async close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const deadline = setTimeout(() => this.#shutdown.abort(new Error(`shutdown: ${timeoutMs} ms to deliver ran out`)), timeoutMs);
    deadline.unref();
    try {
      this.#startSend();
      while (this.#sending !== null) await this.#sending;
    } finally {
      clearTimeout(deadline);
    }
    // Whatever is left (the deadline passed mid-queue) is lost with the process: say so.
    if (this.#queue.length > 0) {
      const lost = this.#queue.length;
      this.#queue = [];
      this.#stats.dropped += lost;
      this.#tell('dropped', lost);
      this.#log.error({ 'event.action': 'alert-dropped', 'alert.channel': this.name, 'event.reason': 'shutdown', 'alert.count': lost }, `alert channel ${this.name}: ${lost} alert(s) not delivered before shutdown`);
    }
    try {
      await this.#channel.close();
    } catch (err) {
      this.#log.warn({ 'event.action': 'alert-close-failed', 'alert.channel': this.name, error: errorText(err) }, `alert channel ${this.name}: close failed`);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
