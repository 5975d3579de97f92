import type { ContactEvidence } from './contact-evidence.js';
import { Incident, isoTime } from './incident.js';
import { formatAddressKey, formatPortKey, type AddressKey, type IncidentRecord } from '../model/incident.js';
import type { TrwModel } from './trw.js';
import { describeTrigger } from './vertical-scan.js';

/** One source probing one port (or echo) on many hosts. */
export class SweepIncident extends Incident {
  readonly kind = 'sweep' as const;

  constructor(
    readonly source: AddressKey,
    readonly portKey: number,
    readonly hosts: ContactEvidence<AddressKey>,
    readonly trw: TrwModel,
    nowMs: number,
    trigger: string,
  ) {
    super(hosts.firstMs, trigger);
    this.lastMs = nowMs;
  }

  toRecord(): IncidentRecord {
    const e = this.hosts;
    return e.attribute({
      kind: 'sweep',
      class: e.dominant(),
      'source.ip': formatAddressKey(this.source),
      'destination.port': formatPortKey(this.portKey),
      hosts: { count: e.distinct, sample: e.sample.map(formatAddressKey) },
      probes: e.probes,
      first_seen: isoTime(e.firstMs),
      last_seen: isoTime(e.lastMs),
      confidence: e.confidence(this.trw),
      evidence: { trigger: describeTrigger(this.trigger), ...e.evidence(this.trw) },
    });
  }
}
