/**
 * The rule engine's settings (the config's `rules` section): rules written inline, a directory of rule
 * files (`rules.d/*.yaml`, each a list of rules of the same shape), and the caps on expressions and
 * buckets. The same for every profile. One rule, in the style of a CrowdSec scenario:
 *
 *   - name: ssh-sweepers
 *     on: probe                      # incident (default) or probe
 *     filter: 'port == 22 && class == "syn"'
 *     groupby: source                # a leaky bucket per source …
 *     distinct: destination          # … counting distinct targets only
 *     capacity: 5                    # overflows at the 6th
 *     leakspeed: 10s                 # one drains every 10 s
 *     blackhole: 5m                  # then quiet for this group (default: capacity × leakspeed)
 *     action: { ban: { duration: 2h } }
 *
 * The filter is compiled here too, so `config check` refuses a bad expression at its file position.
 */
import { z } from 'zod';
import { parseDuration } from '../model/duration.js';
import type { RuleAction } from '../model/rule.js';
import { alsoWhenInvalid, describe, isRecord, listOf, nonNegativeInt, oneOf, positiveInt, section, text, type SettingsSection } from '../model/settings-kit.js';
import { compileFilter, FilterError, type FilterLimits } from './cel.js';
import { RULE_FIELDS, type RuleFieldName, type RuleSubject } from './fields.js';

export interface RuleLimits extends FilterLimits {
  /** Leaky buckets alive at once per rule; past it the oldest is dropped (`rules.buckets_dropped`). */
  maxBuckets: number;
}

/** One rule, as a file states it (durations in seconds). */
export interface RuleSpec {
  name: string;
  on: RuleSubject;
  filter: string;
  /** Fields whose values key the bucket (empty: one bucket for the rule). */
  groupby: RuleFieldName[];
  /** Only events with a value of this field new to the bucket fill it. */
  distinct: RuleFieldName | null;
  /** Events the bucket holds; one more overflows it (0: every match overflows). null: no bucket. */
  capacity: number | null;
  /** Seconds for one event to leak out. */
  leakSeconds: number;
  /** Seconds a group stays silent after its bucket overflowed (default: capacity × leakspeed, the drain time). */
  blackholeSeconds: number;
  action: RuleAction;
}

export interface RulesSettings {
  /** A directory of `*.yaml` rule files, read in name order after the inline rules; null: none. */
  directory: string | null;
  inline: RuleSpec[];
  limits: RuleLimits;
}

export const DEFAULT_RULE_LIMITS: RuleLimits = { maxExpressionLength: 4_000, maxNodes: 1_000, maxDepth: 32, maxBuckets: 100_000 };

const FIELD_NAMES = Object.keys(RULE_FIELDS) as [RuleFieldName, ...RuleFieldName[]];
const fieldName = oneOf(FIELD_NAMES);

const duration = z
  .union([z.string(), z.number()], { error: (issue) => (issue.input === undefined ? 'is required' : `must be a duration such as 90s, 10m, 2h or 1d, got ${describe(issue.input)}`) })
  .transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === null) {
      ctx.addIssue({ code: 'custom', input: value, message: `must be a duration such as 90s, 10m, 2h or 1d, got ${describe(value)}` });
      return z.NEVER;
    }
    return seconds;
  });

const banAction = section({ duration: duration.optional(), escalate: z.boolean({ error: 'must be true or false' }).default(false) });

function actionOf(word: 'ban' | 'alert' | 'respond' | 'ignore'): RuleAction {
  switch (word) {
    case 'ban':
      return { type: 'ban', durationSeconds: null, escalate: false };
    case 'alert':
      return { type: 'alert', channels: [] };
    default:
      return { type: word };
  }
}

const actionWord = oneOf(['ban', 'alert', 'respond', 'ignore']).transform(actionOf);

const ACTION_HELP = 'must be ignore, respond, alert, ban or a mapping such as { ban: { duration: 2h } }';

/** One schema for both forms (a word, a one-key mapping), so a problem inside the mapping is reported where it is. */
const actionSchema = z
  .unknown()
  .transform((input, ctx): RuleAction => {
    if (typeof input === 'string') {
      const word = actionWord.safeParse(input);
      if (word.success) return word.data;
      ctx.addIssue({ code: 'custom', input, message: `${ACTION_HELP}, got ${describe(input)}` });
      return z.NEVER;
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      ctx.addIssue({ code: 'custom', input, message: input === undefined ? 'is required' : `${ACTION_HELP}, got ${describe(input)}` });
      return z.NEVER;
    }
    const value = input as Record<string, unknown>;
    const keys = Object.keys(value);
    const fail = (message: string, path: PropertyKey[] = []): never => {
      ctx.addIssue({ code: 'custom', input: value, path, message });
      return z.NEVER;
    };
    if (keys.length !== 1) return fail(`must have exactly one action (ban, alert, respond, ignore, rate-limit, playbook), got ${keys.length === 0 ? 'none' : keys.join(', ')}`);
    const type = keys[0];
    const body = value[type];
    const parse = <T>(schema: z.ZodType<T, unknown>): T | null => {
      const r = schema.safeParse(body ?? {});
      if (r.success) return r.data;
      for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', input: body, path: [type, ...issue.path], message: issue.message });
      return null;
    };
    switch (type) {
      case 'ban': {
        const b = parse(banAction);
        return b === null ? z.NEVER : { type: 'ban', durationSeconds: b.duration ?? null, escalate: b.escalate };
      }
      case 'alert': {
        const a = parse(section({ channels: listOf(text, 'a list of channel names').default([]) }));
        return a === null ? z.NEVER : { type: 'alert', channels: a.channels };
      }
      case 'rate-limit': {
        const r = parse(section({ perSecond: positiveInt, duration }));
        return r === null ? z.NEVER : { type: 'rate-limit', perSecond: r.perSecond, durationSeconds: r.duration };
      }
      case 'playbook': {
        const n = parse(text);
        return n === null ? z.NEVER : { type: 'playbook', name: n };
      }
      case 'respond':
      case 'ignore':
        return body === null || body === undefined || (typeof body === 'object' && Object.keys(body).length === 0) ? { type } : fail(`${type} takes no settings`, [type]);
      default:
        return fail(`unknown action ${JSON.stringify(type)} (ban, alert, respond, ignore, rate-limit, playbook)`, [type]);
    }
  });


/** One rule's shape, without its filter compiled (rule-file.ts and the inline list share it). */
export const ruleSchema = section({
  name: text.regex(/^[A-Za-z0-9_.:-]+$/, { error: 'must be letters, digits, and _ . : - only' }),
  on: oneOf(['incident', 'probe']).default('incident'),
  filter: text,
  groupby: z.union([fieldName, listOf(fieldName, 'a field or a list of fields')]).optional(),
  distinct: fieldName.optional(),
  capacity: nonNegativeInt.optional(),
  leakspeed: duration.optional(),
  blackhole: duration.optional(),
  action: actionSchema,
})
  .superRefine((r, ctx) => {
    // Runs even when another key is invalid (every problem at once), so it reads r defensively.
    const bucketed = r.groupby !== undefined || r.distinct !== undefined || r.capacity !== undefined || r.leakspeed !== undefined || r.blackhole !== undefined;
    if (bucketed && r.capacity === undefined) ctx.addIssue({ code: 'custom', path: ['capacity'], input: undefined, message: 'a leaky bucket (groupby, distinct, leakspeed) needs a capacity' });
    if (bucketed && r.leakspeed === undefined) ctx.addIssue({ code: 'custom', path: ['leakspeed'], input: undefined, message: 'a leaky bucket (groupby, distinct, capacity) needs a leakspeed' });
    const groupby: unknown[] = r.groupby === undefined ? [] : Array.isArray(r.groupby) ? r.groupby : [r.groupby];
    for (const field of [...groupby, ...(r.distinct !== undefined ? [r.distinct] : [])] as RuleFieldName[]) {
      if (typeof field === 'string' && Object.hasOwn(RULE_FIELDS, field) && !(RULE_FIELDS[field].on as readonly RuleSubject[]).includes(r.on)) ctx.addIssue({ code: 'custom', path: [r.distinct === field ? 'distinct' : 'groupby'], input: field, message: `${field} is not a field of ${r.on} rules` });
    }
  }, alsoWhenInvalid(isRecord))
  .transform(
    (r): RuleSpec => ({
      name: r.name,
      on: r.on,
      filter: r.filter,
      groupby: r.groupby === undefined ? [] : typeof r.groupby === 'string' ? [r.groupby] : r.groupby,
      distinct: r.distinct ?? null,
      capacity: r.capacity ?? null,
      leakSeconds: r.leakspeed ?? 0,
      blackholeSeconds: r.blackhole ?? (r.capacity ?? 0) * (r.leakspeed ?? 0),
      action: r.action,
    }),
  );

/** The filter's problem as `column N: reason`, or null when it compiles. */
export function filterProblem(spec: Pick<RuleSpec, 'filter' | 'on'>, limits: FilterLimits): { column: number; message: string } | null {
  try {
    compileFilter(spec.filter, spec.on, limits);
    return null;
  } catch (err) {
    if (err instanceof FilterError) return { column: err.column, message: `expression column ${err.column}: ${err.message}` };
    throw err;
  }
}

const limitsSchema = section({
  maxExpressionLength: positiveInt.default(DEFAULT_RULE_LIMITS.maxExpressionLength),
  maxNodes: positiveInt.default(DEFAULT_RULE_LIMITS.maxNodes),
  maxDepth: positiveInt.default(DEFAULT_RULE_LIMITS.maxDepth),
  maxBuckets: positiveInt.default(DEFAULT_RULE_LIMITS.maxBuckets),
});

export const rulesSchema = section({
  directory: text.nullable().default(null),
  inline: listOf(ruleSchema, 'a list of rules').default([]),
  limits: limitsSchema.default(DEFAULT_RULE_LIMITS),
}).superRefine((s, ctx) => {
  const seen = new Set<string>();
  s.inline.forEach((rule, i) => {
    if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['inline', i, 'name'], input: rule.name, message: `a second rule named ${JSON.stringify(rule.name)} (rule names must be unique)` });
    seen.add(rule.name);
    const problem = filterProblem(rule, s.limits);
    if (problem !== null) ctx.addIssue({ code: 'custom', path: ['inline', i, 'filter'], input: rule.filter, message: problem.message });
  });
}) satisfies z.ZodType<RulesSettings, unknown>;

/** The config's `rules` section. */
export const rulesSettings: SettingsSection<RulesSettings> = {
  schema: rulesSchema,
  defaults: () => ({ directory: null, inline: [], limits: { ...DEFAULT_RULE_LIMITS } }),
};
