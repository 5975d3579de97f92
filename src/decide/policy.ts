import type { CounterGroup } from '../model/counters.js';
import type { DecideLogEvent } from '../model/decision.js';
/**
 * The decision policy: incident in, decision out. detect only reports; this is the one place that
 * decides what gets banned (STYLE.md rule 6). In order, for each source an incident names:
 *
 *   1. what the incident's kind allows at all: a decoy scan names one real scanner among spoofed
 *      decoys, so it is never banned (alert, naming every candidate); a flood is banned only when it
 *      names one single source, and a flood from many or spoofed sources is an alert, never
 *      thousands of bans; a profile duration of 0 means alert only;
 *   2. the target: an IPv4 address, an IPv6 address or its prefix (`ipv6Prefix`, /64 for repeat
 *      offenders through the `ipv6PrefixFor` hook);
 *   3. the lockout guard: loopback, own addresses, gateways, resolvers, SSH peers, the allowlist.
 *      A refused prefix falls back to the address alone when that is allowed;
 *   4. the cap on new bans per minute (a sliding 60 s window). Past it, a source whose /24 (/64)
 *      already holds a ban or a capped source in the window is banned as that one prefix (at most
 *      `maxWidenedBansPerMinute` of those); any other source is not banned and the decision says the
 *      cap was reached. So a minute never brings more than maxNewBansPerMinute + maxWidenedBansPerMinute
 *      new kernel entries, whatever arrives: a spoofed storm of "scans" costs an alert, not the ban set.
 *
 * Time is the caller's (`nowMs`: packet time in a replay, wall clock live), so replays are deterministic.
 * Escalation for repeat offenders is not here: `durationFor` is its hook.
 */
import type { ProfileName } from '../model/profile.js';
import type { IncidentKind, IncidentRecord } from '../model/incident.js';
import type { Ban } from '../model/ban.js';
import { parseAddress, prefixOf, type Network } from '../net/address-set.js';
import { capitalize, describeIncident, listText, type Decision, type Refusal } from '../model/decision.js';
import { humanDuration, utcMinute } from '../model/duration.js';
import type { Guard } from './lockout-guard.js';
import { checkDecideInput, policySchema, POLICY_PROFILES, type PolicySettings } from './settings.js';

export type { PolicySettings } from './settings.js';
export { POLICY_PROFILES } from './settings.js';

/** Checks settings against the config's own schema (decide/settings.ts; throws PW_ERR_DECIDE_INPUT naming the field) and returns a frozen copy. */
export function validatePolicySettings(s: PolicySettings): Readonly<PolicySettings> {
  const checked = checkDecideInput(policySchema, s, 'decide');
  Object.freeze(checked.banSeconds);
  return Object.freeze(checked);
}

/** A profile's settings with some replaced (validated, frozen). */
export function policySettings(profile: ProfileName, overrides: Partial<PolicySettings> = {}): Readonly<PolicySettings> {
  const base = POLICY_PROFILES[profile];
  return validatePolicySettings({ ...base, ...overrides, banSeconds: { ...base.banSeconds, ...overrides.banSeconds } });
}


export interface PolicyOptions {
  guard: Guard;
  /** Profile name for the reason text. */
  profile?: ProfileName;
  /** Escalation hook: a target's ban length given the profile's (repeat offenders: longer, capped, jittered). */
  durationFor?: (target: string, baseSeconds: number | null, incident: IncidentRecord) => number | null;
  /** Escalation hook: prefix length to ban an IPv6 source as (e.g. 64 for a repeat offender); default `ipv6Prefix`. */
  ipv6PrefixFor?: (address: string, incident: IncidentRecord) => number;
  /** Each refusal, cap and widening. Default: one JSON line on stderr. */
  log?: (event: DecideLogEvent) => void;
}

/** Counters since construction (metrics). */
export interface PolicyStats {
  decisions: number;
  newBans: number;
  widenedBans: number;
  /** Targets not banned because of the cap. */
  capped: number;
  /** Targets the guard refused. */
  refused: number;
}

/** PolicyStats as registry counters (`decide.*`), each with what it counts. */
export const PolicyCounterDoc: Readonly<Record<keyof PolicyStats, string>> = {
  decisions: 'incidents the policy decided on',
  newBans: 'new bans decided (a target not banned in the window)',
  widenedBans: 'bans widened to a prefix (IPv6 /64 and the like)',
  capped: 'targets not banned because of the new-ban cap',
  refused: 'targets the lockout guard refused to ban',
};
const POLICY_COUNTER_NAMES: Readonly<Record<keyof PolicyStats, string>> = {
  decisions: 'decide.decisions',
  newBans: 'decide.new_bans',
  widenedBans: 'decide.widened_bans',
  capped: 'decide.capped',
  refused: 'decide.refused',
};

const WINDOW_MS = 60_000;
/** Widened prefixes remembered past the window (so later sources in them are 'covered'); oldest dropped first. */
const MAX_WIDENED_REMEMBERED = 100_000;

type WindowEntry = { atMs: number; kind: 'ban' | 'widened' | 'capped'; target: string; prefix: string };

function stderrLog(event: DecideLogEvent): void {
  process.stderr.write(`${JSON.stringify({ 'event.kind': 'event', 'event.module': 'decide', ...event })}\n`);
}

export class DecisionPolicy {
  readonly settings: Readonly<PolicySettings>;
  readonly #guard: Guard;
  readonly #profile: ProfileName | undefined;
  readonly #durationFor: PolicyOptions['durationFor'];
  readonly #ipv6PrefixFor: PolicyOptions['ipv6PrefixFor'];
  readonly #log: (event: DecideLogEvent) => void;

  /** The sliding window, oldest first; entries before #head are gone. */
  #window: WindowEntry[] = [];
  #head = 0;
  #newBans = 0;
  #widened = 0;
  /** Targets banned in the window: banning one again refreshes it and is no new ban. */
  readonly #bannedInWindow = new Map<string, number>();
  /** Bans and capped sources in the window per widening prefix. */
  readonly #perPrefix = new Map<string, number>();
  /** Widened prefix bans still in force: prefix → expiry (ms; Infinity without expiry). */
  readonly #widenedActive = new Map<string, number>();
  readonly #stats: PolicyStats = { decisions: 0, newBans: 0, widenedBans: 0, capped: 0, refused: 0 };

  constructor(settings: PolicySettings, options: PolicyOptions) {
    this.settings = validatePolicySettings(settings);
    this.#guard = options.guard;
    this.#profile = options.profile;
    this.#durationFor = options.durationFor;
    this.#ipv6PrefixFor = options.ipv6PrefixFor;
    this.#log = options.log ?? stderrLog;
  }

  static forProfile(profile: ProfileName, options: Omit<PolicyOptions, 'profile'>, overrides: Partial<PolicySettings> = {}): DecisionPolicy {
    return new DecisionPolicy(policySettings(profile, overrides), { ...options, profile });
  }

  get stats(): Readonly<PolicyStats> {
    return { ...this.#stats };
  }

  /** The stats for the counter registry, as `decide.decisions`, `decide.new_bans` … */
  readonly counterGroup: CounterGroup = {
    group: 'decide',
    forEach: (visit) => {
      for (const key of Object.keys(POLICY_COUNTER_NAMES) as (keyof PolicyStats)[]) visit(POLICY_COUNTER_NAMES[key], this.#stats[key], PolicyCounterDoc[key]);
    },
  };

  /** New bans (and widened prefix bans) in the 60 s up to `nowMs`. */
  bansInWindow(nowMs: number): { newBans: number; widened: number } {
    this.#expire(nowMs);
    return { newBans: this.#newBans, widened: this.#widened };
  }

  /** The daemon lifted a ban (unban, expiry): later sources in a widened prefix are no longer covered by it. */
  forget(target: string): void {
    this.#widenedActive.delete(target);
    this.#bannedInWindow.delete(target);
  }

  decide(incident: IncidentRecord, nowMs: number): Decision {
    this.#stats.decisions++;
    this.#expire(nowMs);
    const description = capitalize(describeIncident(incident));
    const alert = (why: string): Decision => ({
      action: 'alert',
      targets: [],
      durationSeconds: null,
      reason: `${description}. Alert only: ${why}.`,
      incident,
      refused: [],
      bans: [],
    });

    const kind = incident.kind;
    let sources: string[];
    switch (kind) {
      case 'decoy-scan':
        return alert(
          `one of the ${incident.sources?.length ?? 0} candidates is the real scanner and the others are spoofed decoys, so none is banned (candidates: ${listText(incident.sources ?? [], 128)})`,
        );
      case 'flood':
        // Even a record that names a source: reflectors are real servers answering requests forged in the victim's name.
        if (incident.class === 'reflection') return alert('the reflectors are real servers answering requests forged in the target\'s name, so none is banned');
        if (incident.evidence.spoofed_sources === true) return alert('the sources are spoofed, so banning them would block bystanders and fill the ban set');
        if (incident['source.ip'] === undefined) return alert('the flood names no single source to ban');
        sources = [incident['source.ip']];
        break;
      case 'distributed-scan':
        sources = incident.sources ?? [];
        break;
      case 'scan':
        if (typeof incident.evidence.zombie === 'string') {
          return alert(`an idle scan: ${incident.evidence.zombie} is a zombie whose address the real scanner put on its probes, so it is not banned`);
        }
        sources = incident['source.ip'] !== undefined ? [incident['source.ip']] : [];
        break;
      case 'sweep':
        sources = incident['source.ip'] !== undefined ? [incident['source.ip']] : [];
        break;
      default: {
        const unknown: never = kind;
        return alert(`no policy for incidents of kind ${String(unknown)}`);
      }
    }
    if (sources.length === 0) return alert('the incident names no source');
    const base = this.settings.banSeconds[kind];
    if (base === 0) return alert(`the ${this.#profile ?? 'current'} profile only alerts on ${kind} incidents`);

    const targets: string[] = [];
    const refused: Refusal[] = [];
    const capped: string[] = [];
    const widened: { source: string; prefix: string }[] = [];
    const covered: { target: string; by: string }[] = [];
    const seen = new Set<string>();

    for (const source of sources) {
      let address: Network;
      try {
        address = parseAddress(source);
      } catch (err) {
        const why = `not an IP address (${(err as Error).message})`;
        refused.push({ target: source, why });
        this.#log({ 'event.action': 'bad-source', 'source.ip': source, 'rule.name': kind, reason: why });
        continue;
      }
      const v6Length = address.family === 6 ? (this.#ipv6PrefixFor?.(address.text, incident) ?? this.settings.ipv6Prefix) : 32;
      let target = address.family === 6 ? prefixOf(address, v6Length) : address;
      if (seen.has(target.text)) continue;
      seen.add(target.text);

      const widenNet = prefixOf(address, address.family === 4 ? this.settings.widenPrefix4 : this.settings.widenPrefix6);
      const coveredBy = this.#coveredBy(widenNet.text, nowMs);
      if (coveredBy !== null && widenNet.length <= target.length) {
        covered.push({ target: target.text, by: coveredBy });
        continue;
      }

      // The lockout guard. A refused prefix may still leave the address alone bannable.
      let protection = this.#guard.protects(target);
      if (protection !== null && target.length < (address.family === 4 ? 32 : 128)) {
        this.#refuse(refused, kind, target.text, protection.reason, protection.network, 'ban-refused');
        target = address;
        if (seen.has(target.text)) continue;
        seen.add(target.text);
        protection = this.#guard.protects(target);
      }
      if (protection !== null) {
        this.#refuse(refused, kind, target.text, protection.reason, protection.network, 'ban-refused');
        continue;
      }

      if (this.#bannedInWindow.has(target.text) || targets.includes(target.text)) {
        if (!targets.includes(target.text)) targets.push(target.text);
        continue;
      }
      if (this.#newBans < this.settings.maxNewBansPerMinute) {
        targets.push(target.text);
        this.#record(nowMs, 'ban', target.text, widenNet.text);
        continue;
      }

      // Past the cap: one prefix ban for a prefix already seen in the window, else no ban.
      const capWhy = `new-ban cap reached (${this.settings.maxNewBansPerMinute} new bans in the last 60 s)`;
      if (
        widenNet.length < target.length &&
        (this.#perPrefix.get(widenNet.text) ?? 0) > 0 &&
        this.#widened < this.settings.maxWidenedBansPerMinute
      ) {
        const prefixProtection = this.#guard.protects(widenNet);
        if (prefixProtection === null) {
          targets.push(widenNet.text);
          widened.push({ source: target.text, prefix: widenNet.text });
          this.#record(nowMs, 'widened', widenNet.text, widenNet.text);
          this.#stats.widenedBans++;
          this.#log({
            'event.action': 'ban-widened',
            'source.ip': widenNet.text,
            'rule.name': kind,
            reason: `${capWhy}; ${target.text} and earlier sources of ${widenNet.text} banned as one prefix`,
          });
          continue;
        }
        this.#refuse(refused, kind, target.text, `${capWhy}; widening to ${widenNet.text} refused: ${prefixProtection.reason}`, prefixProtection.network, 'ban-capped');
        this.#record(nowMs, 'capped', target.text, widenNet.text);
        capped.push(target.text);
        continue;
      }
      const why = widenNet.length < target.length && this.#widened >= this.settings.maxWidenedBansPerMinute
        ? `${capWhy}, and the widened-ban cap too (${this.settings.maxWidenedBansPerMinute} in the last 60 s)`
        : capWhy;
      refused.push({ target: target.text, why });
      this.#log({ 'event.action': 'ban-capped', 'source.ip': target.text, 'rule.name': kind, reason: why });
      this.#record(nowMs, 'capped', target.text, widenNet.text);
      capped.push(target.text);
    }

    this.#stats.capped += capped.length;
    // Each ban's own length (escalation makes a repeat offender's longer than the profile's), stated as it is.
    const bans: Ban[] = targets.map((t) => ({ target: t, timeoutSeconds: this.#durationFor !== undefined ? this.#durationFor(t, base, incident) : base }));
    const outcome: string[] = [];
    let action: Decision['action'];
    if (targets.length > 0) {
      action = 'ban';
      outcome.push(`Banned ${banLengths(bans, nowMs)}`);
      for (const w of widened) {
        outcome.push(`${w.source} widened to ${w.prefix} (new-ban cap of ${this.settings.maxNewBansPerMinute} per minute reached)`);
      }
    } else if (covered.length > 0 && refused.length === 0) {
      action = 'ignore';
      outcome.push('Nothing new');
    } else {
      action = 'alert';
      outcome.push('Alert only');
    }
    if (covered.length > 0) outcome.push(`already covered: ${covered.map((c) => `${c.target} by the ban of ${c.by}`).join(', ')}`);
    const guardRefused = refused.filter((r) => !capped.includes(r.target));
    if (guardRefused.length > 0) outcome.push(`not banned: ${guardRefused.map((r) => `${r.target} (${r.why})`).join('; ')}`);
    if (capped.length > 0) {
      outcome.push(`${listText(capped)} not banned: new-ban cap of ${this.settings.maxNewBansPerMinute} per minute reached`);
    }

    for (const ban of bans) {
      if (widened.some((w) => w.prefix === ban.target)) this.#remember(ban.target, ban.timeoutSeconds === null ? Infinity : nowMs + ban.timeoutSeconds * 1000);
    }
    return {
      action,
      targets: action === 'ban' ? targets : [],
      durationSeconds: action === 'ban' ? base : null,
      reason: `${description}. ${outcome.join('; ')}.`,
      incident,
      refused,
      bans,
    };
  }

  #refuse(refused: Refusal[], kind: IncidentKind, target: string, reason: string, network: string, action: 'ban-refused' | 'ban-capped'): void {
    const why = network === target || reason.startsWith('allowlist') || reason.includes(network) ? reason : `${reason} ${network}`;
    refused.push({ target, why });
    if (action === 'ban-refused') this.#stats.refused++;
    this.#log({ 'event.action': action, 'source.ip': target, 'rule.name': kind, reason: why });
  }

  #record(nowMs: number, kind: WindowEntry['kind'], target: string, prefix: string): void {
    this.#window.push({ atMs: nowMs, kind, target, prefix });
    if (kind === 'ban') {
      this.#newBans++;
      this.#stats.newBans++;
      this.#bannedInWindow.set(target, (this.#bannedInWindow.get(target) ?? 0) + 1);
    } else if (kind === 'widened') {
      this.#widened++;
      this.#bannedInWindow.set(target, (this.#bannedInWindow.get(target) ?? 0) + 1);
    }
    this.#perPrefix.set(prefix, (this.#perPrefix.get(prefix) ?? 0) + 1);
  }

  #expire(nowMs: number): void {
    const w = this.#window;
    while (this.#head < w.length && w[this.#head].atMs <= nowMs - WINDOW_MS) {
      const e = w[this.#head++];
      if (e.kind === 'ban') this.#newBans--;
      else if (e.kind === 'widened') this.#widened--;
      if (e.kind !== 'capped') decrement(this.#bannedInWindow, e.target);
      decrement(this.#perPrefix, e.prefix);
    }
    if (this.#head > 1024 && this.#head * 2 > w.length) {
      this.#window = w.slice(this.#head);
      this.#head = 0;
    }
  }

  #coveredBy(prefix: string, nowMs: number): string | null {
    const until = this.#widenedActive.get(prefix);
    if (until === undefined) return null;
    if (until <= nowMs) {
      this.#widenedActive.delete(prefix);
      return null;
    }
    return prefix;
  }

  #remember(prefix: string, untilMs: number): void {
    this.#widenedActive.delete(prefix);
    this.#widenedActive.set(prefix, untilMs);
    if (this.#widenedActive.size > MAX_WIDENED_REMEMBERED) {
      const oldest = this.#widenedActive.keys().next().value;
      if (oldest !== undefined) this.#widenedActive.delete(oldest);
    }
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/** 'a, b for 1h (until 2026-12-06 15:03 UTC); c for 4d 5h (until …)': the targets grouped by their ban's real length. */
export function banLengths(bans: readonly Ban[], nowMs: number): string {
  const groups = new Map<number | null, string[]>();
  for (const b of bans) {
    const g = groups.get(b.timeoutSeconds);
    if (g === undefined) groups.set(b.timeoutSeconds, [b.target]);
    else g.push(b.target);
  }
  const parts: string[] = [];
  for (const [seconds, targets] of groups) {
    parts.push(seconds === null ? `${listText(targets)} permanently` : `${listText(targets)} for ${humanDuration(seconds)} (until ${utcMinute(nowMs + seconds * 1000)})`);
  }
  return parts.join('; ');
}
