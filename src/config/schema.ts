/**
 * The config file's schema: one root object of sections, each section its own strict schema, so a
 * later section (`enforce`, `allowlist`, `alerts`, …) is one more entry in `configSchema`.
 *
 * The schemas validate a COMPLETE document (the profile's defaults with the file laid over them, see
 * load.ts), so cross-field rules always see both sides. Every object is strict: an unknown key is an
 * error, never silently ignored. Messages are written for an operator reading `file:line:col: field:`.
 */
import { z } from 'zod';
import { PROFILE_NAMES, type DetectionSettings, type ProfileName } from './profiles.js';

/**
 * A cross-field rule reports on one key but names the sibling keys it compared in `params.alsoAt`:
 * the loader points at whichever of them the file actually set (the operator's override), since the
 * other side may be a default the file never mentions.
 */
export interface CrossFieldParams {
  alsoAt: readonly string[];
}

export function isCrossFieldParams(params: unknown): params is CrossFieldParams {
  return (
    typeof params === 'object' &&
    params !== null &&
    Array.isArray((params as { alsoAt?: unknown }).alsoAt)
  );
}

export function isProfileName(value: unknown): value is ProfileName {
  return typeof value === 'string' && (PROFILE_NAMES as readonly string[]).includes(value);
}

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return `the string ${JSON.stringify(input)}`;
  return String(input);
}

const REQUIRED = 'is required';

/**
 * Counts, sizes and durations: whole numbers above zero (milliseconds for `*Ms`). Not `z.int()`: its
 * failure aborts every rule above it (window order, θ1 < θ0), and all problems are reported at once.
 */
const positiveInt = z
  .number({
    error: (issue) => (issue.input === undefined ? REQUIRED : `must be a whole number, got ${describe(issue.input)}`),
  })
  .superRefine((value, ctx) => {
    let message: string | undefined;
    if (!Number.isInteger(value)) message = `must be a whole number, got ${value}`;
    else if (value <= 0) message = `must be greater than 0, got ${value}`;
    else if (!Number.isSafeInteger(value)) message = `must be at most ${Number.MAX_SAFE_INTEGER}, got ${value}`;
    if (message !== undefined) ctx.addIssue({ code: 'custom', input: value, message });
  });

/**
 * A count of distinct ports, hosts or sources that makes a group: at least 2. A record holding one
 * port or host is never judged (detect/first-contact.ts), and one source is no distributed scan.
 */
const groupSize = positiveInt.superRefine((value, ctx) => {
  if (Number.isInteger(value) && value === 1) ctx.addIssue({ code: 'custom', input: value, message: 'must be at least 2, got 1' });
});

/** Strictly inside (0, 1): 0 or 1 would make the TRW's likelihood ratios infinite or zero. */
const probability = z
  .number({
    error: (issue) => (issue.input === undefined ? REQUIRED : `must be a number, got ${describe(issue.input)}`),
  })
  .gt(0, { error: (issue) => `must be strictly between 0 and 1, got ${describe(issue.input)}` })
  .lt(1, { error: (issue) => `must be strictly between 0 and 1, got ${describe(issue.input)}` });

/** A share of something: 0 and 1 included. */
const ratio = z
  .number({
    error: (issue) => (issue.input === undefined ? REQUIRED : `must be a number, got ${describe(issue.input)}`),
  })
  .min(0, { error: (issue) => `must be between 0 and 1, got ${describe(issue.input)}` })
  .max(1, { error: (issue) => `must be between 0 and 1, got ${describe(issue.input)}` });

function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.strictObject(shape, {
    // Only the wrong-type case; unknown keys get their message in load.ts, which knows where they are.
    error: (issue) => {
      if (issue.code !== 'invalid_type') return undefined;
      return issue.input === undefined ? REQUIRED : `must be a mapping, got ${describe(issue.input)}`;
    },
  });
}

const windowThresholdSchema = section({ windowMs: positiveInt, count: positiveInt });

/**
 * Window thresholds, shortest first. Each window must be strictly longer than the one before it,
 * reported on the element that breaks the order.
 */
const windowsSchema = z
  .array(windowThresholdSchema, {
    error: (issue) => {
      if (issue.code !== 'invalid_type') return undefined;
      return issue.input === undefined ? REQUIRED : `must be a list of windows, got ${describe(issue.input)}`;
    },
  })
  .min(1, { error: 'must list at least one window' })
  .superRefine((windows, ctx) => {
    for (let i = 1; i < windows.length; i++) {
      const previous: unknown = windows[i - 1]?.windowMs;
      const current: unknown = windows[i]?.windowMs;
      // A window that is already wrong on its own has its own problem; don't pile on.
      if (typeof previous !== 'number' || typeof current !== 'number') continue;
      if (current <= previous) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          input: windows[i],
          message: `windowMs ${current} must be greater than the previous window's ${previous} (list windows shortest first)`,
        });
      }
    }
  }, alsoWhenInvalid(Array.isArray));

function isRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * zod skips a refinement once the value has a type problem anywhere inside it; these rules read
 * their inputs defensively, so they run anyway and every problem is reported in one pass.
 */
function alsoWhenInvalid(shapeOk: (value: unknown) => boolean): z.core.$ZodSuperRefineParams {
  return { when: (payload) => shapeOk(payload.value) };
}

function isProbability(value: unknown): value is number {
  return typeof value === 'number' && value > 0 && value < 1;
}

const trwSchema = section({
  benignSuccessProbability: probability,
  scannerSuccessProbability: probability,
  detectionProbability: probability,
  falsePositiveProbability: probability,
}).superRefine((trw, ctx) => {
  // Only compare values that are valid on their own; an out-of-range value already has a problem.
  const { benignSuccessProbability: theta0, scannerSuccessProbability: theta1 } = trw;
  if (isProbability(theta0) && isProbability(theta1) && !(theta1 < theta0)) {
    ctx.addIssue({
      code: 'custom',
      path: ['scannerSuccessProbability'],
      input: theta1,
      params: { alsoAt: ['benignSuccessProbability'] } satisfies CrossFieldParams,
      message: `scannerSuccessProbability (θ1) ${theta1} must be less than benignSuccessProbability (θ0) ${theta0}: a scanner's first contacts succeed less often than a benign source's`,
    });
  }
  const { detectionProbability: pd, falsePositiveProbability: pf } = trw;
  if (isProbability(pd) && isProbability(pf) && !(pf < pd)) {
    ctx.addIssue({
      code: 'custom',
      path: ['falsePositiveProbability'],
      input: pf,
      params: { alsoAt: ['detectionProbability'] } satisfies CrossFieldParams,
      message: `falsePositiveProbability (PF) ${pf} must be less than detectionProbability (PD) ${pd}, or the upper threshold PD / PF is not above 1`,
    });
  }
}, alsoWhenInvalid(isRecord));

export const detectionSchema = section({
  probeTimeoutMs: positiveInt,
  trw: trwSchema,
  scan: section({ minPorts: groupSize, windows: windowsSchema, minFailureRatio: ratio }),
  sweep: section({ minHosts: groupSize, windows: windowsSchema, minFailureRatio: ratio }),
  distributed: section({
    windowMs: positiveInt,
    minSources: groupSize,
    minPorts: groupSize,
    minDisjointRatio: ratio,
  }),
  decoy: section({ windowMs: positiveInt, maxSources: positiveInt, minPorts: positiveInt }),
  flood: section({
    windowMs: positiveInt,
    synPerSecond: positiveInt,
    udpPerSecond: positiveInt,
    icmpPerSecond: positiveInt,
    maxCompletedRatio: ratio,
    maxPortRatio: ratio,
  }),
  limits: section({
    maxRecords: positiveInt,
    maxTargets: positiveInt,
    maxFlows: positiveInt,
    maxEvidenceRecords: positiveInt,
    maxRememberedItems: positiveInt,
    sourceIdleMs: positiveInt,
    lightSourceIdleMs: positiveInt,
  }),
}) satisfies z.ZodType<DetectionSettings>;

const port = positiveInt.superRefine((value, ctx) => {
  if (Number.isInteger(value) && value > 65535) ctx.addIssue({ code: 'custom', input: value, message: `must be a port number (1-65535), got ${value}` });
});

const stringList = z.array(z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }), {
  error: (issue) => `must be a list, got ${describe(issue.input)}`,
});

/** Seconds of a ban: 0 alerts only; null bans without expiry. */
const banSeconds = z.union([z.literal(null), z.number().int().min(0)], { error: (issue) => `must be whole seconds (0 alerts only) or null, got ${describe(issue.input)}` });

/** Live capture (NFLOG): where and how the kernel hands packets to detection. */
export const captureSchema = section({
  /** Interfaces to watch; empty: the default route's (every interface but loopback without one). */
  interfaces: stringList,
  nflogGroup: positiveInt,
  snaplenBytes: positiveInt,
});

/** The kernel side: backend, batching, repair, static rules. */
export const enforceSchema = section({
  backend: z.enum(['nftables', 'iptables', 'dry-run'], { error: (issue) => `must be nftables, iptables or dry-run, got ${describe(issue.input)}` }),
  forward: z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` }),
  commitEveryMs: positiveInt,
  reconcileEveryMs: positiveInt,
  /** The kernel fast path (enforce/nft-ruleset.ts): peers the host answers with RST/unreachable too often. */
  fastPath: section({
    enabled: z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` }),
    answersPerSecond: positiveInt,
    burst: positiveInt,
    banSeconds: positiveInt,
  }),
  blockedNetworks: stringList,
  blockedTcpPorts: z.array(port),
  blockedUdpPorts: z.array(port),
});

/** Decisions: ban lengths per incident kind, IPv6 prefix, the new-ban cap (decide/policy.ts). */
export const decideSchema = section({
  banSeconds: section({
    scan: banSeconds,
    sweep: banSeconds,
    'distributed-scan': banSeconds,
    'decoy-scan': banSeconds,
    flood: banSeconds,
  }),
  ipv6Prefix: positiveInt,
  /** Prefix a repeat offender's IPv6 address is banned as (128: never widen). */
  ipv6RepeatOffenderPrefix: positiveInt,
  maxNewBansPerMinute: positiveInt,
  widenPrefix4: positiveInt,
  widenPrefix6: positiveInt,
  maxWidenedBansPerMinute: z.number().int().min(0),
  /** Peers of established sessions to these ports are never banned. */
  sshPorts: z.array(port),
});

/** Never banned: addresses, networks, host names (resolved at load). */
export const allowlistSchema = z.array(
  z.union([z.string(), z.strictObject({ value: z.string(), reason: z.string().optional() })], {
    error: (issue) => `must be an address, network or host name, or { value, reason }, got ${describe(issue.input)}`,
  }),
  { error: (issue) => `must be a list, got ${describe(issue.input)}` },
);

export const controlSchema = section({ socketPath: z.string().min(1) });

/** Where the daemon keeps what must outlive it (today: repeat IPv6 offenders; the state issue adds SQLite). */
export const stateSchema = section({ dir: z.string().min(1) });

export const profileSchema = z.enum(PROFILE_NAMES, {
  error: (issue) =>
    `must be one of ${PROFILE_NAMES.join(', ')}, got ${issue.input === undefined ? 'nothing' : describe(issue.input)}`,
});

/** The whole config document. New sections go here, each with its defaults in load.ts `baseDocument`. */
export const configSchema = z.strictObject(
  {
    profile: profileSchema,
    detection: detectionSchema,
    capture: captureSchema,
    enforce: enforceSchema,
    decide: decideSchema,
    allowlist: allowlistSchema,
    control: controlSchema,
    state: stateSchema,
  },
  {
    error: (issue) =>
      issue.code === 'invalid_type'
        ? `the config file must be a mapping of sections (profile, detection, capture, enforce, decide, allowlist, control, state), got ${describe(issue.input)}`
        : undefined,
  },
);

export type ConfigDocument = z.output<typeof configSchema>;
