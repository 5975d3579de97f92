/**
 * The building blocks every stage's settings schema is made of (detect/settings.ts, decide/settings.ts,
 * …): strict sections, whole numbers, probabilities, ports, and one wording of each message. A stage
 * owns its schema, defaults and per-profile values in its own settings.ts; config/ only assembles them.
 * Messages are written for an operator reading `file:line:col: field:` (config/load.ts adds the place).
 */
import { z } from 'zod';
import type { ProfileName } from './profile.js';

/** One stage's settings: the schema that checks them and the values each profile starts from. */
export interface SettingsSection<S> {
  readonly schema: z.ZodType<S, unknown>;
  /** A fresh copy, never shared with the profile tables (the loader lays the file over it). */
  defaults(profile: ProfileName): S;
}

/**
 * A cross-field rule reports on one key but names the sibling keys it compared in `params.alsoAt`:
 * the loader points at whichever of them the file actually set (the operator's override), since the
 * other side may be a default the file never mentions.
 */
export interface CrossFieldParams {
  alsoAt: readonly string[];
  /** alsoAt names dotted paths from the document's root (a rule between sections), not sibling keys. */
  fromRoot?: boolean;
}

export function isCrossFieldParams(params: unknown): params is CrossFieldParams {
  return typeof params === 'object' && params !== null && Array.isArray((params as { alsoAt?: unknown }).alsoAt);
}

export function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return `the string ${JSON.stringify(input)}`;
  return String(input);
}

export const REQUIRED = 'is required';

export function isRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * zod skips a refinement once the value has a type problem anywhere inside it; rules given this read
 * their inputs defensively, so they run anyway and every problem is reported in one pass.
 */
export function alsoWhenInvalid(shapeOk: (value: unknown) => boolean): z.core.$ZodSuperRefineParams {
  return { when: (payload) => shapeOk(payload.value) };
}

/** A strict mapping: an unknown key is an error, never silently ignored. */
export function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.strictObject(shape, {
    // Only the wrong-type case; unknown keys get their message in config/load.ts, which knows where they are.
    error: (issue) => {
      if (issue.code !== 'invalid_type') return undefined;
      return issue.input === undefined ? REQUIRED : `must be a mapping, got ${describe(issue.input)}`;
    },
  });
}

/**
 * A whole number from `min` to `max`. Not `z.int()`: its failure aborts every rule above it (window
 * order, θ1 < θ0), and all problems are reported at once.
 */
export function intRange(min: number, max: number = Number.MAX_SAFE_INTEGER, unit = '') {
  const unbounded = max === Number.MAX_SAFE_INTEGER;
  const suffix = unit === '' ? '' : ` ${unit}`;
  const range = unbounded ? (min === 1 ? '' : `, ${min} or more`) : ` from ${min} to ${max}${suffix}`;
  return z
    .number({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a whole number${range}, got ${describe(issue.input)}`) })
    .superRefine((value, ctx) => {
      let message: string | undefined;
      if (!Number.isInteger(value)) message = `must be a whole number${range}, got ${value}`;
      else if (value < min) message = unbounded ? (min === 1 ? `must be greater than 0, got ${value}` : `must be a whole number${range}, got ${value}`) : `must be a whole number${range}, got ${value}`;
      else if (value > max) message = unbounded ? `must be at most ${max}, got ${value}` : `must be a whole number${range}, got ${value}`;
      if (message !== undefined) ctx.addIssue({ code: 'custom', input: value, message });
    });
}

/** Counts, sizes and durations: whole numbers above zero (milliseconds for `*Ms`). */
export const positiveInt = intRange(1);

/** Whole numbers, 0 allowed (a batching window of 0 sends each alert on its own). */
export const nonNegativeInt = intRange(0);

/** A TCP or UDP port. */
export const port = intRange(1, 65535);

/** Strictly inside (0, 1): 0 or 1 would make the TRW's likelihood ratios infinite or zero. */
export const probability = z
  .number({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a number, got ${describe(issue.input)}`) })
  .gt(0, { error: (issue) => `must be strictly between 0 and 1, got ${describe(issue.input)}` })
  .lt(1, { error: (issue) => `must be strictly between 0 and 1, got ${describe(issue.input)}` });

/** A number from `min` to `max`, both included (a share: 0 … 1). */
export function numberRange(min: number, max: number) {
  return z
    .number({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a number, got ${describe(issue.input)}`) })
    .min(min, { error: (issue) => `must be between ${min} and ${max}, got ${describe(issue.input)}` })
    .max(max, { error: (issue) => `must be between ${min} and ${max}, got ${describe(issue.input)}` });
}

/** A share of something: 0 and 1 included. */
export const ratio = numberRange(0, 1);

export const onOff = z.boolean({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be true or false, got ${describe(issue.input)}`) });

export const stringList = z.array(z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }), {
  error: (issue) => (issue.input === undefined ? REQUIRED : `must be a list, got ${describe(issue.input)}`),
});

/** A non-empty string. */
export const text = z.string({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a string, got ${describe(issue.input)}`) }).min(1, { error: 'must not be empty' });

/** One of `values`, named in the message. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  const names = values.length === 2 ? `${values[0]} or ${values[1]}` : values.length <= 3 ? `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}` : `one of ${values.join(', ')}`;
  return z.enum(values, { error: (issue) => (issue.input === undefined ? REQUIRED : `must be ${names}, got ${describe(issue.input)}`) });
}

/** A list of `element`, with the list-level message. */
export function listOf<T extends z.ZodType>(element: T, what = 'a list') {
  return z.array(element, { error: (issue) => (issue.input === undefined ? REQUIRED : `must be ${what}, got ${describe(issue.input)}`) });
}

/**
 * Checks `value` against `schema` for a stage that is handed settings without the config loader (tests,
 * the CLI's analyze): the same rules the config parser applies, so both refuse the same values.
 * @returns the parsed value, or the first problem as `field: message` (field prefixed with `prefix`).
 */
export function checkSettings<S>(schema: z.ZodType<S, unknown>, value: unknown, prefix: string): { ok: true; value: S } | { ok: false; message: string } {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  let field = prefix;
  for (const segment of issue?.path ?? []) field += typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`;
  return { ok: false, message: `${field}: ${issue?.message ?? 'invalid'}` };
}
