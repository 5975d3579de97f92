/**
 * detect → decide → enforce in one place: the pipeline hands each incident here, the decision policy
 * decides it, and a ban goes straight into the ban book. Everyone else who wants to know (alerts,
 * metrics, the responder) listens here or to the book; nobody in between has to pass the incident on.
 */
import type { Decider, Decision } from '../model/decision.js';
import type { IncidentRecord } from '../model/incident.js';
import { utcMinute } from '../model/duration.js';
import type { EventLogger } from '../model/logger.js';
import type { BanBook } from './ban-book.js';

/** Who wants to hear of each incident and its decision (alerts, metrics, the responder). */
export interface IncidentListener {
  incident?(record: IncidentRecord, decision: Decision): void;
}

export interface IncidentFlowOptions<Handle> {
  book: BanBook<Handle>;
  decider: Decider;
  /** Records the incident (the state database); the handle ties its bans to it. */
  record(entry: { atMs: number; record: IncidentRecord; decision: string; reason: string }): Handle;
  log: EventLogger;
  listeners: readonly IncidentListener[];
}

export class IncidentFlow<Handle> {
  /** The decision policy in force; reload sets a new one. */
  decider: Decider;
  readonly #o: IncidentFlowOptions<Handle>;
  #incidents = 0;

  constructor(options: IncidentFlowOptions<Handle>) {
    this.#o = options;
    this.decider = options.decider;
  }

  /** Incidents seen so far. */
  get incidents(): number {
    return this.#incidents;
  }

  /** The pipeline's incident callback. */
  readonly onIncident = (incident: { toRecord(): IncidentRecord }): void => {
    this.#incidents++;
    const record = incident.toRecord();
    const now = Date.now();
    const decided = this.decider.decide(record, now);
    // A target a wider ban already holds at least as long is not banned again (the book answers
    // "covered"): the incident's record and alerts say so rather than "Banned".
    const covered = decided.action === 'ban' ? this.#coveredNote(decided, now) : '';
    const decision = covered === '' ? decided : { ...decided, reason: `${decided.reason} ${covered}` };
    this.#o.log.info(
      {
        'event.kind': 'alert',
        'event.action': `incident-${record.kind}`,
        'source.ip': record['source.ip'],
        'destination.ip': record['destination.ip'],
        'destination.port': record['destination.port'],
        'rule.name': `${record.kind}/${record.class}`,
        sources: record.sources,
        'source.geo.country_iso_code': record['source.geo.country_iso_code'],
        'source.as.number': record['source.as.number'],
        'source.as.organization.name': record['source.as.organization.name'],
        'threat.feeds': record['threat.feeds'],
        decision: decision.action,
      },
      decision.reason,
    );
    for (const l of this.#o.listeners) l.incident?.(record, decision);
    const stored = this.#o.record({ atMs: Date.now(), record, decision: decision.action, reason: decision.reason });
    if (decision.action !== 'ban') return;
    for (const ban of decision.bans) this.#o.book.ban(ban.target, ban.timeoutSeconds, decision.reason, 'detection', this.decider.takeWhy(ban.target), stored);
  };

  /** 'Already covered, not banned again: T by P (expires …).' for the decision's bans a wider ban holds as long; '' if none. */
  #coveredNote(decision: Decision, nowMs: number): string {
    const notes: string[] = [];
    for (const ban of decision.bans) {
      const by = this.#o.book.coveringBan(ban.target);
      if (by === undefined) continue;
      const until = by.ban.expiresAtMs;
      if (until !== null && (ban.timeoutSeconds === null || until < nowMs + ban.timeoutSeconds * 1000)) continue; // the wider ban is lengthened instead
      notes.push(`${ban.target} by ${by.target} (${until === null ? 'permanent' : `expires ${utcMinute(until)}`})`);
    }
    return notes.length === 0 ? '' : `Already covered, not banned again: ${notes.join(', ')}.`;
  }
}
