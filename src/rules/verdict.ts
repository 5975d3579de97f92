/**
 * What a ruling would do to an incident, in words, without doing it: `analyze` and `portwarden rules
 * test` print these; the daemon does the real thing through decide, enforce and the playbooks.
 */
import { humanDuration } from '../model/duration.js';
import type { IncidentKind, IncidentRecord } from '../model/incident.js';
import type { RuleAction, RuleRuling } from '../model/rule.js';

/** The addresses a ban of the incident would name. */
export function banTargets(r: IncidentRecord): string[] {
  if (r['source.ip'] !== undefined) return [r['source.ip']];
  return r.sources ?? [];
}

/** 'ban 203.0.113.5 for 2h', 'ignore (no ban, no alert)', 'playbook ssh-response' … */
export function wouldDo(action: RuleAction, r: IncidentRecord, profileBanSeconds: Readonly<Record<IncidentKind, number | null>>): string {
  switch (action.type) {
    case 'ban': {
      const targets = banTargets(r);
      const seconds = action.durationSeconds ?? profileBanSeconds[r.kind];
      const who = targets.length === 0 ? 'nobody (the incident names no source)' : targets.length <= 3 ? targets.join(', ') : `${targets.slice(0, 3).join(', ')} and ${targets.length - 3} more`;
      return `ban ${who} for ${humanDuration(seconds)}${action.escalate ? ' (longer for repeat offenders)' : ''}`;
    }
    case 'alert':
      return `alert ${action.channels.length === 0 ? 'every channel' : action.channels.join(', ')}, no ban`;
    case 'respond':
      return `answer ${banTargets(r).join(', ') || 'the sources'} per respond.mode, no ban`;
    case 'ignore':
      return 'ignore: no ban, no alert';
    case 'rate-limit':
      return `rate-limit ${banTargets(r).join(', ') || 'the sources'} to ${action.perSecond} new connections/s for ${humanDuration(action.durationSeconds)}`;
    case 'playbook':
      return `run playbook ${action.name}`;
  }
}

/** The record with its ruling, as analyze prints it. */
export function withRuling(r: IncidentRecord, ruling: RuleRuling | null, profileBanSeconds: Readonly<Record<IncidentKind, number | null>>): IncidentRecord & { 'rule.name'?: string; 'rule.action'?: string } {
  if (ruling === null) return r;
  return { ...r, 'rule.name': ruling.rule, 'rule.action': wouldDo(ruling.action, r, profileBanSeconds) };
}
