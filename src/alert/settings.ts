/**
 * Alerting's settings (the config's `alerts` section): a list of channels, each with its own fields and
 * the dispatcher's (dispatcher.ts), and how long pending alerts get at stop. The same for every
 * profile. A new kind of channel is one more entry in `alertChannelSchema` and one case in index.ts.
 */
import { z } from 'zod';
import { alsoWhenInvalid, describe, isRecord, listOf, nonNegativeInt, oneOf, port, positiveInt, section, text, type SettingsSection } from '../model/settings-kit.js';
import { SEVERITIES } from './alert.js';

const httpUrl = text.refine((value) => /^https?:$/.test(URL.canParse(value) ? new URL(value).protocol : ''), {
  error: (issue) => `must be an http:// or https:// URL, got ${describe(issue.input)}`,
});

/** What every channel shares: which alerts, how they are grouped, paced and retried (dispatcher.ts). */
const alertChannelCommon = {
  /** The channel's name in logs and metrics; default `<type>-<position>` (webhook-1). */
  name: text.optional(),
  minSeverity: oneOf(SEVERITIES).default('medium'),
  batchWindowMs: nonNegativeInt.default(2000),
  ratePerMinute: positiveInt.default(30),
  maxQueued: positiveInt.default(1000),
  timeoutMs: positiveInt.default(10_000),
  retry: section({ attempts: positiveInt.default(5), initialDelayMs: positiveInt.default(1000), maxDelayMs: positiveInt.default(60_000) }).default({
    attempts: 5,
    initialDelayMs: 1000,
    maxDelayMs: 60_000,
  }),
};

const SYSLOG_FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'] as const;

export const alertChannelSchema = z.discriminatedUnion(
  'type',
  [
    section({ type: z.literal('webhook'), ...alertChannelCommon, url: httpUrl, headers: z.record(z.string(), z.string({ error: 'must be a string' })).default({}) }),
    section({ type: z.literal('slack'), ...alertChannelCommon, url: httpUrl }),
    section({
      type: z.literal('email'),
      ...alertChannelCommon,
      host: text,
      port: port.default(587),
      /** starttls: plain connection upgraded, refused without it; tls: TLS from the start (465); none: never encrypted (loopback relays only). */
      security: oneOf(['starttls', 'tls', 'none']).default('starttls'),
      auth: section({ user: text, pass: text }).optional(),
      from: text,
      to: listOf(text, 'a list of addresses').min(1, { error: 'must name at least one recipient' }),
      subject: text.default('[portwarden] {severity}: {summary}'),
    }),
    section({
      type: z.literal('syslog'),
      ...alertChannelCommon,
      transport: oneOf(['udp', 'tcp', 'unix', 'unix-stream']).default('udp'),
      host: text.default('127.0.0.1'),
      port: port.default(514),
      /** unix and unix-stream: the socket (unix is a datagram socket, like /dev/log). */
      path: text.default('/dev/log'),
      facility: oneOf(SYSLOG_FACILITIES).default('auth'),
    }),
  ],
  {
    error: (issue) => {
      if (issue.code !== 'invalid_union') return undefined;
      const type = isRecord(issue.input) ? (issue.input as { type?: unknown }).type : issue.input;
      return `must be webhook, slack, email or syslog, got ${type === undefined ? 'nothing' : describe(type)}`;
    },
  },
);

export const alertsSchema = section({
  /** On stop, how long pending alerts get to go out before they are counted as dropped. */
  shutdownTimeoutMs: positiveInt,
  channels: listOf(alertChannelSchema, 'a list of channels').superRefine((channels, ctx) => {
    // Read defensively: this runs even when some channel is invalid (alsoWhenInvalid).
    const seen = new Set<string>();
    (channels as unknown[]).forEach((c, i) => {
      if (!isRecord(c)) return;
      const { name, type } = c as { name?: unknown; type?: unknown };
      const label = typeof name === 'string' ? name : `${String(type)}-${i + 1}`;
      if (seen.has(label)) ctx.addIssue({ code: 'custom', path: [i, 'name'], input: label, message: `channel name ${JSON.stringify(label)} is used twice` });
      seen.add(label);
    });
  }, alsoWhenInvalid(Array.isArray)),
});

export type AlertSettings = z.output<typeof alertsSchema>;

/** The config's `alerts` section. */
export const alertSettings: SettingsSection<AlertSettings> = {
  schema: alertsSchema,
  defaults: () => ({ shutdownTimeoutMs: 5000, channels: [] }),
};
