/**
 * Incidents and decisions as ECS JSON documents for a SIEM reading one JetStream subject for the
 * whole fleet: each names the host that saw it (`observer.hostname`) and is one line of JSON.
 */
import type { Decision } from '../model/decision.js';
import type { IncidentRecord } from '../model/incident.js';

export type EcsDocument = Record<string, unknown>;

export function incidentDocument(host: string, incidentId: string, record: IncidentRecord, decision: Decision, nowMs: number): EcsDocument {
  return {
    ...record,
    '@timestamp': new Date(nowMs).toISOString(),
    'ecs.version': '8.11.0',
    'event.kind': 'alert',
    'event.category': ['intrusion_detection', 'network'],
    'event.type': ['info'],
    'event.action': `incident-${record.kind}`,
    'event.id': incidentId,
    'event.reason': decision.reason,
    'event.start': record.first_seen,
    'event.end': record.last_seen,
    'observer.hostname': host,
    'observer.product': 'portwarden',
    'rule.name': `${record.kind}/${record.class}`,
    'portwarden.decision': decision.action,
    'portwarden.targets': decision.targets,
  };
}

export function decisionDocument(host: string, action: 'ban' | 'unban', target: string, fields: { seconds?: number | null; reason?: string; origin?: string; incidentId?: string | null }, nowMs: number): EcsDocument {
  return {
    '@timestamp': new Date(nowMs).toISOString(),
    'ecs.version': '8.11.0',
    'event.kind': 'event',
    'event.category': ['network'],
    'event.type': [action === 'ban' ? 'denied' : 'allowed'],
    'event.action': action,
    'event.reason': fields.reason,
    'event.duration': fields.seconds === undefined || fields.seconds === null ? undefined : fields.seconds * 1e9,
    'event.end': fields.seconds === undefined || fields.seconds === null ? undefined : new Date(nowMs + fields.seconds * 1000).toISOString(),
    'event.id': fields.incidentId ?? undefined,
    'source.ip': target.includes('/') ? undefined : target,
    'source.address': target,
    'observer.hostname': host,
    'observer.product': 'portwarden',
    'portwarden.origin': fields.origin,
  };
}
