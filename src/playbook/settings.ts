/**
 * Playbooks (the config's `playbooks` section): per incident kind, or under any name a rule's
 * `playbook: NAME` action calls, a list of steps run in order after the incident is decided:
 *
 *   playbooks:
 *     scan:
 *       - { ban: { duration: 6h } }
 *       - { alert: { channels: [ops] } }
 *       - { command: { argv: [/usr/local/bin/ticket, --open], timeout: 10s } }
 *     flood:
 *       - { flood-guard: { port: 443, for: 10m } }
 *       - { raise-profile: { to: paranoid, for: 1h } }
 *
 * Steps: ban, respond, alert, raise-profile (decide's ban lengths of a stricter profile for a while),
 * flood-guard (on for a while), command (argv, the incident as JSON on stdin, a timeout). A failing step
 * is reported and the next one still runs. The same for every profile.
 */
import { z } from 'zod';
import { parseDuration } from '../model/duration.js';
import { PROFILE_NAMES, type ProfileName } from '../model/profile.js';
import { describe, listOf, oneOf, port, section, text, type SettingsSection } from '../model/settings-kit.js';

export type PlaybookStep =
  | { type: 'ban'; durationSeconds: number | null }
  | { type: 'respond' }
  | { type: 'alert'; channels: string[] }
  | { type: 'raise-profile'; to: ProfileName; seconds: number }
  | { type: 'flood-guard'; port: number | undefined; seconds: number }
  | { type: 'command'; argv: string[]; timeoutMs: number };

/** Playbook name (an incident kind runs for every incident of that kind) → its steps. */
export type PlaybookSettings = Record<string, PlaybookStep[]>;

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

const duration = z.union([z.string(), z.number()], { error: (issue) => (issue.input === undefined ? 'is required' : `must be a duration such as 90s, 10m or 1h, got ${describe(issue.input)}`) }).transform((v, ctx) => {
  const s = parseDuration(v);
  if (s === null || s <= 0) {
    ctx.addIssue({ code: 'custom', input: v, message: `must be a duration such as 90s, 10m or 1h, got ${describe(v)}` });
    return z.NEVER;
  }
  return s;
});

const STEP_SCHEMAS = {
  ban: section({ duration: duration.optional() }).transform((b): PlaybookStep => ({ type: 'ban', durationSeconds: b.duration ?? null })),
  respond: section({}).transform((): PlaybookStep => ({ type: 'respond' })),
  alert: section({ channels: listOf(text, 'a list of channel names').default([]) }).transform((a): PlaybookStep => ({ type: 'alert', channels: a.channels })),
  'raise-profile': section({ to: oneOf(PROFILE_NAMES), for: duration }).transform((r): PlaybookStep => ({ type: 'raise-profile', to: r.to, seconds: r.for })),
  'flood-guard': section({ port: port.optional(), for: duration }).transform((f): PlaybookStep => ({ type: 'flood-guard', port: f.port, seconds: f.for })),
  command: section({ argv: listOf(text, 'a list: the program, then its arguments').min(1, { error: 'must name the program' }), timeout: duration.optional() }).transform(
    (c): PlaybookStep => ({ type: 'command', argv: c.argv, timeoutMs: c.timeout !== undefined ? Math.round(c.timeout * 1000) : DEFAULT_COMMAND_TIMEOUT_MS }),
  ),
} as const;

const STEP_NAMES = Object.keys(STEP_SCHEMAS);

/** One step: `respond`, or a one-key mapping (`{ ban: { duration: 1h } }`). */
const stepSchema = z.unknown().transform((input, ctx): PlaybookStep => {
  const fail = (message: string, path: PropertyKey[] = []): never => {
    ctx.addIssue({ code: 'custom', input, path, message });
    return z.NEVER;
  };
  const [name, body] = typeof input === 'string' ? [input, {}] : typeof input === 'object' && input !== null && !Array.isArray(input) && Object.keys(input).length === 1 ? Object.entries(input)[0] : [null, null];
  if (name === null) return fail(`must be a step (${STEP_NAMES.join(', ')}) as a word or a one-key mapping, got ${describe(input)}`);
  if (!Object.hasOwn(STEP_SCHEMAS, name)) return fail(`unknown step ${JSON.stringify(name)} (${STEP_NAMES.join(', ')})`, typeof input === 'string' ? [] : [name]);
  const r = STEP_SCHEMAS[name as keyof typeof STEP_SCHEMAS].safeParse(body ?? {});
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', input: body, path: [name, ...issue.path], message: issue.message });
  return z.NEVER;
});

export const playbooksSchema = z.record(text.regex(/^[A-Za-z0-9_.:-]+$/, { error: 'must be letters, digits, and _ . : - only' }), listOf(stepSchema, 'a list of steps'), {
  error: (issue) => (issue.code === 'invalid_type' ? `must be a mapping of playbook names (incident kinds, or names rules call) to lists of steps, got ${describe(issue.input)}` : undefined),
}) satisfies z.ZodType<PlaybookSettings, unknown>;

/** The config's `playbooks` section. */
export const playbookSettings: SettingsSection<PlaybookSettings> = {
  schema: playbooksSchema,
  defaults: () => ({}),
};
