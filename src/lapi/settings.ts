/**
 * The CrowdSec-compatible decision stream's settings (the config's `lapi` section), off by default:
 *
 *   lapi:
 *     listen: 127.0.0.1:8081                                      # null: no server (the default)
 *     keys:
 *       - { name: fw-bouncer, key: "at least 16 characters" }
 *       - { name: web-bouncer, keyFile: /etc/portwarden/web-bouncer.key }   # first line of the file, read at start
 *       - { name: nft-bouncer, key: "…", maxDurationSeconds: null }   # no cap on what it is told (default: 2147483)
 *       - { name: nft-bouncer-2, key: "…", ranges: addresses }        # small IPv4 networks as one Ip decision per address
 *
 * Each bouncer has its own key (its `api_key`) and name (metrics, status and the per-key cursor go by
 * name). The same for every profile.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { alsoWhenInvalid, describe, intRange, isRecord, listOf, oneOf, section, text, type CrossFieldParams, type SettingsSection } from '../model/settings-kit.js';

/** The kernel's ipset refuses timeouts above this (IPSET_MAX_TIMEOUT: 2^31 - 1 ms, in seconds). */
export const IPSET_MAX_TIMEOUT_SECONDS = 2_147_483;

/** `host:port` with an IP literal (IPv6 in brackets) into its parts; null for anything else. */
export function splitHostPort(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (m === null) return null;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  // IPv6 only in brackets, IPv4 only without: `[10.0.0.1]:80` and `::1:80` are refused.
  if (port > 65535 || isIP(host) !== (m[1] !== undefined ? 6 : 4)) return null;
  return { host, port };
}

const listen = z.union(
  [
    z.literal(null),
    z.string().refine((value) => splitHostPort(value) !== null, {
      error: (issue) => `must be host:port with an IP address (127.0.0.1:8081, [::1]:8081), or null for no server, got ${describe(issue.input)}`,
    }),
  ],
  { error: (issue) => `must be host:port or null, got ${describe(issue.input)}` },
);

const bouncerKey = section({
  /** The bouncer's name in status, metrics and logs. */
  name: text.regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, dots, dashes or underscores' }),
  /** The key itself (the bouncer's api_key); or keyFile. */
  key: z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }).min(16, { error: 'must be at least 16 characters' }).optional(),
  /** A file whose first line is the key (read at start; keep it 0600). */
  keyFile: text.optional(),
  /**
   * The longest duration this bouncer is told; a longer ban is served again before it runs out there.
   * Default: ipset's largest timeout (crowdsec-firewall-bouncer's iptables mode refuses longer ones);
   * null: no cap (a ban without expiry is then served as 87600h).
   */
  maxDurationSeconds: z.union([z.literal(null), intRange(60, 315_360_000, 'seconds')], { error: (issue) => `must be a whole number of seconds from 60 to 315360000, or null for no cap, got ${describe(issue.input)}` }).default(IPSET_MAX_TIMEOUT_SECONDS),
  /**
   * How a network ban is sent: `range`, one Range decision (as the LAPI); `addresses`, an IPv4 network of up
   * to 4096 addresses as one Ip decision per address, for crowdsec-firewall-bouncer in nftables mode,
   * which keeps only a Range's first address.
   */
  ranges: oneOf(['range', 'addresses']).default('range'),
}).superRefine((k, ctx) => {
  const { key, keyFile } = k as { key?: unknown; keyFile?: unknown };
  if ((key === undefined) === (keyFile === undefined)) {
    ctx.addIssue({ code: 'custom', path: key === undefined ? [] : ['keyFile'], input: k, params: { alsoAt: ['key'] } satisfies CrossFieldParams, message: 'needs exactly one of key or keyFile' });
  }
}, alsoWhenInvalid(isRecord));

export const lapiSchema = section({
  listen,
  keys: listOf(bouncerKey, 'a list of { name, key } or { name, keyFile }').superRefine((keys, ctx) => {
    // Read defensively: runs even when some entry is invalid (alsoWhenInvalid).
    const names = new Set<string>();
    const secrets = new Set<string>();
    (keys as unknown[]).forEach((k, i) => {
      if (!isRecord(k)) return;
      const { name, key } = k as { name?: unknown; key?: unknown };
      if (typeof name === 'string') {
        if (names.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], input: name, message: `bouncer name ${JSON.stringify(name)} is used twice` });
        names.add(name);
      }
      if (typeof key === 'string') {
        // Two bouncers with one key would share one cursor: each would miss what the other pulled.
        if (secrets.has(key)) ctx.addIssue({ code: 'custom', path: [i, 'key'], input: '(hidden)', message: 'the same key is given to two bouncers; each bouncer needs its own' });
        secrets.add(key);
      }
    });
  }, alsoWhenInvalid(Array.isArray)),
}).superRefine((s, ctx) => {
  const { listen: l, keys } = s as { listen?: unknown; keys?: unknown };
  if (typeof l === 'string' && Array.isArray(keys) && keys.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['keys'], input: keys, params: { alsoAt: ['listen'] } satisfies CrossFieldParams, message: 'a listen address but no bouncer key (lapi.keys is empty): every request would be refused' });
  }
}, alsoWhenInvalid(isRecord));

export type LapiSettings = z.output<typeof lapiSchema>;
export type BouncerKeySettings = LapiSettings['keys'][number];

/** The config's `lapi` section. */
export const lapiSettings: SettingsSection<LapiSettings> = {
  schema: lapiSchema,
  defaults: () => ({ listen: null, keys: [] }),
};
