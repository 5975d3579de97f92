/**
 * A decision: what decide concluded about one incident, and why, in words an operator reads in a
 * log line or an alert. enforce applies `bans`; observe logs and alerts the whole object.
 */
import type { IncidentKind, IncidentRecord } from './incident.js';
import type { Ban } from './ban.js';

export type DecisionAction = 'ban' | 'alert' | 'ignore';

/** A target decide would have banned but did not, and why (lockout guard, new-ban cap, bad address). */
export interface Refusal {
  target: string;
  why: string;
}

export interface Decision {
  /** ban: `targets` go to the kernel; alert: report only; ignore: nothing new to do (already covered). */
  action: DecisionAction;
  /** Addresses and prefixes to ban, canonical text ('192.0.2.7', '2001:db8::/64'); empty unless action is 'ban'. */
  targets: string[];
  /** The profile's ban for this kind of incident, in seconds (null: no expiry); null unless action is 'ban'. */
  durationSeconds: number | null;
  /** One or two sentences: the incident (kind, class, ports, counts, trigger), then what was done and why. */
  reason: string;
  incident: IncidentRecord;
  /** Every target not banned, with why: lockout guard (loopback, own address, ssh peer, allowlist …), new-ban cap. */
  refused: Refusal[];
  /**
   * One ban per target with its own timeout: `durationSeconds` unless the escalation hook
   * (`durationFor`) says otherwise for a repeat offender. What enforce queues.
   */
  bans: Ban[];
}

const CLASS_TEXT: Record<string, string> = {
  syn: 'SYN',
  connect: 'connect',
  fin: 'FIN',
  null: 'NULL',
  xmas: 'Xmas',
  ack: 'ACK',
  maimon: 'Maimon',
  odd: 'odd-flag',
  udp: 'UDP',
  'ip-proto': 'IP-protocol',
  icmp: 'ICMP',
  mixed: 'mixed',
  reflection: 'reflection',
  arp: 'ARP',
  nd: 'neighbour-discovery',
};

/** 'a, b, c, … (N in all)' for lists that may be long; all of them up to `max`. */
export function listText(items: readonly string[], max = 20, total = items.length): string {
  if (items.length === 0) return 'none';
  const shown = items.slice(0, max).join(', ');
  return total > Math.min(items.length, max) ? `${shown}, … (${total} in all)` : shown;
}

function sampleText(summary: { count: number; sample: string[] } | undefined, unit: string): string {
  if (summary === undefined) return `? ${unit}`;
  const shown = summary.sample.slice(0, 3);
  const more = summary.count > shown.length ? ', …' : '';
  return `${summary.count} ${summary.count === 1 ? unit.replace(/s$/, '') : unit}${shown.length > 0 ? ` (${shown.join(', ')}${more})` : ''}`;
}

function plural(n: number, unit: string): string {
  return `${n} ${n === 1 ? unit : `${unit}s`}`;
}

/** The incident in one sentence, without a final period: what, from whom, against what, how much, why it opened. */
export function describeIncident(r: IncidentRecord): string {
  const cls = CLASS_TEXT[r.class] ?? r.class;
  const trigger = typeof r.evidence.trigger === 'string' ? `, trigger: ${r.evidence.trigger}` : '';
  const dst = r['destination.ip'] ?? '?';
  const sources = r.sources ?? [];
  switch (r.kind) {
    case 'scan':
      return `${cls} port scan from ${r['source.ip'] ?? '?'} against ${dst}: ${sampleText(r.ports, 'ports')}, ${plural(r.probes, 'probe')}${trigger}`;
    case 'sweep':
      return `${cls} sweep from ${r['source.ip'] ?? '?'}${r['destination.port'] !== undefined ? ` of ${r['destination.port']}` : ' of the link'}: ${sampleText(r.hosts, 'hosts')}, ${plural(r.probes, r.class === 'arp' || r.class === 'nd' ? 'request' : 'probe')}${trigger}`;
    case 'distributed-scan':
      return `distributed ${cls} scan against ${dst} by ${plural(sources.length, 'source')} (${listText(sources, 5)}): ${sampleText(r.ports, 'ports')}, ${plural(r.probes, 'probe')}${trigger}`;
    case 'decoy-scan':
      // The candidates are named by the decision (all of them), not here.
      return `decoy ${cls} scan against ${dst} from ${plural(sources.length, 'candidate source')}: ${sampleText(r.ports, 'ports')}, ${plural(r.probes, 'probe')}${trigger}`;
    case 'flood': {
      const port = r['destination.port'] !== undefined ? ` ${r['destination.port']}` : '';
      const distinct = typeof r.evidence.distinct_sources === 'number' ? r.evidence.distinct_sources : sources.length;
      const from =
        r['source.ip'] !== undefined
          ? `from ${r['source.ip']}`
          : `from ${plural(distinct, 'source')}${r.evidence.spoofed_sources === true ? ' (spoofed)' : ''}`;
      const peak = typeof r.evidence.peak_packets_per_second === 'number' ? `, peak ${r.evidence.peak_packets_per_second}/s` : '';
      return `${cls} flood against ${dst}${port} ${from}: ${plural(r.probes, 'packet')}${peak}${trigger}`;
    }
    default: {
      const kind: string = (r as { kind: string }).kind;
      return `${kind} incident (${cls}) against ${dst}: ${plural(r.probes, 'probe')}${trigger}`;
    }
  }
}

export function capitalize(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1);
}

/** Log events of decide, by `event.action`. */
export const DecideEvent = {
  'ban-refused': 'a target the lockout guard protects was not banned (reason says which protection)',
  'ban-capped': 'a target was not banned because the new-ban cap was reached',
  'ban-widened': 'past the new-ban cap, sources of one prefix were banned as that one prefix',
  'bad-source': 'an incident named a source that is not an IP address',
} as const;

export interface DecideLogEvent {
  'event.action': keyof typeof DecideEvent;
  /** The target concerned (address or prefix). */
  'source.ip': string;
  /** The incident kind. */
  'rule.name': IncidentKind;
  reason: string;
}

/** What decides: the policy, and the escalation's why of each ban's length. Replaced on reload. */
export interface Decider {
  decide(incident: IncidentRecord, nowMs: number): Decision;
  /** Why the ban of `target` has its length (once per decision; '' if nothing to say). */
  takeWhy(target: string): string;
  /** A target was unbanned: its new-ban bookkeeping (cap, widening) lets it go. */
  forget(target: string): void;
}
