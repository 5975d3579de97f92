/**
 * Anomaly-model settings (the config's `anomaly` section): an unsupervised score of each source's
 * behaviour against the sources this host has seen (model.ts). Off by default in every profile, and
 * alert-only: it reports sources the fixed detectors did not flag, for a person (or a rule) to judge.
 */
import { z } from 'zod';
import type { ProfileName } from '../../model/profile.js';
import { intRange, numberRange, onOff, positiveInt, section, type SettingsSection } from '../../model/settings-kit.js';

export interface AnomalySettings {
  enabled: boolean;
  /** A source whose score reaches this is reported (robust z units, see model.ts). */
  alertScore: number;
  /** Sources the model must have learned before it reports anything. */
  minTraining: number;
  /** Past sources the model remembers (a reservoir sample of the host's history). */
  historySize: number;
  /** Sources profiled at once; past it new sources are not profiled (counted). */
  maxSources: number;
  /** A source is scored once it has been quiet this long (and at the end of a capture). */
  idleMs: number;
  /** Probes a source must send before it is scored. */
  minProbes: number;
}

const defaults: AnomalySettings = {
  enabled: false,
  alertScore: 6,
  minTraining: 30,
  historySize: 4_096,
  maxSources: 65_536,
  idleMs: 300_000,
  minProbes: 3,
};

export const ANOMALY_PROFILES: Readonly<Record<ProfileName, AnomalySettings>> = { normal: defaults, aggressive: defaults, paranoid: defaults };

export const anomalySchema = section({
  enabled: onOff,
  alertScore: numberRange(0.5, 1_000),
  minTraining: positiveInt,
  historySize: intRange(16, 1_000_000),
  maxSources: positiveInt,
  idleMs: positiveInt,
  minProbes: positiveInt,
}) satisfies z.ZodType<AnomalySettings>;

/** The config's `anomaly` section. */
export const anomalySettings: SettingsSection<AnomalySettings> = {
  schema: anomalySchema,
  defaults: (profile) => ({ ...ANOMALY_PROFILES[profile] }),
};
