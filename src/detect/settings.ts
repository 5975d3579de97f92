/**
 * Detection settings: their schema, and the three built-in profiles. Every threshold the detectors
 * read lives here, with its unit in its name; a config file overrides any of them (the `detection`
 * section, assembled by src/config/).
 *
 * Profiles differ in how much evidence they want before an incident: `normal` suits a server on the
 * internet, `aggressive` reports smaller and slower scans, `paranoid` reports almost any probing.
 */
import { z } from 'zod';
import type { ProfileName } from '../model/profile.js';
import { alsoWhenInvalid, isRecord, positiveInt, probability, ratio, REQUIRED, describe, section, type CrossFieldParams, type SettingsSection } from '../model/settings-kit.js';

export interface WindowThreshold {
  /** Length of the sliding window. */
  windowMs: number;
  /** Distinct ports (scan) or hosts (sweep) first contacted within the window that make an incident. */
  count: number;
}

export interface DetectionSettings {
  /** A first contact with no answer after this long counts as a failure (silent port or host). */
  probeTimeoutMs: number;
  /** Threshold random walk (Jung et al. 2004) over each source's first contacts. */
  trw: {
    /** θ0: chance that a benign source's first contact succeeds. */
    benignSuccessProbability: number;
    /** θ1: chance that a scanner's first contact succeeds. */
    scannerSuccessProbability: number;
    /** PD: wanted detection probability; with PF it sets the upper threshold η1 = PD / PF. */
    detectionProbability: number;
    /** PF: tolerated false-positive probability. */
    falsePositiveProbability: number;
  };
  scan: {
    /** A vertical scan needs at least this many distinct ports on one target, whatever the TRW says. */
    minPorts: number;
    /** Distinct ports on one target that make a scan even before the TRW decides (slow scans, padded scans). */
    windows: WindowThreshold[];
    /** Share of failed first contacts a window threshold also needs (a client of many open services is no scanner). */
    minFailureRatio: number;
  };
  sweep: {
    /** A sweep needs at least this many distinct hosts on one port, whatever the TRW says. */
    minHosts: number;
    windows: WindowThreshold[];
    minFailureRatio: number;
  };
  distributed: {
    /** Window in which the member sources' failed probes of one target are gathered. */
    windowMs: number;
    minSources: number;
    /** Distinct ports the members probed together. */
    minPorts: number;
    /** Share of those ports probed by exactly one member: disjoint slices of one port range. */
    minDisjointRatio: number;
  };
  decoy: {
    /** Probes with the same fingerprint from different sources this close together are one probe sent with decoys. */
    windowMs: number;
    /** More sources than this with one fingerprint is no decoy group (nmap allows up to 128 decoys). */
    maxSources: number;
    /** Distinct ports the group must probe together before it is reported. */
    minPorts: number;
  };
  flood: {
    /** Rates are counted per window of this length. */
    windowMs: number;
    /** SYNs per second to one target (all sources together), or from one source to one target. */
    synPerSecond: number;
    udpPerSecond: number;
    icmpPerSecond: number;
    /**
     * Answers a target never asked for (SYN-ACKs, RSTs, DNS/NTP/… responses, ICMP errors quoting
     * packets it never sent) per second to it, from all reflectors together: a reflection flood.
     */
    reflectionPerSecond: number;
    /**
     * Share of a window's SYNs whose handshakes completed (or of its UDP flows the target answered) at
     * or above which the rate is a busy server, not a flood.
     */
    maxCompletedRatio: number;
    /** A flood aims at few ports: distinct ports per window must stay at or under packets × this ratio. */
    maxPortRatio: number;
  };
  limits: {
    /**
     * Slots in each of the two record tables: (source, target) for vertical scans and (source, port)
     * for sweeps. Rounded up to a power of two; when a probe chain is full its least recently used
     * record is forgotten (counted as `limit.records`).
     */
    maxRecords: number;
    /** Targets tracked at once (floods, distributed scans). */
    maxTargets: number;
    /** Flow slots (rounded up to a power of two); a full probe chain evicts its oldest flow. */
    maxFlows: number;
    /**
     * Records holding evidence (two or more ports, or a sweep with a failure) at once; past it a record
     * stays counted only (`limit.evidence`): memory stays bounded and detection fails open.
     */
    maxEvidenceRecords: number;
    /**
     * Ports and hosts all records together remember (first-seen times for the windows, and for
     * (source, target) records the ports themselves, so each counts once); past it items are counted
     * only (`limit.items`).
     */
    maxRememberedItems: number;
    /** Forget a record with evidence (two or more ports or hosts) after this long without traffic: the slow-scan horizon. */
    sourceIdleMs: number;
    /** Forget a record of a single first contact after this long without traffic. */
    lightSourceIdleMs: number;
  };
}


const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const normal: DetectionSettings = {
  probeTimeoutMs: 5_000,
  trw: {
    benignSuccessProbability: 0.8,
    scannerSuccessProbability: 0.2,
    detectionProbability: 0.99,
    falsePositiveProbability: 0.01,
  },
  scan: {
    minPorts: 5,
    windows: [
      { windowMs: MINUTE, count: 15 },
      { windowMs: HOUR, count: 25 },
      { windowMs: 6 * HOUR, count: 40 },
    ],
    minFailureRatio: 0.5,
  },
  sweep: {
    minHosts: 10,
    windows: [
      { windowMs: MINUTE, count: 30 },
      { windowMs: HOUR, count: 60 },
      { windowMs: 6 * HOUR, count: 100 },
    ],
    minFailureRatio: 0.5,
  },
  distributed: { windowMs: 5 * MINUTE, minSources: 3, minPorts: 20, minDisjointRatio: 0.8 },
  decoy: { windowMs: 50, maxSources: 128, minPorts: 5 },
  flood: {
    windowMs: 1_000,
    synPerSecond: 1_000,
    udpPerSecond: 2_000,
    icmpPerSecond: 500,
    reflectionPerSecond: 200,
    maxCompletedRatio: 0.5,
    maxPortRatio: 0.125,
  },
  limits: {
    maxRecords: 1 << 18,
    maxTargets: 50_000,
    maxFlows: 1 << 18,
    maxEvidenceRecords: 50_000,
    maxRememberedItems: 2_000_000,
    sourceIdleMs: 6 * HOUR,
    lightSourceIdleMs: 15 * MINUTE,
  },
};

const aggressive: DetectionSettings = {
  ...normal,
  trw: { ...normal.trw, falsePositiveProbability: 0.02 },
  scan: {
    minPorts: 4,
    windows: [
      { windowMs: MINUTE, count: 10 },
      { windowMs: HOUR, count: 15 },
      { windowMs: 24 * HOUR, count: 25 },
    ],
    minFailureRatio: 0.4,
  },
  sweep: {
    minHosts: 8,
    windows: [
      { windowMs: MINUTE, count: 20 },
      { windowMs: HOUR, count: 40 },
      { windowMs: 24 * HOUR, count: 60 },
    ],
    minFailureRatio: 0.4,
  },
  distributed: { ...normal.distributed, windowMs: 15 * MINUTE, minPorts: 15 },
  flood: { ...normal.flood, synPerSecond: 500, udpPerSecond: 1_000, icmpPerSecond: 200, reflectionPerSecond: 100 },
  limits: { ...normal.limits, sourceIdleMs: 24 * HOUR, lightSourceIdleMs: HOUR },
};

const paranoid: DetectionSettings = {
  ...normal,
  trw: { ...normal.trw, detectionProbability: 0.95, falsePositiveProbability: 0.05 },
  scan: {
    minPorts: 3,
    windows: [
      { windowMs: MINUTE, count: 6 },
      { windowMs: HOUR, count: 10 },
      { windowMs: 24 * HOUR, count: 15 },
    ],
    minFailureRatio: 0.3,
  },
  sweep: {
    minHosts: 5,
    windows: [
      { windowMs: MINUTE, count: 10 },
      { windowMs: HOUR, count: 20 },
      { windowMs: 24 * HOUR, count: 30 },
    ],
    minFailureRatio: 0.3,
  },
  distributed: { ...normal.distributed, windowMs: HOUR, minSources: 2, minPorts: 10 },
  flood: { ...normal.flood, synPerSecond: 200, udpPerSecond: 500, icmpPerSecond: 100, reflectionPerSecond: 50 },
  limits: { ...normal.limits, sourceIdleMs: 24 * HOUR, lightSourceIdleMs: HOUR },
};

export const DETECTION_PROFILES: Readonly<Record<ProfileName, DetectionSettings>> = { normal, aggressive, paranoid };

// ---- the schema ----

/**
 * A count of distinct ports, hosts or sources that makes a group: at least 2. A record holding one
 * port or host is never judged (first-contact.ts), and one source is no distributed scan.
 */
const groupSize = positiveInt.superRefine((value, ctx) => {
  if (Number.isInteger(value) && value === 1) ctx.addIssue({ code: 'custom', input: value, message: 'must be at least 2, got 1' });
});

const windowThresholdSchema = section({ windowMs: positiveInt, count: positiveInt });

/**
 * Window thresholds, shortest first. Each window must be strictly longer than the one before it,
 * reported on the element that breaks the order.
 */
const windowsSchema = z
  .array(windowThresholdSchema, {
    error: (issue) => {
      if (issue.code !== 'invalid_type') return undefined;
      return issue.input === undefined ? REQUIRED : `must be a list of windows, got ${describe(issue.input)}`;
    },
  })
  .min(1, { error: 'must list at least one window' })
  .superRefine((windows, ctx) => {
    for (let i = 1; i < windows.length; i++) {
      const previous: unknown = windows[i - 1]?.windowMs;
      const current: unknown = windows[i]?.windowMs;
      // A window that is already wrong on its own has its own problem; don't pile on.
      if (typeof previous !== 'number' || typeof current !== 'number') continue;
      if (current <= previous) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          input: windows[i],
          message: `windowMs ${current} must be greater than the previous window's ${previous} (list windows shortest first)`,
        });
      }
    }
  }, alsoWhenInvalid(Array.isArray));

function isProbability(value: unknown): value is number {
  return typeof value === 'number' && value > 0 && value < 1;
}

const trwSchema = section({
  benignSuccessProbability: probability,
  scannerSuccessProbability: probability,
  detectionProbability: probability,
  falsePositiveProbability: probability,
}).superRefine((trw, ctx) => {
  // Only compare values that are valid on their own; an out-of-range value already has a problem.
  const { benignSuccessProbability: theta0, scannerSuccessProbability: theta1 } = trw;
  if (isProbability(theta0) && isProbability(theta1) && !(theta1 < theta0)) {
    ctx.addIssue({
      code: 'custom',
      path: ['scannerSuccessProbability'],
      input: theta1,
      params: { alsoAt: ['benignSuccessProbability'] } satisfies CrossFieldParams,
      message: `scannerSuccessProbability (θ1) ${theta1} must be less than benignSuccessProbability (θ0) ${theta0}: a scanner's first contacts succeed less often than a benign source's`,
    });
  }
  const { detectionProbability: pd, falsePositiveProbability: pf } = trw;
  if (isProbability(pd) && isProbability(pf) && !(pf < pd)) {
    ctx.addIssue({
      code: 'custom',
      path: ['falsePositiveProbability'],
      input: pf,
      params: { alsoAt: ['detectionProbability'] } satisfies CrossFieldParams,
      message: `falsePositiveProbability (PF) ${pf} must be less than detectionProbability (PD) ${pd}, or the upper threshold PD / PF is not above 1`,
    });
  }
}, alsoWhenInvalid(isRecord));

export const detectionSchema = section({
  probeTimeoutMs: positiveInt,
  trw: trwSchema,
  scan: section({ minPorts: groupSize, windows: windowsSchema, minFailureRatio: ratio }),
  sweep: section({ minHosts: groupSize, windows: windowsSchema, minFailureRatio: ratio }),
  distributed: section({
    windowMs: positiveInt,
    minSources: groupSize,
    minPorts: groupSize,
    minDisjointRatio: ratio,
  }),
  decoy: section({ windowMs: positiveInt, maxSources: positiveInt, minPorts: positiveInt }),
  flood: section({
    windowMs: positiveInt,
    synPerSecond: positiveInt,
    udpPerSecond: positiveInt,
    icmpPerSecond: positiveInt,
    reflectionPerSecond: positiveInt,
    maxCompletedRatio: ratio,
    maxPortRatio: ratio,
  }),
  limits: section({
    maxRecords: positiveInt,
    maxTargets: positiveInt,
    maxFlows: positiveInt,
    maxEvidenceRecords: positiveInt,
    maxRememberedItems: positiveInt,
    sourceIdleMs: positiveInt,
    lightSourceIdleMs: positiveInt,
  }),
}) satisfies z.ZodType<DetectionSettings>;

/** The config's `detection` section. */
export const detectionSettings: SettingsSection<DetectionSettings> = {
  schema: detectionSchema,
  defaults: (profile) => structuredClone(DETECTION_PROFILES[profile]),
};
