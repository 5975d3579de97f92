/**
 * Decide's settings (the config's `decide` and `allowlist` sections): their schema, and the values each
 * profile starts from. The decision policy (policy.ts) and escalation (escalation.ts) check what they
 * are handed against these same schemas, so the config parser refuses exactly what they would refuse.
 */
import { z } from 'zod';
import type { IncidentKind } from '../model/incident.js';
import type { ProfileName } from '../model/profile.js';
import { PortwardenError } from '../errors.js';
import { AddressSet } from '../net/address-set.js';
import type { FeedTrustSettings } from '../intel/feed-trust.js';
import { checkSettings, describe, intRange, listOf, nonNegativeInt, numberRange, onOff, port, positiveInt, REQUIRED, section, type SettingsSection } from '../model/settings-kit.js';

export interface PolicySettings {
  /**
   * Ban length per incident kind in seconds; 0 alerts only; null bans without expiry (discouraged:
   * the kernel expiring bans itself is what keeps a crashed daemon from banning forever). A decoy scan
   * is never banned, so its value must be 0; a flood's applies only to a flood from one named source.
   */
  banSeconds: Record<IncidentKind, number | null>;
  /** Prefix length an IPv6 source is banned as: 128 (the address) … 48. */
  ipv6Prefix: number;
  /** New bans allowed in any 60 s; past it, widen or alert. */
  maxNewBansPerMinute: number;
  /** Prefix an IPv4 source is widened to past the cap: 16 … 32 (32: never widen). */
  widenPrefix4: number;
  /** Prefix an IPv6 source is widened to past the cap: 48 … 128. */
  widenPrefix6: number;
  /** Widened prefix bans allowed in any 60 s, on top of maxNewBansPerMinute; 0 never widens. */
  maxWidenedBansPerMinute: number;
}

export interface EscalationSettings {
  /** Off: every ban is the profile's length, offences are still recorded. */
  enabled: boolean;
  /** Multiplier per earlier offence (≥ 1). */
  factor: number;
  /** No escalated ban is longer than this (jitter included). */
  maxBanSeconds: number;
  /** Jitter as a share of the ban, 0 … 0.5: the ban is scaled by a uniform factor in [1 − r, 1 + r]. */
  jitterRatio: number;
  /** From this offence on the ban has no expiry; 0 never. */
  permanentAfter: number;
  /** The reputation score halves in this time. */
  scoreHalfLifeSeconds: number;
}

const HOUR = 3_600;
const DAY = 86_400;
/** The longest ban a profile or file may set: longer is a typo, or a wish for `null`. */
const MAX_BAN_SECONDS = 10 * 365 * DAY;

function freezePolicy(s: PolicySettings): Readonly<PolicySettings> {
  Object.freeze(s.banSeconds);
  return Object.freeze(s);
}

/**
 * Per-profile defaults. normal bans scanners for an hour: longer than nearly any scan runs, short
 * enough that a dynamic or CGNAT address reassigned to an innocent user is free again soon. aggressive
 * (6 h) and paranoid (24 h) remember slow scans for 24 h (detect/settings.ts), and a ban shorter
 * than that horizon would let a slow scanner simply resume. Floods from one named source get less
 * (10 min, 30 min, 1 h): a single-source flood address is the one most likely forged, and the flood
 * detector sees a resumed flood within a second anyway.
 */
export const POLICY_PROFILES: Readonly<Record<ProfileName, Readonly<PolicySettings>>> = {
  normal: freezePolicy({
    banSeconds: { scan: HOUR, sweep: HOUR, 'distributed-scan': HOUR, 'decoy-scan': 0, flood: 600 },
    ipv6Prefix: 128,
    maxNewBansPerMinute: 60,
    widenPrefix4: 24,
    widenPrefix6: 64,
    maxWidenedBansPerMinute: 10,
  }),
  aggressive: freezePolicy({
    banSeconds: { scan: 6 * HOUR, sweep: 6 * HOUR, 'distributed-scan': 6 * HOUR, 'decoy-scan': 0, flood: 1_800 },
    ipv6Prefix: 128,
    maxNewBansPerMinute: 60,
    widenPrefix4: 24,
    widenPrefix6: 64,
    maxWidenedBansPerMinute: 10,
  }),
  paranoid: freezePolicy({
    banSeconds: { scan: 24 * HOUR, sweep: 24 * HOUR, 'distributed-scan': 24 * HOUR, 'decoy-scan': 0, flood: HOUR },
    ipv6Prefix: 128,
    maxNewBansPerMinute: 60,
    widenPrefix4: 24,
    widenPrefix6: 64,
    maxWidenedBansPerMinute: 10,
  }),
};

/**
 * Per-profile defaults. normal doubles up to a week and forgets over a week's half-life; aggressive
 * doubles up to 30 days and remembers a month; paranoid quadruples up to 90 days and bans for good at
 * the 6th offence. Never permanent by default in normal/aggressive: a permanent ban outlives the address's
 * owner, and the kernel expiring bans itself is what keeps a mistake from lasting forever.
 */
export const ESCALATION_PROFILES: Readonly<Record<ProfileName, Readonly<EscalationSettings>>> = {
  normal: Object.freeze({ enabled: true, factor: 2, maxBanSeconds: 7 * DAY, jitterRatio: 0.1, permanentAfter: 0, scoreHalfLifeSeconds: 7 * DAY }),
  aggressive: Object.freeze({ enabled: true, factor: 2, maxBanSeconds: 30 * DAY, jitterRatio: 0.1, permanentAfter: 0, scoreHalfLifeSeconds: 30 * DAY }),
  paranoid: Object.freeze({ enabled: true, factor: 4, maxBanSeconds: 90 * DAY, jitterRatio: 0.1, permanentAfter: 6, scoreHalfLifeSeconds: 90 * DAY }),
};

/** Prefix a repeat offender's IPv6 address is banned as (128: never widen); per profile the same. */
const IPV6_REPEAT_OFFENDER_PREFIX = 64;
const SSH_PORTS: readonly number[] = [22];

// ---- the schemas ----

const banLength = intRange(0, MAX_BAN_SECONDS, 'seconds (0 alerts only), or null for no expiry').nullable();

/** A decoy scan names one real scanner among spoofed bystanders: alert only, whatever the file says. */
const decoyBanLength = banLength.superRefine((value, ctx) => {
  if (value !== null && Number.isInteger(value) && value > 0) {
    ctx.addIssue({ code: 'custom', input: value, message: `must be 0: a decoy scan names spoofed bystanders with the real scanner, and none of them is banned (got ${value})` });
  }
  if (value === null) ctx.addIssue({ code: 'custom', input: value, message: 'must be 0: a decoy scan names spoofed bystanders with the real scanner, and none of them is banned (got null)' });
});

const ipv6BanPrefix = intRange(48, 128);

const policyShape = {
  banSeconds: section({ scan: banLength, sweep: banLength, 'distributed-scan': banLength, 'decoy-scan': decoyBanLength, flood: banLength }),
  ipv6Prefix: ipv6BanPrefix,
  maxNewBansPerMinute: intRange(1, 1_000_000),
  widenPrefix4: intRange(16, 32),
  widenPrefix6: intRange(48, 128),
  maxWidenedBansPerMinute: intRange(0, 1_000_000),
};

/** What the decision policy (policy.ts) takes. */
export const policySchema = section(policyShape) satisfies z.ZodType<PolicySettings>;

/** Longer bans for repeat offenders (escalation.ts). */
export const escalationSchema = section({
  enabled: onOff,
  factor: numberRange(1, 100),
  maxBanSeconds: positiveInt,
  jitterRatio: numberRange(0, 0.5),
  permanentAfter: nonNegativeInt,
  scoreHalfLifeSeconds: positiveInt,
}) satisfies z.ZodType<EscalationSettings>;

export const decideSchema = section({
  ...policyShape,
  /** Prefix a repeat offender's IPv6 address is banned as (128: never widen). */
  ipv6RepeatOffenderPrefix: ipv6BanPrefix,
  escalation: escalationSchema,
  /** Peers of established sessions to these ports are never banned (lockout-guard.ts). */
  sshPorts: listOf(port, 'a list of ports'),
  /**
   * Feed trust (intel/feed-trust.ts): a source the threat feeds list with at least `minWeight` (the
   * sum of the listing feeds' `weight`) is reported as a scan after `probes` probes and banned like
   * one, its incident naming the feeds; e.g. `{ minWeight: 1, probes: 1 }` bans it at its first probe.
   * null (default): feeds only add to reputation, detection decides as for anyone.
   */
  feedTrust: section({ minWeight: numberRange(0, 1_000_000), probes: intRange(1, 1_000) }).nullable() satisfies z.ZodType<FeedTrustSettings | null, unknown>,
});

export type DecideSettings = z.output<typeof decideSchema>;

/** A host name as RFC 1123 allows it (letters, digits, hyphens, dots; not all digits). */
const HOST_NAME = /^(?=.{1,253}\.?$)(?!\d+(\.\d+)*\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Whether an allowlist entry is a host name (resolved at start, allowlist.ts) rather than an address or network. */
export function isAllowlistHostName(value: string): boolean {
  return !value.includes(':') && !value.includes('/') && HOST_NAME.test(value) && /[a-z]/i.test(value);
}

/** An address, network or host name; the address or network parsed as the allowlist set parses it (allowlist.ts). */
const allowlistValue = z.string({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be an address, network or host name, got ${describe(issue.input)}`) }).superRefine((value, ctx) => {
  if (isAllowlistHostName(value)) return;
  try {
    new AddressSet().add(value, 'check');
  } catch (err) {
    ctx.addIssue({ code: 'custom', input: value, message: `must be an address, network or host name: ${err instanceof Error ? err.message : String(err)}` });
  }
});

/** Never banned: addresses, networks, host names (resolved at start). */
export const allowlistSchema = z.array(
  z.union([allowlistValue, z.strictObject({ value: allowlistValue, reason: z.string().optional() })], {
    error: (issue) => `must be an address, network or host name, or { value, reason }, got ${describe(issue.input)}`,
  }),
  { error: (issue) => (issue.input === undefined ? REQUIRED : `must be a list, got ${describe(issue.input)}`) },
);

export type AllowlistSettings = z.output<typeof allowlistSchema>;

/** The config's `decide` section. */
export const decideSettings: SettingsSection<DecideSettings> = {
  schema: decideSchema,
  defaults: (profile) => ({
    ...structuredClone(POLICY_PROFILES[profile]),
    ipv6RepeatOffenderPrefix: IPV6_REPEAT_OFFENDER_PREFIX,
    escalation: { ...ESCALATION_PROFILES[profile] },
    sshPorts: [...SSH_PORTS],
    feedTrust: null,
  }),
};

/** The config's `allowlist` section. */
export const allowlistSettings: SettingsSection<AllowlistSettings> = {
  schema: allowlistSchema,
  defaults: () => [],
};

/**
 * `value` checked against `schema` (the config's own rules), frozen; a stage handed settings outside
 * the config loader (tests, analyze) refuses what the config parser would.
 * @throws PortwardenError PW_ERR_DECIDE_INPUT naming the field (`decide.…`).
 */
export function checkDecideInput<S>(schema: z.ZodType<S, unknown>, value: unknown, prefix: string): S {
  const r = checkSettings(schema, value, prefix);
  if (!r.ok) throw new PortwardenError('PW_ERR_DECIDE_INPUT', r.message);
  return r.value;
}
