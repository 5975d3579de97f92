/**
 * The decision side the ban book serves, built from the decide settings: the lockout guard, the
 * escalation of repeat offenders and the decision policy, joined to what is banned already (a target
 * still banned keeps its ban and time left, no new offence). Built again on reload and on
 * `portwarden allow`; the ban book and its bans stay.
 */
import { buildAllowlist, type AllowlistEntry } from './allowlist.js';
import { Escalation, type EscalationSettings } from './escalation.js';
import { LockoutGuard } from './lockout-guard.js';
import { DecisionPolicy, policySettings, type PolicySettings } from './policy.js';
import type { DecideLogEvent } from '../model/decision.js';
import type { EventLogger } from '../model/logger.js';
import type { OffenderBook } from '../model/offender.js';
import type { ProfileName } from '../model/profile.js';
import type { Decider } from '../model/decision.js';
import type { CounterGroup } from '../model/counters.js';
import type { FeedTrustSettings } from '../intel/feed-trust.js';

export interface DecideSettings extends PolicySettings {
  sshPorts: readonly number[];
  /** Prefix an IPv6 repeat offender is banned as (its /64 by default). */
  ipv6RepeatOffenderPrefix: number;
  escalation: EscalationSettings;
  /** Feed trust (intel/feed-trust.ts), wired beside detection; not the policy's. */
  feedTrust?: FeedTrustSettings | null;
}

export interface DecidingOptions {
  profile: ProfileName;
  settings: DecideSettings;
  allowlist: readonly (string | AllowlistEntry)[];
  /** The offenders (the state database): escalation's memory, and whether an IPv6 /64 holds one. */
  offenders: OffenderBook & { hasOffenderIn64(prefix: string): boolean };
  /** The /64 of an IPv6 address ('' for anything else). */
  net64(address: string): string | null;
  /** Seconds a ban of the target still has (null: no expiry), undefined when not banned: the ban book's answer. */
  remainingSeconds(target: string, nowMs: number): number | null | undefined;
  log: EventLogger;
  /** Each refusal, cap and widening (alerts), after it is logged. */
  refused?(event: DecideLogEvent): void;
}

export interface Deciding {
  guard: LockoutGuard;
  decider: Decider;
  /** The policy's counters (`decide.*`) for the registry; a rebuilt policy replaces them. */
  counters: CounterGroup;
}

export async function buildDeciding(o: DecidingOptions): Promise<Deciding> {
  const allowlist = await buildAllowlist(o.allowlist);
  const guard = LockoutGuard.discover({ sshPorts: [...o.settings.sshPorts], allowlist, log: (e) => o.log.warn(e, e.message) });
  const { sshPorts: _, ipv6RepeatOffenderPrefix, escalation: escalationSettings, feedTrust: _trust, ...policy } = o.settings;
  const escalation = new Escalation(escalationSettings, o.offenders);
  const decisions = new DecisionPolicy(policySettings(o.profile, policy), {
    guard,
    profile: o.profile,
    // A repeat offender's IPv6 source is banned as its whole /64 (by default): one host of a /64
    // usually means its neighbours are one machine or one customer. Offenders live in the state database.
    ipv6PrefixFor: (address) => (o.offenders.hasOffenderIn64(o.net64(address) ?? '') ? ipv6RepeatOffenderPrefix : o.settings.ipv6Prefix),
    durationFor: (target, base) => {
      // Still banned: probes that raced the kernel commit were re-reported. The same ban with the
      // time it has left, and no new offence.
      const now = Date.now();
      const left = o.remainingSeconds(target, now);
      return left !== undefined ? left : escalation.durationFor(target, base, now);
    },
    log: (e) => {
      o.log.warn(e, e.reason);
      o.refused?.(e);
    },
  });
  return {
    guard,
    counters: decisions.counterGroup,
    decider: {
      decide: (record, nowMs) => decisions.decide(record, nowMs),
      takeWhy: (target) => escalation.takeWhy(target),
      forget: (target) => decisions.forget(target),
    },
  };
}

/**
 * The decide stage as one part of the daemon: the lockout guard and decider in force, rebuilt from the settings
 * at start, on reload and on `portwarden allow`, with the policy's counters swapped in the registry each time.
 */
export type DecideStageOptions = Omit<DecidingOptions, 'profile' | 'settings' | 'allowlist'> & {
  counters: { add(group: CounterGroup): () => void };
  /** The new decider goes into the incident flow (absent before enforcement starts). */
  adopt(decider: Decider): void;
};

export class DecideStage {
  #guard: LockoutGuard | undefined;
  #removeCounters?: () => void;
  readonly #o: DecideStageOptions;

  constructor(options: DecideStageOptions) {
    this.#o = options;
  }

  /** The guard in force (after the first build). */
  get guard(): LockoutGuard {
    if (this.#guard === undefined) throw new Error('DecideStage.guard read before build');
    return this.#guard;
  }

  async build(c: { profile: ProfileName; decide: DecideSettings; allowlist: readonly (string | AllowlistEntry)[] }): Promise<Decider> {
    const { guard, decider, counters } = await buildDeciding({ ...this.#o, profile: c.profile, settings: c.decide, allowlist: c.allowlist });
    this.#guard = guard;
    this.#removeCounters?.();
    this.#removeCounters = this.#o.counters.add(counters);
    this.#o.adopt(decider);
    return decider;
  }
}
