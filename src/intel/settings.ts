/**
 * The threat feeds' settings (the config's `feeds` section): a list of sources, each fetched, parsed,
 * merged and loaded into a kernel set of its own. The shape of one entry is fixed (users' files and
 * tests depend on it): name, url, format, refresh, action, headers; `weight`, `maxShrink`, `timeout`
 * and `maxBytes` are optional with defaults. The same for every profile (no feed by default).
 */
import { z } from 'zod';
import { alsoWhenInvalid, describe, listOf, numberRange, oneOf, REQUIRED, type SettingsSection } from '../model/settings-kit.js';

export const FEED_FORMATS = ['netset', 'plain', 'spamhaus-txt', 'spamhaus-json', 'abuseipdb', 'tor-exit', 'crowdsec'] as const;
export type FeedFormat = (typeof FEED_FORMATS)[number];

/**
 * The shortest refresh each kind of source accepts: what its publisher asks for or its free tier
 * allows (AbuseIPDB: 5 blacklist downloads a day; Spamhaus: at most hourly). A `file://` source has
 * no publisher to annoy and takes any refresh. A manual `feeds update` inside this interval is refused too.
 */
export const MIN_REFRESH_SECONDS: Readonly<Record<FeedFormat, number>> = Object.freeze({
  netset: 15 * 60,
  plain: 5 * 60,
  'spamhaus-txt': 3600,
  'spamhaus-json': 3600,
  abuseipdb: 6 * 3600,
  'tor-exit': 30 * 60,
  crowdsec: 10,
});

const DURATION = /^([1-9][0-9]*)(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Seconds of a duration like 90s, 10m, 12h, 1d; null when the text is not one. */
export function durationSeconds(text: string): number | null {
  const m = DURATION.exec(text);
  return m === null ? null : Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}

const duration = z
  .string({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a duration like 30s, 10m, 12h or 1d, got ${describe(issue.input)}`) })
  .refine((v) => durationSeconds(v) !== null, { error: (issue) => `must be a duration like 30s, 10m, 12h or 1d, got ${describe(issue.input)}` });

const feedName = z
  .string({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a name of a-z, 0-9 and -, got ${describe(issue.input)}`) })
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, { error: (issue) => `must be 1 to 40 characters of a-z, 0-9 and - (not starting with -), got ${describe(issue.input)}` });

const feedUrl = z
  .string({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be an http(s):// or file:// URL, got ${describe(issue.input)}`) })
  .refine((v) => /^(https?:\/\/[^\s]+|file:\/\/\/[^\s]*)$/.test(v), { error: (issue) => `must be an http(s):// or file:/// URL, got ${describe(issue.input)}` });

const headerValue = z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` });

export const feedSchema = z
  .strictObject(
    {
      name: feedName,
      url: feedUrl,
      format: oneOf(FEED_FORMATS),
      refresh: duration,
      action: oneOf(['drop', 'alert']),
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, { error: 'must be an HTTP header name' }), headerValue).optional(),
      weight: numberRange(0, 100).optional(),
      maxShrink: numberRange(0, 1).optional(),
      timeout: duration.optional(),
      maxBytes: z.number().int().min(1024).max(1 << 30).optional(),
    },
    { error: (issue) => (issue.code === 'invalid_type' ? `must be a mapping (name, url, format, refresh, action), got ${describe(issue.input)}` : undefined) },
  )
  .superRefine((feed, ctx) => {
    const seconds = durationSeconds(feed.refresh);
    const min = MIN_REFRESH_SECONDS[feed.format];
    if (seconds !== null && seconds < min && !feed.url.startsWith('file://')) {
      ctx.addIssue({ code: 'custom', path: ['refresh'], input: feed.refresh, message: `must be at least ${min}s for format ${feed.format} (the source's own limit), got ${feed.refresh}` });
    }
  });

export type FeedConfig = z.infer<typeof feedSchema>;
export type FeedsSettings = FeedConfig[];

export const feedsSchema = listOf(feedSchema, 'a list of feeds').superRefine(
  (feeds, ctx) => {
    // Read defensively: runs even when some feed has problems of its own, so every problem shows at once.
    const seen = new Set<string>();
    (feeds as unknown[]).forEach((f, i) => {
      const name = typeof f === 'object' && f !== null ? (f as { name?: unknown }).name : undefined;
      if (typeof name !== 'string') return;
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], input: name, message: `${JSON.stringify(name)} names another feed too (names must be unique)` });
      seen.add(name);
    });
  },
  alsoWhenInvalid((value) => Array.isArray(value)),
);

/** Defaults of the optional keys. */
export const FEED_DEFAULTS = Object.freeze({
  weight: 1,
  /** A new copy with fewer than (1 - maxShrink) of the last good copy's entries is refused. */
  maxShrink: 0.5,
  timeoutSeconds: 30,
  /** A body above this is refused (and the download stopped there). */
  maxBytes: 32 * 1024 * 1024,
});

/** One feed with every optional key filled in. */
export interface ResolvedFeed {
  name: string;
  url: string;
  format: FeedFormat;
  refreshSeconds: number;
  action: 'drop' | 'alert';
  headers: Readonly<Record<string, string>>;
  weight: number;
  maxShrink: number;
  timeoutSeconds: number;
  maxBytes: number;
  minRefreshSeconds: number;
}

export function resolveFeed(f: FeedConfig): ResolvedFeed {
  return {
    name: f.name,
    url: f.url,
    format: f.format,
    refreshSeconds: durationSeconds(f.refresh) ?? 3600,
    action: f.action,
    headers: { ...(f.headers ?? {}) },
    weight: f.weight ?? FEED_DEFAULTS.weight,
    maxShrink: f.maxShrink ?? FEED_DEFAULTS.maxShrink,
    timeoutSeconds: durationSeconds(f.timeout ?? '') ?? FEED_DEFAULTS.timeoutSeconds,
    maxBytes: f.maxBytes ?? FEED_DEFAULTS.maxBytes,
    minRefreshSeconds: f.url.startsWith('file://') ? 0 : MIN_REFRESH_SECONDS[f.format],
  };
}

/** The config's `feeds` section. */
export const feedsSettings: SettingsSection<FeedsSettings> = {
  schema: feedsSchema satisfies z.ZodType<FeedsSettings>,
  defaults: () => [],
};
