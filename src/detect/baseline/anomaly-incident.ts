import { Incident, isoTime } from '../incident.js';
import type { AnomalyMetric, IncidentRecord } from '../../model/incident.js';

/** The metrics baselines learn (the anomaly model's `behaviour` is not one). */
export type BaselineMetric = Exclude<AnomalyMetric, 'behaviour'>;

/** Where a metric is measured: the whole host, one protected address, or one service port of it. */
export type MetricScope = 'host' | 'address' | 'port';

/** What the hour's value was measured against. */
export interface AnomalyFacts {
  metric: BaselineMetric;
  scope: MetricScope;
  /** The protected address (scope address or port). */
  address: string | null;
  /** `tcp/443` (scope port). */
  port: string | null;
  hourOfWeek: number;
  observed: number;
  /** The seasonal median of this hour of the week. */
  expected: number;
  mad: number;
  ewma: number;
  z: number;
  samples: number;
}

const UNIT: Readonly<Record<BaselineMetric, string>> = { connections: 'new connections', sources: 'distinct sources', probes: 'refused first contacts', bytes: 'bytes' };

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * A metric far above what it learned for this hour of the week. Names no source (a change in a
 * metric, not an attacker), so decide alerts; a surge that lasts several hours is one incident whose
 * last_seen moves on and whose peak is kept.
 */
export class AnomalyIncident extends Incident {
  readonly kind = 'anomaly' as const;
  facts: AnomalyFacts;
  /** Hours in a row judged anomalous. */
  hours = 1;

  constructor(facts: AnomalyFacts, hourStartMs: number, hourEndMs: number) {
    super(hourStartMs, `ratio ${round(facts.observed / Math.max(facts.expected, 1))}x`);
    this.lastMs = hourEndMs;
    this.facts = facts;
  }

  /** Another anomalous hour of the same metric right after this one. */
  extend(facts: AnomalyFacts, hourEndMs: number): void {
    this.hours++;
    this.lastMs = hourEndMs;
    if (facts.observed > this.facts.observed) this.facts = facts;
  }

  /** One line: what, where, observed against expected. */
  describe(): string {
    const f = this.facts;
    const where = f.scope === 'host' ? 'the host' : f.scope === 'address' ? f.address! : `${f.address!} ${f.port!}`;
    return `${round(f.observed, 0)} ${UNIT[f.metric]} an hour at ${where}, expected ${round(f.expected, 1)} (hour ${f.hourOfWeek} of the week; ${round(f.observed / Math.max(f.expected, 1), 1)}x, z ${round(f.z, 1)})`;
  }

  toRecord(): IncidentRecord {
    const f = this.facts;
    const record: IncidentRecord = {
      kind: 'anomaly',
      class: f.metric,
      probes: Math.round(f.observed),
      first_seen: isoTime(this.firstMs),
      last_seen: isoTime(this.lastMs),
      // How far past the thresholds it is, bounded like the detectors' confidences.
      confidence: round(Math.min(0.99, 0.5 + 0.05 * Math.max(0, f.z)), 2),
      evidence: {
        trigger: this.describe(),
        metric: f.metric,
        scope: f.scope,
        observed: round(f.observed),
        expected: round(f.expected),
        mad: round(f.mad),
        ewma_30d: round(f.ewma),
        ratio: round(f.observed / Math.max(f.expected, 1)),
        robust_z: round(f.z),
        samples: f.samples,
        hour_of_week: f.hourOfWeek,
        hours: this.hours,
      },
    };
    if (f.address !== null) record['destination.ip'] = f.address;
    if (f.port !== null) record['destination.port'] = f.port;
    return record;
  }
}
