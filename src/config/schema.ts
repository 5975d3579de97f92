/**
 * The config file's schema: one root object of sections, each section its own strict schema, so a
 * later section (`enforce`, `allowlist`, `alerts`, …) is one more entry in `configSchema`.
 *
 * The schemas validate a COMPLETE document (the profile's defaults with the file laid over them, see
 * load.ts), so cross-field rules always see both sides. Every object is strict: an unknown key is an
 * error, never silently ignored. Messages are written for an operator reading `file:line:col: field:`.
 */
import { z } from 'zod';
import { type DetectionSettings } from './profiles.js';
import { PROFILE_NAMES, type ProfileName } from '../model/profile.js';
import { SEVERITIES } from '../alert/alert.js';
import { MAX_TEXT_BYTES, RESPONSE_MODES, type RespondSettings } from '../respond/settings.js';

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
  /** nflog: the kernel logs what detection needs (default); pcap: libpcap on the interfaces (a mirror port). */
  method: z.enum(['nflog', 'pcap'], { error: (issue) => `must be nflog or pcap, got ${describe(issue.input)}` }),
  /** Interfaces to watch; empty: the default route's (every interface but loopback without one, nflog only). */
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
  /** Longer bans for repeat offenders (decide/escalation.ts). */
  escalation: section({
    enabled: z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` }),
    factor: z.number().min(1).max(100),
    maxBanSeconds: positiveInt,
    jitterRatio: z.number().min(0).max(0.5),
    permanentAfter: z.number().int().min(0),
    scoreHalfLifeSeconds: positiveInt,
  }),
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

/** Responses to banned scanners (src/respond/): mode, the try-harder text, rate caps. */
export const respondSchema = section({
  mode: z.enum(RESPONSE_MODES, { error: (issue) => `must be one of ${RESPONSE_MODES.join(', ')}, got ${describe(issue.input)}` }),
  text: z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }).refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_TEXT_BYTES, {
    error: `must be at most ${MAX_TEXT_BYTES} bytes (UTF-8): a reply must never be a useful amplifier`,
  }),
  nflogGroup: z.number().int().min(0).max(65535),
  maxPerSecond: positiveInt,
  burst: positiveInt,
  perSourcePerSecond: positiveInt,
  perSourceBurst: positiveInt,
  floodHoldMs: positiveInt,
  maxSources: positiveInt,
}) satisfies z.ZodType<RespondSettings>;

/** Where the daemon keeps what must outlive it (state/: the SQLite database), and for how long. */
export const stateSchema = section({
  dir: z.string().min(1),
  incidentRetentionSeconds: positiveInt,
  banRetentionSeconds: positiveInt,
  offenderRetentionSeconds: positiveInt,
  purgeEveryMs: positiveInt,
});

/** host:port, the host an IP literal (IPv6 in brackets): `127.0.0.1:9717`, `[::1]:9717`. */
const listenAddress = z.string().refine((value) => /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/.test(value) && Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, {
  error: (issue) => `must be host:port with an IP address (127.0.0.1:9717, [::1]:9717), or null for no listener, got ${describe(issue.input)}`,
});

/** The observe listener (src/observe/): /metrics, /health, the dashboard and its API on one port. */
export const observeSchema = section({
  listen: z.union([z.literal(null), listenAddress], { error: (issue) => `must be host:port or null, got ${describe(issue.input)}` }),
  /** Needed by the dashboard's actions (unban); null: generated into state.dir/dashboard.token (0600). */
  token: z.union([z.literal(null), z.string().min(16, { error: 'must be at least 16 characters' })], { error: (issue) => `must be a string of 16 characters or more, or null, got ${describe(issue.input)}` }),
  /** Incidents the dashboard keeps in memory (the newest). */
  recentIncidents: positiveInt,
  /** true: the dashboard's read endpoints (/api/bans, /api/incidents, …) answer without the token; false: they need it too. */
  publicRead: z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` }),
});

// ---- alerts (src/alert/): a list of channels, each with its own fields and the dispatcher's settings ----

/** Whole milliseconds, 0 allowed (a batching window of 0 sends each alert on its own). */
const nonNegativeInt = z
  .number({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a whole number, got ${describe(issue.input)}`) })
  .superRefine((value, ctx) => {
    if (!Number.isSafeInteger(value) || value < 0) ctx.addIssue({ code: 'custom', input: value, message: `must be a whole number, 0 or more, got ${value}` });
  });

const text = z.string({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be a string, got ${describe(issue.input)}`) }).min(1, { error: 'must not be empty' });

const httpUrl = text.refine((value) => /^https?:$/.test(URL.canParse(value) ? new URL(value).protocol : ''), {
  error: (issue) => `must be an http:// or https:// URL, got ${describe(issue.input)}`,
});

/** What every channel shares: which alerts, how they are grouped, paced and retried (alert/dispatcher.ts). */
const alertChannelCommon = {
  /** The channel's name in logs and metrics; default `<type>-<position>` (webhook-1). */
  name: text.optional(),
  minSeverity: z.enum(SEVERITIES, { error: (issue) => `must be one of ${SEVERITIES.join(', ')}, got ${describe(issue.input)}` }).default('medium'),
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
      security: z.enum(['starttls', 'tls', 'none'], { error: (issue) => `must be starttls, tls or none, got ${describe(issue.input)}` }).default('starttls'),
      auth: section({ user: text, pass: text }).optional(),
      from: text,
      to: z.array(text, { error: (issue) => `must be a list of addresses, got ${describe(issue.input)}` }).min(1, { error: 'must name at least one recipient' }),
      subject: text.default('[portwarden] {severity}: {summary}'),
    }),
    section({
      type: z.literal('syslog'),
      ...alertChannelCommon,
      transport: z.enum(['udp', 'tcp', 'unix', 'unix-stream'], { error: (issue) => `must be udp, tcp, unix or unix-stream, got ${describe(issue.input)}` }).default('udp'),
      host: text.default('127.0.0.1'),
      port: port.default(514),
      /** unix and unix-stream: the socket (unix is a datagram socket, like /dev/log). */
      path: text.default('/dev/log'),
      facility: z.enum(SYSLOG_FACILITIES, { error: (issue) => `must be one of ${SYSLOG_FACILITIES.join(', ')}, got ${describe(issue.input)}` }).default('auth'),
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
  channels: z
    .array(alertChannelSchema, { error: (issue) => `must be a list of channels, got ${describe(issue.input)}` })
    .superRefine((channels, ctx) => {
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

export const profileSchema = z.enum(PROFILE_NAMES, {
  error: (issue) =>
    `must be one of ${PROFILE_NAMES.join(', ')}, got ${issue.input === undefined ? 'nothing' : describe(issue.input)}`,
});

const onOff = z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` });

/** Inline mode (src/inline/): what is queued to the daemon for a verdict, and how the queue fails open. */
export const inlineSchema = section({
  enabled: onOff,
  backend: z.enum(['auto', 'nft', 'iptables'], { error: (issue) => `must be auto, nft or iptables, got ${describe(issue.input)}` }),
  queue: z.number().int().min(0).max(65535),
  queues: positiveInt,
  cpuFanout: onOff,
  dns: onOff,
  tcpPorts: z.array(port),
  forward: onOff,
  failOpen: onOff,
  maxlen: positiveInt,
  copyBytes: z.number().int().min(128).max(65535),
  rcvbufBytes: z.number().int().min(0),
  watchdogMs: z.number().int().min(0),
});

/** DNS filtering (src/dns/): blocklists and what a blocked query gets. */
export const dnsSchema = section({
  blocklists: stringList,
  strictLists: onOff,
  action: z.enum(['drop', 'nxdomain', 'sinkhole'], { error: (issue) => `must be drop, nxdomain or sinkhole, got ${describe(issue.input)}` }),
  sinkhole4: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, { error: 'must be an IPv4 address' }),
  sinkhole6: z.string().regex(/^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*$/, { error: 'must be an IPv6 address' }),
  answerTtlSeconds: z.number().int().min(0).max(2_147_483_647),
  malformed: z.enum(['accept', 'drop'], { error: (issue) => `must be accept or drop, got ${describe(issue.input)}` }),
  logQueries: z.enum(['all', 'blocked', 'none'], { error: (issue) => `must be all, blocked or none, got ${describe(issue.input)}` }),
  answerMaxPerSecond: positiveInt,
  answerBurst: positiveInt,
  answerPerSourcePerSecond: positiveInt,
  answerPerSourceBurst: positiveInt,
  answerMaxSources: positiveInt,
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
    observe: observeSchema,
    alerts: alertsSchema,
    respond: respondSchema,
    inline: inlineSchema,
    dns: dnsSchema,
  },
  {
    error: (issue) =>
      issue.code === 'invalid_type'
        ? `the config file must be a mapping of sections (profile, detection, capture, enforce, decide, allowlist, control, state), got ${describe(issue.input)}`
        : undefined,
  },
);

export type ConfigDocument = z.output<typeof configSchema>;
