/**
 * The fleet's settings (the config's `fleet` section): where NATS is, who this host is, how it signs,
 * whom it trusts, and what it shares and applies. No servers: no fleet (the default). The same for
 * every profile. The shape of servers … maxFleetBansPerMinute is fixed by issue 14 (users depend on it).
 */
import { z } from 'zod';
import { describe, listOf, oneOf, positiveInt, section, type SettingsSection } from '../model/settings-kit.js';

/** What a host may share and apply. */
export const FLEET_KINDS = ['bans', 'incidents', 'sightings'] as const;
export type FleetKind = (typeof FLEET_KINDS)[number];

const optionalText = z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }).min(1, { error: 'must not be empty' }).optional();

const natsUrl = z.string({ error: (issue) => `must be a NATS URL (nats://host:port), got ${describe(issue.input)}` }).refine((v) => /^(nats|tls):\/\/[^\s/]+$/.test(v), {
  error: (issue) => `must be a NATS URL (nats://host:port), got ${describe(issue.input)}`,
});

/** A raw 32-byte ed25519 public key, base64 (what `portwarden fleet keygen` prints). */
export function isPublicKeyText(v: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, 'base64').length === 32;
}

const publicKey = z.string({ error: (issue) => `must be a base64 ed25519 public key (from portwarden fleet keygen), got ${describe(issue.input)}` }).refine(isPublicKeyText, {
  error: (issue) => `must be a base64 ed25519 public key of 32 bytes (from portwarden fleet keygen), got ${describe(issue.input)}`,
});

/** A fleet subject or bucket name: NATS tokens, no wildcards. */
const subject = z.string({ error: (issue) => `must be a NATS subject, got ${describe(issue.input)}` }).refine((v) => v === '' || /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(v), {
  error: (issue) => `must be a NATS subject (tokens of letters, digits, _ and - joined by dots), got ${describe(issue.input)}`,
});

const authSchema = section({ user: optionalText, password: optionalText, nkeySeedFile: optionalText, credsFile: optionalText }).superRefine((a, ctx) => {
  const kinds = [a.user !== undefined || a.password !== undefined, a.nkeySeedFile !== undefined, a.credsFile !== undefined].filter(Boolean).length;
  if (kinds > 1) ctx.addIssue({ code: 'custom', input: a, message: 'takes one of user/password, nkeySeedFile or credsFile' });
  if ((a.user === undefined) !== (a.password === undefined)) ctx.addIssue({ code: 'custom', input: a, message: 'user and password go together' });
});

export const fleetSchema = section({
  servers: listOf(natsUrl),
  host: z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }).refine((v) => v === '' || /^[A-Za-z0-9_-]+$/.test(v), {
    error: (issue) => `must be a host name of letters, digits, _ and - (it is a NATS subject token), got ${describe(issue.input)}`,
  }),
  auth: authSchema,
  tls: section({ ca: optionalText, cert: optionalText, key: optionalText }),
  keyFile: z.string({ error: (issue) => `must be a file path, got ${describe(issue.input)}` }),
  trustedKeys: z.record(z.string(), publicKey, { error: (issue) => `must be a mapping of host name to public key, got ${describe(issue.input)}` }),
  share: listOf(oneOf(FLEET_KINDS)),
  apply: listOf(oneOf(FLEET_KINDS)),
  maxFleetBansPerMinute: positiveInt,
  /** The KV bucket of the fleet's bans; its TTL is the longest ban it carries (server 2.9 has no per-key TTL). */
  bucket: subject,
  bucketTtlSeconds: positiveInt,
  /** Where incidents and decisions go as ECS JSON for a SIEM ('' : not published). */
  siemSubject: subject,
  /** Changes waiting for NATS while it is away (a partition); beyond, the oldest are dropped and counted. */
  maxOutbox: positiveInt,
});

export type FleetSettings = z.output<typeof fleetSchema>;

export const FLEET_DEFAULTS: Readonly<FleetSettings> = Object.freeze({
  servers: [],
  host: '',
  auth: {},
  tls: {},
  keyFile: '',
  trustedKeys: {},
  share: ['bans', 'incidents', 'sightings'] as FleetKind[],
  apply: ['bans'] as FleetKind[],
  maxFleetBansPerMinute: 600,
  bucket: 'portwarden-bans',
  bucketTtlSeconds: 30 * 86_400,
  siemSubject: '',
  maxOutbox: 100_000,
});

/** The config's `fleet` section. */
export const fleetSettings: SettingsSection<FleetSettings> = {
  schema: fleetSchema,
  defaults: () => ({ ...FLEET_DEFAULTS, servers: [], auth: {}, tls: {}, trustedKeys: {}, share: [...FLEET_DEFAULTS.share], apply: [...FLEET_DEFAULTS.apply] }),
};
