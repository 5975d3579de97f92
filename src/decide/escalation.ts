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
import { checkDecideInput, escalationSchema, type EscalationSettings } from './settings.js';
import { humanDuration } from '../model/duration.js';

export type { EscalationSettings } from './settings.js';
export { ESCALATION_PROFILES } from './settings.js';

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

/** Checks settings against the config's own schema (decide/settings.ts; PW_ERR_DECIDE_INPUT naming the field) and returns a frozen copy. */
function validateEscalation(s: EscalationSettings): Readonly<EscalationSettings> {
  return Object.freeze(checkDecideInput(escalationSchema, s, 'decide.escalation'));
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
    const readable = humanDuration(result);
    why += ` → ${seconds(result)}${result < 60 ? '' : ` (${readable})`}`;
    return { seconds: result, why, offender };
  }
}
