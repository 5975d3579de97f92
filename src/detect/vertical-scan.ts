import type { ContactEvidence } from './contact-evidence.js';
import { Incident, isoTime, windowName } from './incident.js';
import { formatAddressKey, formatPortKey, type AddressKey, type IncidentRecord } from '../model/incident.js';
import type { TrwModel } from './trw.js';

/**
 * One source probing many ports of one target. An idle scan (nmap -sI) is one too, with a difference:
 * the source address is a zombie's (evidence.zombie, evidence.idle_scan), whose global IP ID counter the
 * real scanner reads elsewhere; the record then names no source, so nobody innocent is banned.
 */
export class ScanIncident extends Incident {
  readonly kind = 'scan' as const;

  constructor(
    readonly source: AddressKey,
    readonly target: AddressKey,
    readonly ports: ContactEvidence<number>,
    readonly trw: TrwModel,
    nowMs: number,
    trigger: string,
  ) {
    super(ports.firstMs, trigger);
    this.lastMs = nowMs;
  }

  toRecord(): IncidentRecord {
    const e = this.ports;
    const record = e.attribute({
      kind: 'scan',
      class: e.dominant(),
      'source.ip': formatAddressKey(this.source),
      'destination.ip': formatAddressKey(this.target),
      ports: { count: e.distinct, sample: e.sample.map(formatPortKey) },
      probes: e.probes,
      first_seen: isoTime(e.firstMs),
      last_seen: isoTime(e.lastMs),
      confidence: e.confidence(this.trw),
      evidence: { trigger: describeTrigger(this.trigger), ...e.evidence(this.trw) },
    });
    if (e.zombie()) {
      delete record['source.ip'];
      record.evidence.idle_scan = true;
      record.evidence.zombie = formatAddressKey(this.source);
    }
    return record;
  }
}

export function describeTrigger(trigger: string): string {
  if (!trigger.startsWith('window:')) return trigger;
  return `distinct in ${windowName(Number(trigger.slice(7)))}`;
}
