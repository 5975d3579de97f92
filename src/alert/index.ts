/**
 * Alert channels from the alert settings: the registry of channel types, and the dispatcher built over
 * them. A new kind of channel is one more file and one more case here (and in settings.ts).
 */
import type { EventLogger } from '../model/logger.js';
import type { AlertChannel } from './channel.js';
import { AlertDispatcher, type ChannelSettings, type DeliveryObserver } from './dispatcher.js';
import { EmailChannel } from './email.js';
import { SlackChannel } from './slack.js';
import { SyslogChannel } from './syslog.js';
import { WebhookChannel } from './webhook.js';
import type { AlertSettings } from './settings.js';

export type { AlertSettings } from './settings.js';
/** One channel's settings, as the `alerts` section lists them. */
export type ChannelConfig = AlertSettings['channels'][number];

/** The name a channel goes by in logs and metrics: its own, or `<type>-<position>` (1-based). */
export function channelName(c: ChannelConfig, index: number): string {
  return c.name ?? `${c.type}-${index + 1}`;
}

export function createChannel(c: ChannelConfig, name: string): AlertChannel {
  switch (c.type) {
    case 'webhook':
      return new WebhookChannel({ name, url: c.url, headers: c.headers });
    case 'slack':
      return new SlackChannel({ name, url: c.url });
    case 'email':
      return new EmailChannel({ name, host: c.host, port: c.port, security: c.security, auth: c.auth, from: c.from, to: c.to, subject: c.subject, timeoutMs: c.timeoutMs });
    case 'syslog':
      return new SyslogChannel({ name, transport: c.transport, host: c.host, port: c.port, path: c.path, facility: c.facility });
  }
}

/** The dispatcher over the channels `alerts` (the `alerts` section) lists. */
export function dispatcherFromConfig(alerts: AlertSettings, options: { log: EventLogger; observers?: DeliveryObserver[] }): AlertDispatcher {
  return new AlertDispatcher(
    alerts.channels.map((c, i) => {
      const name = channelName(c, i);
      const settings: ChannelSettings = {
        name,
        minSeverity: c.minSeverity,
        batchWindowMs: c.batchWindowMs,
        ratePerMinute: c.ratePerMinute,
        maxQueued: c.maxQueued,
        timeoutMs: c.timeoutMs,
        retry: c.retry,
      };
      return { channel: createChannel(c, name), settings };
    }),
    options,
  );
}

export { AlertDispatcher, type DeliveryObserver, type DeliveryOutcome, type ChannelStats } from './dispatcher.js';
export * from './alert.js';
