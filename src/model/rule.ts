import { humanDuration } from './duration.js';
import type { IncidentRecord } from './incident.js';

/**
 * What a user rule (src/rules/) concluded about an incident, in the words the incident flow (enforce),
 * decide and the playbooks share. A ruling replaces the profile's default only where it says so: a
 * `ban` ruling still goes through the lockout guard and the new-ban cap.
 */

/** A rule's action, as data (the rule file's `action:`). */
export type RuleAction =
  | { type: 'ban'; /** null: the profile's length for the incident's kind. */ durationSeconds: number | null; /** Repeat offenders get longer bans (decide's escalation). */ escalate: boolean }
  | { type: 'alert'; /** Alert channel names (alerts.channels[].name); empty: every channel. */ channels: string[] }
  | { type: 'respond' }
  | { type: 'ignore' }
  | { type: 'rate-limit'; perSecond: number; durationSeconds: number }
  | { type: 'playbook'; name: string };

export type RuleActionType = RuleAction['type'];

/** The first rule that matched an incident (or made it, for a probe rule's bucket) and its action. */
export interface RuleRuling {
  rule: string;
  action: RuleAction;
}

/** Hands each incident record to the user rules before decide; null when no rule matched. */
export interface IncidentRules {
  rule(record: IncidentRecord): RuleRuling | null;
}

/** One-line text of an action, for logs and `rules test`: 'ban 2h', 'alert (slack)', 'playbook ssh'. */
export function describeAction(a: RuleAction): string {
  switch (a.type) {
    case 'ban':
      return `ban ${a.durationSeconds === null ? "(the profile's length)" : humanDuration(a.durationSeconds)}${a.escalate ? ', escalating' : ''}`;
    case 'alert':
      return a.channels.length === 0 ? 'alert' : `alert (${a.channels.join(', ')})`;
    case 'rate-limit':
      return `rate-limit ${a.perSecond}/s for ${humanDuration(a.durationSeconds)}`;
    case 'playbook':
      return `playbook ${a.name}`;
    default:
      return a.type;
  }
}
