import type { DetectionSettings } from './settings.js';

/**
 * Threshold random walk (Jung, Paxson, Berger, Balakrishnan 2004): each first contact moves the log
 * likelihood ratio of "scanner" over "benign" up on failure and down on success. We keep walking after
 * the benign bound (clamped there, so a long benign history cannot hide a scan that follows it) and call
 * the walk a scanner once it reaches the upper bound.
 */
export class TrwModel {
  readonly failureStep: number;
  readonly successStep: number;
  readonly upper: number;
  readonly lower: number;

  constructor(trw: DetectionSettings['trw']) {
    const t0 = trw.benignSuccessProbability;
    const t1 = trw.scannerSuccessProbability;
    const pd = trw.detectionProbability;
    const pf = trw.falsePositiveProbability;
    this.failureStep = Math.log((1 - t1) / (1 - t0));
    this.successStep = Math.log(t1 / t0);
    this.upper = Math.log(pd / pf);
    this.lower = Math.log((1 - pd) / (1 - pf));
  }

  step(logRatio: number, success: boolean): number {
    const next = logRatio + (success ? this.successStep : this.failureStep);
    return next < this.lower ? this.lower : next;
  }

  /** Posterior probability of "scanner" with even prior odds, for the incident's confidence. */
  confidence(logRatio: number): number {
    const p = 1 / (1 + Math.exp(-logRatio));
    return Math.min(0.999, Math.round(p * 1000) / 1000);
  }
}
