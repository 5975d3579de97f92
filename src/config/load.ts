/**
 * Loads a YAML config file: the chosen profile's defaults, the file laid over them (objects merge
 * deeply, lists replace), validated against the strict schema (schema.ts) and deep-frozen.
 *
 * Every problem is reported at once, each at the file position an operator has to edit: the value
 * that is wrong, the unknown key itself, the mapping that lacks a required key, or for a rule
 * between two settings the one the file overrode (line 0 when the file set neither).
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isNode, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { DEFAULT_SOCKET_PATH } from '../model/control.js';
import { PROFILES, type DetectionSettings } from './profiles.js';
import { PROFILE_NAMES, type ProfileName } from '../model/profile.js';
import { POLICY_PROFILES } from '../decide/policy.js';
import { ESCALATION_PROFILES } from '../decide/escalation.js';
import { RESPOND_PROFILES } from '../respond/settings.js';
import { configSchema, isCrossFieldParams, isProfileName, type ConfigDocument } from './schema.js';

export interface PortwardenConfig {
  readonly profile: ProfileName;
  readonly detection: DetectionSettings;
  readonly capture: ConfigDocument['capture'];
  readonly enforce: ConfigDocument['enforce'];
  readonly decide: ConfigDocument['decide'];
  readonly allowlist: ConfigDocument['allowlist'];
  readonly control: ConfigDocument['control'];
  readonly state: ConfigDocument['state'];
  readonly observe: ConfigDocument['observe'];
  readonly alerts: ConfigDocument['alerts'];
  readonly respond: ConfigDocument['respond'];
  readonly inline: ConfigDocument['inline'];
  readonly dns: ConfigDocument['dns'];
  /** The config file's path, or `(defaults)` when no file was read. */
  readonly source: string;
}

const DEFAULT_PROFILE: ProfileName = 'normal';
const DEFAULTS_SOURCE = '(defaults)';

/** The settings of `profile` with no file: a fresh, deep-frozen copy. */
export function defaultConfig(profile: ProfileName = DEFAULT_PROFILE): PortwardenConfig {
  checkProfileOverride(profile, DEFAULTS_SOURCE);
  const { profile: _, ...sections } = baseDocument(profile);
  return deepFreeze({ profile, ...sections, source: DEFAULTS_SOURCE });
}

/**
 * Reads and parses a config file; see `parseConfigText`.
 * @throws ConfigError PW_ERR_CONFIG_READ when the file cannot be read, else as `parseConfigText`.
 */
export function loadConfigFile(path: string, profileOverride?: ProfileName): PortwardenConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError('PW_ERR_CONFIG_READ', [{ file: path, line: 0, column: 0, field: '', message: reason }], {
      cause,
    });
  }
  return parseConfigText(text, path, profileOverride);
}

/**
 * Parses config text. `file` names it in problems and becomes `source`. `profileOverride` (from
 * `--profile`) replaces the file's `profile` as the base the file's overrides apply to.
 * An empty file, or one of comments only, gives the profile's defaults.
 * @throws ConfigError PW_ERR_CONFIG_SYNTAX when the text is not YAML, PW_ERR_CONFIG_INVALID when a
 *   value has the wrong type or range, a key is unknown, or two settings contradict each other.
 */
export function parseConfigText(text: string, file: string, profileOverride?: ProfileName): PortwardenConfig {
  if (profileOverride !== undefined) checkProfileOverride(profileOverride, file);

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  // Warnings too (an unresolved tag silently becomes a string): a strict config accepts nothing it did not understand.
  const syntaxProblems = [...doc.errors, ...doc.warnings].map((error): ConfigProblem => {
    const at = error.linePos?.[0];
    return { file, line: at?.line ?? 0, column: at?.col ?? 0, field: '', message: plainYamlMessage(error.message) };
  });
  if (syntaxProblems.length > 0) throw new ConfigError('PW_ERR_CONFIG_SYNTAX', syntaxProblems);

  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (cause) {
    // yaml refuses excessive alias expansion (a "billion laughs" file) here.
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError('PW_ERR_CONFIG_SYNTAX', [{ file, line: 0, column: 0, field: '', message }], { cause });
  }

  const fileProfile = isPlainObject(raw) && isProfileName(raw['profile']) ? raw['profile'] : undefined;
  const baseProfile = profileOverride ?? fileProfile ?? DEFAULT_PROFILE;
  const base = baseDocument(baseProfile);
  const merged: unknown = raw === null || raw === undefined ? base : isPlainObject(raw) ? mergeOver(base, raw) : raw;

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const locator = new Locator(doc, lineCounter);
    const problems = result.error.issues.flatMap((issue) => issueProblems(issue, file, locator));
    throw new ConfigError('PW_ERR_CONFIG_INVALID', sortProblems(problems));
  }
  const { profile: _, ...sections } = result.data;
  return deepFreeze({ profile: baseProfile, ...sections, source: file });
}

/**
 * The complete document before any file: the profile's settings, copied so that nothing returned
 * ever shares an object with PROFILES. A new config section adds its defaults here.
 */
function baseDocument(profile: ProfileName): ConfigDocument {
  const policy = POLICY_PROFILES[profile];
  return {
    profile,
    detection: structuredClone(PROFILES[profile]),
    capture: { method: 'nflog', interfaces: [], nflogGroup: 7311, snaplenBytes: 128 },
    enforce: {
      backend: 'nftables',
      forward: false,
      commitEveryMs: 5,
      reconcileEveryMs: 30_000,
      fastPath: { enabled: true, answersPerSecond: 5, burst: 5, banSeconds: 60 },
      blockedNetworks: [],
      blockedTcpPorts: [],
      blockedUdpPorts: [],
    },
    decide: { ...structuredClone(policy), banSeconds: { ...policy.banSeconds }, ipv6RepeatOffenderPrefix: 64, escalation: { ...ESCALATION_PROFILES[profile] }, sshPorts: [22] },
    allowlist: [],
    control: { socketPath: DEFAULT_SOCKET_PATH },
    state: { dir: '/var/lib/portwarden', incidentRetentionSeconds: 90 * 86_400, banRetentionSeconds: 90 * 86_400, offenderRetentionSeconds: 365 * 86_400, purgeEveryMs: 3_600_000 },
    observe: { listen: '127.0.0.1:9717', token: null, recentIncidents: 1000, publicRead: false },
    alerts: { shutdownTimeoutMs: 5000, channels: [] },
    respond: { ...RESPOND_PROFILES[profile] },
    inline: { enabled: false, backend: 'auto', queue: 7400, queues: 1, cpuFanout: true, dns: true, tcpPorts: [], forward: false, failOpen: true, maxlen: 4096, copyBytes: 4096, rcvbufBytes: 4_194_304, watchdogMs: 250 },
    dns: { blocklists: [], strictLists: false, action: 'nxdomain', sinkhole4: '0.0.0.0', sinkhole6: '::', answerTtlSeconds: 60, malformed: 'accept', logQueries: 'all', answerMaxPerSecond: 200, answerBurst: 400, answerPerSourcePerSecond: 5, answerPerSourceBurst: 20, answerMaxSources: 65536 },
  };
}

function checkProfileOverride(profile: string, file: string): void {
  if (isProfileName(profile)) return;
  throw new ConfigError('PW_ERR_CONFIG_INVALID', [
    {
      file,
      line: 0,
      column: 0,
      field: 'profile',
      message: `profile ${JSON.stringify(profile)} must be one of ${PROFILE_NAMES.join(', ')}`,
    },
  ]);
}

/** yaml appends " at line L, column C:" and a source excerpt; the problem carries line and column itself. */
function plainYamlMessage(message: string): string {
  const first = message.split('\n', 1)[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `over` laid on `base`: mappings merge key by key, anything else (lists, scalars) replaces. An
 * empty mapping in the file (`trw:` with nothing under it, e.g. every key commented out) keeps the
 * defaults. Keys are defined, not assigned, so a `__proto__` key stays a plain (unknown) key.
 */
function mergeOver(base: PlainObject, over: PlainObject): PlainObject {
  const out: PlainObject = {};
  for (const key of Object.keys(base)) define(out, key, base[key]);
  for (const key of Object.keys(over)) {
    const baseValue = Object.hasOwn(base, key) ? base[key] : undefined;
    const overValue = over[key];
    if (isPlainObject(baseValue) && isPlainObject(overValue)) define(out, key, mergeOver(baseValue, overValue));
    else if (isPlainObject(baseValue) && overValue === null) define(out, key, baseValue);
    else define(out, key, overValue);
  }
  return out;
}

function define(target: PlainObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

// ---- mapping zod issues to file positions ----

type Path = readonly PropertyKey[];

interface Position {
  line: number;
  column: number;
}

const NOWHERE: Position = { line: 0, column: 0 };

function issueProblems(issue: z.core.$ZodIssue, file: string, locator: Locator): ConfigProblem[] {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const keyPath = [...path, key];
      const at = locator.keyOf(keyPath) ?? locator.nearest(path);
      return { file, ...at, field: formatPath(keyPath), message: unknownKeyMessage(key, allowedKeys(path)) };
    });
  }
  if (issue.code === 'custom' && isCrossFieldParams(issue.params)) {
    // Report on whichever of the compared keys the file set; the other side is a default.
    const parent = path.slice(0, -1);
    const candidates = [path, ...issue.params.alsoAt.map((key) => [...parent, key])];
    const chosen = candidates.find((candidate) => locator.has(candidate));
    const at = chosen === undefined ? NOWHERE : locator.valueOf(chosen);
    return [{ file, ...at, field: formatPath(chosen ?? path), message: issue.message }];
  }
  // A value the file set points at that value; a missing one at the mapping that lacks it.
  const at = locator.has(path) ? locator.valueOf(path) : locator.nearest(path);
  return [{ file, ...at, field: formatPath(path), message: issue.message }];
}

/** `detection.scan.windows[1].count`; the empty path (the whole file) is ''. */
function formatPath(path: Path): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  // In file order; problems with no position (line 0) last.
  const rank = (p: ConfigProblem) => (p.line === 0 ? Number.MAX_SAFE_INTEGER : p.line);
  return problems.sort((a, b) => rank(a) - rank(b) || a.column - b.column);
}

interface Found {
  /** The node the path leads to (undefined for `key:` with nothing after it). */
  value: unknown;
  /** The key node when the last step was a mapping key. */
  key: unknown;
}

class Locator {
  readonly #doc: Document;
  readonly #lineCounter: LineCounter;

  constructor(doc: Document, lineCounter: LineCounter) {
    this.#doc = doc;
    this.#lineCounter = lineCounter;
  }

  has(path: Path): boolean {
    return this.#find(path) !== undefined;
  }

  /** Position of the value at `path`, or of its key when the value is empty. Callers check `has` first. */
  valueOf(path: Path): Position {
    const found = this.#find(path);
    if (found === undefined) return NOWHERE;
    if (!isEmptyNode(found.value)) {
      const at = this.#start(found.value);
      if (at !== undefined) return at;
    }
    return this.#start(found.key) ?? NOWHERE;
  }

  /** Position of the key that ends `path`. */
  keyOf(path: Path): Position | undefined {
    const found = this.#find(path);
    return found === undefined ? undefined : this.#start(found.key);
  }

  /** Position of the deepest node along `path` that the file has. */
  nearest(path: Path): Position {
    for (let length = path.length; length >= 0; length--) {
      const prefix = path.slice(0, length);
      if (this.has(prefix)) {
        const found = this.#find(prefix);
        const at = this.#start(found?.value) ?? this.#start(found?.key);
        if (at !== undefined) return at;
      }
    }
    return NOWHERE;
  }

  #find(path: Path): Found | undefined {
    let value: unknown = this.#doc.contents;
    let key: unknown = undefined;
    if (value === null || value === undefined) return undefined;
    for (const segment of path) {
      if (isAlias(value)) value = value.resolve(this.#doc);
      if (isMap(value)) {
        const pair = value.items.find((item) => keyName(item.key) === String(segment));
        if (pair === undefined) return undefined;
        key = pair.key;
        value = pair.value ?? undefined;
      } else if (isSeq(value) && typeof segment === 'number') {
        if (segment < 0 || segment >= value.items.length) return undefined;
        key = undefined;
        value = value.items[segment];
      } else {
        return undefined;
      }
    }
    return { value, key };
  }

  #start(node: unknown): Position | undefined {
    if (!isNode(node) || !node.range) return undefined;
    const { line, col } = this.#lineCounter.linePos(node.range[0]);
    return { line, column: col };
  }
}

function keyName(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

/** `key:` followed by nothing parses as a zero-length null scalar; point at the key instead. */
function isEmptyNode(node: unknown): boolean {
  if (node === undefined || node === null) return true;
  return isScalar(node) && node.value === null && node.range != null && node.range[0] === node.range[1];
}

// ---- unknown keys ----

/** The keys the schema allows in the mapping at `path`, for the unknown-key message. */
function allowedKeys(path: Path): string[] {
  let schema: unknown = configSchema;
  for (const segment of path) {
    if (schema instanceof z.ZodObject && typeof segment === 'string') schema = schema.shape[segment];
    else if (schema instanceof z.ZodArray) schema = schema.element;
    else return [];
  }
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const guess = closest(key, allowed);
  if (guess !== undefined) return `unknown key ${JSON.stringify(key)} (did you mean ${JSON.stringify(guess)}?)`;
  if (allowed.length === 0) return `unknown key ${JSON.stringify(key)}`;
  return `unknown key ${JSON.stringify(key)} (allowed here: ${allowed.join(', ')})`;
}

/** The allowed key a typo most likely meant: a unit left off (`probeTimeout`), a case slip, or two edits away. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const candidateLower = candidate.toLowerCase();
    const prefix = lower.length >= 3 && (candidateLower.startsWith(lower) || lower.startsWith(candidateLower));
    const distance = prefix ? 1 : editDistance(lower, candidateLower);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length];
}
