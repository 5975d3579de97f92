/**
 * Baseline settings (the config's `baseline` section): what the behavioural baselines learn and when
 * a value is an anomaly. Off in `normal` (a fresh host has nothing learned, and an hourly alert is
 * noise until it has), on in `aggressive` and `paranoid`. Units are in the names.
 */
import { z } from 'zod';
import type { ProfileName } from '../../model/profile.js';
import { intRange, numberRange, onOff, positiveInt, section, type SettingsSection } from '../../model/settings-kit.js';

export interface BaselineSettings {
  /** Learn baselines and report anomalies. */
  enabled: boolean;
  /** An hour is anomalous when its value is at least this many times the seasonal median (3: the seeds' 300%)… */
  ratio: number;
  /** …and its robust z-score, (value − median) / (1.4826 · MAD, at least √median), is at least this. */
  minZ: number;
  /** …and it counts at least this many events (connections, sources, refusals) in the hour. */
  minCount: number;
  /** Bytes an hour must carry before a bytes anomaly is reported. */
  minBytes: number;
  /** Values of the same hour of the week needed before that hour is judged (weeks of history). */
  minSamples: number;
  /** Hours a metric must have learned before any of its hours is judged. */
  warmupHours: number;
  /** Time constant of the long-run level (EWMA) reported beside the seasonal median. */
  ewmaDays: number;
  /**
   * Metrics tracked at most (the host's 4, 3 per protected address, 2 per service port). Past it a new
   * address or port is not tracked (counted as `baseline.limit.metrics`); those tracked go on learning.
   */
  maxMetrics: number;
  /** How often the daemon writes the learned state to state.db (also at stop). */
  saveEveryMs: number;
  /**
   * Sweep thresholds follow each port's baseline (port-thresholds.ts): a busy port whose normal sources
   * reach many hosts, some failing, gets a host count only `falsePositiveRate` of them reach.
   */
  dynamicThresholds: boolean;
  /** Share of a busy port's normal sources allowed to reach the scan threshold (dynamicThresholds). */
  falsePositiveRate: number;
}

const off: BaselineSettings = {
  enabled: false,
  ratio: 3,
  minZ: 4,
  minCount: 20,
  minBytes: 1_000_000,
  minSamples: 3,
  warmupHours: 168,
  ewmaDays: 30,
  maxMetrics: 2_048,
  saveEveryMs: 300_000,
  dynamicThresholds: false,
  falsePositiveRate: 0.001,
};

export const BASELINE_PROFILES: Readonly<Record<ProfileName, BaselineSettings>> = {
  normal: off,
  aggressive: { ...off, enabled: true },
  paranoid: { ...off, enabled: true, ratio: 2.5, minZ: 3.5 },
};

export const baselineSchema = section({
  enabled: onOff,
  ratio: numberRange(1, 1_000),
  minZ: numberRange(0, 1_000),
  minCount: positiveInt,
  minBytes: positiveInt,
  minSamples: intRange(1, 8),
  warmupHours: intRange(0, 24 * 365),
  ewmaDays: positiveInt,
  maxMetrics: intRange(4, 1_000_000),
  saveEveryMs: positiveInt,
  dynamicThresholds: onOff,
  falsePositiveRate: numberRange(0.000001, 0.5),
}) satisfies z.ZodType<BaselineSettings>;

/** The config's `baseline` section. */
export const baselineSettings: SettingsSection<BaselineSettings> = {
  schema: baselineSchema,
  defaults: (profile) => ({ ...BASELINE_PROFILES[profile] }),
};
