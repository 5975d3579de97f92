import type { OffenderBook, OffenderRecord } from '../model/offender.js';
/**
 * Escalation for repeat offenders (the decision policy's `durationFor` hook): a target banned again
 * gets a longer ban, base × factor^(n−1), capped at `maxBanSeconds`, with jitter, and optionally a ban
 * without expiry from the `permanentAfter`-th offence on. Offences count across incident kinds: a
 * scanner that comes back flooding is the same offender.
 *
 * n comes from a reputation score that decays: each offence adds 1, and the score halves every
 * `scoreHalfLifeSeconds`, so n − 1 is the decayed count of earlier offences (rounded). An address that
 * offended twice last night is on its 3rd offence; one that offended once a year ago starts over, which
 * matters for dynamic addresses handed to someone else. The plain lifetime count is kept beside it.
 *
 * Jitter (±`jitterRatio`, from the second offence on; the first ban is exactly the profile's) keeps a
 * group of scanners banned together from being released together, and a scanner from timing its
 * return to the second. The random source and the clock are injected, so tests are deterministic.
 *
 * Every result carries a sentence saying why the ban has its length; it is stored with the ban.
 */
import type { ProfileName } from '../model/profile.js';
import { PortwardenError } from '../errors.js';
import { formatDuration } from '../model/decision.js';

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

const DAY = 86_400;

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


export interface Escalated {
  /** Ban length; null: no expiry. */
  seconds: number | null;
  /** Why it has that length, for the ban record and the log. */
  why: string;
  offender: OffenderRecord;
}

/** `score` at `fromMs`, decayed to `toMs` with the given half-life. */
export function decayedScore(score: number, fromMs: number, toMs: number, halfLifeSeconds: number): number {
  const elapsed = Math.max(0, toMs - fromMs) / 1000;
  return score * Math.pow(2, -elapsed / halfLifeSeconds);
}

/** A seeded uniform [0, 1) source (mulberry32): deterministic jitter in tests and replays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

function seconds(n: number): string {
  return `${n.toLocaleString('en-US')} s`;
}

/** Checks settings (PW_ERR_DECIDE_INPUT naming the field) and returns a frozen copy. */
function validateEscalation(s: EscalationSettings): Readonly<EscalationSettings> {
  const bad = (field: string, message: string) => new PortwardenError('PW_ERR_DECIDE_INPUT', `decide.escalation.${field}: ${message}`);
  if (!(s.factor >= 1 && s.factor <= 100)) throw bad('factor', `must be from 1 to 100, got ${s.factor}`);
  if (!(Number.isInteger(s.maxBanSeconds) && s.maxBanSeconds > 0)) throw bad('maxBanSeconds', `must be whole seconds above 0, got ${s.maxBanSeconds}`);
  if (!(s.jitterRatio >= 0 && s.jitterRatio <= 0.5)) throw bad('jitterRatio', `must be from 0 to 0.5, got ${s.jitterRatio}`);
  if (!(Number.isInteger(s.permanentAfter) && s.permanentAfter >= 0)) throw bad('permanentAfter', `must be a whole number, 0 for never, got ${s.permanentAfter}`);
  if (!(s.scoreHalfLifeSeconds > 0)) throw bad('scoreHalfLifeSeconds', `must be above 0, got ${s.scoreHalfLifeSeconds}`);
  return Object.freeze({ ...s });
}

export class Escalation {
  readonly settings: Readonly<EscalationSettings>;
  readonly #book: OffenderBook;
  readonly #random: () => number;
  readonly #why = new Map<string, string>();

  constructor(settings: EscalationSettings, book: OffenderBook, random: () => number = Math.random) {
    this.settings = validateEscalation(settings);
    this.#book = book;
    this.#random = random;
  }

  /**
   * The policy's `durationFor` hook: `offence()`, with the why kept until `takeWhy(target)` collects
   * it for the ban record (the hook itself can only return a length).
   */
  durationFor(target: string, baseSeconds: number | null, nowMs: number): number | null {
    const e = this.offence(target, baseSeconds, nowMs);
    this.#why.set(target, e.why);
    // Collected right after the decision; a bound in case a caller never collects.
    if (this.#why.size > 10_000) this.#why.delete(this.#why.keys().next().value as string);
    return e.seconds;
  }

  /** The why of the last `durationFor(target)`, once. */
  takeWhy(target: string): string {
    const why = this.#why.get(target) ?? '';
    this.#why.delete(target);
    return why;
  }

  /**
   * Records an offence by `target` at `nowMs` and returns its ban length. `baseSeconds` is the
   * profile's ban for the incident's kind (null: the profile bans without expiry, kept as is).
   */
  offence(target: string, baseSeconds: number | null, nowMs: number): Escalated {
    const s = this.settings;
    const before = this.#book.get(target);
    const prior = before === undefined ? 0 : decayedScore(before.score, before.lastSeenMs, nowMs, s.scoreHalfLifeSeconds);
    const offender: OffenderRecord = {
      address: target,
      offences: (before?.offences ?? 0) + 1,
      firstSeenMs: before?.firstSeenMs ?? nowMs,
      lastSeenMs: nowMs,
      score: prior + 1,
    };
    this.#book.put(offender);
    const n = Math.max(1, Math.round(prior) + 1);
    const head = `${ordinal(n)} offence (${offender.offences} in all, reputation ${offender.score.toFixed(2)})`;
    if (baseSeconds === null) return { seconds: null, why: `${head}: the profile bans without expiry`, offender };
    if (!s.enabled) return { seconds: baseSeconds, why: `${head}: ${seconds(baseSeconds)}, the profile's ban (escalation off)`, offender };
    if (s.permanentAfter > 0 && n >= s.permanentAfter) {
      return { seconds: null, why: `${head}: no expiry (permanent from the ${ordinal(s.permanentAfter)} offence on)`, offender };
    }
    if (n === 1) return { seconds: baseSeconds, why: `${head}: ${seconds(baseSeconds)}, the profile's ban`, offender };
    const raw = baseSeconds * Math.pow(s.factor, n - 1);
    let why = `${head}: ${seconds(baseSeconds)} × ${s.factor}^${n - 1} = ${seconds(Math.round(raw))}`;
    const capped = Math.min(raw, s.maxBanSeconds);
    if (capped < raw) why += `, capped at ${seconds(s.maxBanSeconds)}`;
    const jitter = s.jitterRatio === 0 ? 0 : (this.#random() * 2 - 1) * s.jitterRatio;
    let result = Math.max(1, Math.round(capped * (1 + jitter)));
    if (s.jitterRatio > 0) {
      const pct = Math.round(jitter * 100);
      why += `, jitter ${pct >= 0 ? '+' : '−'}${Math.abs(pct)} %`;
    }
    if (result > s.maxBanSeconds) result = s.maxBanSeconds;
    const readable = formatDuration(result);
    why += ` → ${seconds(result)}${readable.endsWith(' s') ? '' : ` (${readable})`}`;
    return { seconds: result, why, offender };
  }
}
