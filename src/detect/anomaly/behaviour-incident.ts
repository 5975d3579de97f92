import { Incident, isoTime } from '../incident.js';
import type { IncidentRecord } from '../../model/incident.js';
import { FEATURE_NAMES, type SourceProfile } from './features.js';
import type { Score } from './model.js';

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** A source whose behaviour the anomaly model scored past its alert level (kind `anomaly`, class `behaviour`). */
export class BehaviourIncident extends Incident {
  readonly kind = 'anomaly' as const;

  constructor(
    readonly profile: SourceProfile,
    readonly features: Float64Array,
    readonly score: Score,
    readonly alertScore: number,
    readonly trainedOn: number,
    nowMs: number,
  ) {
    super(profile.firstMs, 'model');
    this.lastMs = Math.max(profile.lastMs, Math.min(nowMs, profile.lastMs));
  }

  toRecord(): IncidentRecord {
    const features: Record<string, number> = {};
    const z: Record<string, number> = {};
    FEATURE_NAMES.forEach((name, i) => {
      features[name] = round(this.features[i]);
      z[name] = round(this.score.z[i]);
    });
    const top = FEATURE_NAMES.map((name, i) => [name, this.score.z[i]] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([name, v]) => `${name} z ${round(v)}`);
    return {
      kind: 'anomaly',
      class: 'behaviour',
      'source.ip': this.profile.source,
      probes: this.profile.probes,
      first_seen: isoTime(this.profile.firstMs),
      last_seen: isoTime(this.profile.lastMs),
      confidence: round(Math.min(0.95, 0.5 + 0.05 * (this.score.score - this.alertScore))),
      evidence: {
        trigger: `behaviour score ${round(this.score.score)} over alert level ${this.alertScore} against ${this.trainedOn} sources of this host's history (${top.join(', ')})`,
        score: round(this.score.score),
        alert_score: this.alertScore,
        trained_on: this.trainedOn,
        features,
        robust_z: z,
      },
    };
  }
}
