/**
 * The alert channels in force, as one part of the daemon: built from the `alerts` settings, replaced when a reload
 * changes them (new channels take alerts from then on; the old ones send what they hold, in the background),
 * closed at stop. Everything that alerts (decisions, bans, refusals, decide's refusals) publishes through it.
 */
import type { EnforceListener } from '../enforce/enforcement.js';
import type { DecideLogEvent } from '../model/decision.js';
import type { EventLogger } from '../model/logger.js';
import { banAlert, decideAlert, enforceFailureAlert, incidentAlert, type Alert } from './alert.js';
import type { AlertDispatcher, DeliveryObserver } from './dispatcher.js';
import { dispatcherFromConfig } from './index.js';
import type { AlertSettings } from './settings.js';

export class Alerting {
  #settings: AlertSettings;
  #dispatcher: AlertDispatcher;
  readonly #log: EventLogger;
  readonly #observer: DeliveryObserver;

  constructor(settings: AlertSettings, log: EventLogger, observer: DeliveryObserver) {
    this.#settings = settings;
    this.#log = log;
    this.#observer = observer;
    this.#dispatcher = this.#build(settings);
  }

  publish(alert: Alert, only?: readonly string[]): void {
    this.#dispatcher.publish(alert, only);
  }

  /** What enforcement tells the channels: each incident's decision, each ban, each refusal. */
  readonly listener: EnforceListener = {
    // A rule's `alert: { channels }` goes to those channels only.
    incident: (_, decision) => this.publish(incidentAlert(decision), decision.rule?.action.type === 'alert' ? decision.rule.action.channels : undefined),
    ban: (target, seconds, origin, reason) => this.publish(banAlert(target, seconds, reason, origin)),
    refused: (message, target) => this.publish(enforceFailureAlert(message, target)),
  };

  /** A target decide refused to ban (lockout guard, cap). */
  refused(event: DecideLogEvent): void {
    this.publish(decideAlert(event));
  }

  reload(settings: AlertSettings): void {
    if (JSON.stringify(settings) === JSON.stringify(this.#settings)) return;
    const old = this.#dispatcher;
    this.#dispatcher = this.#build(settings);
    this.#settings = settings;
    void old.close(settings.shutdownTimeoutMs);
  }

  async close(): Promise<void> {
    await this.#dispatcher.close(this.#settings.shutdownTimeoutMs);
  }

  #build(settings: AlertSettings): AlertDispatcher {
    return dispatcherFromConfig(settings, { log: this.#log, observers: [this.#observer] });
  }
}
