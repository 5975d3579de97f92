/**
 * An address's reputation: its own offences (the offender record's decaying score, decide's
 * escalation: +1 per offence, halving every `decide.escalation.scoreHalfLifeSeconds`) plus the weight
 * of every feed that lists it (`feeds[].weight`). One number for `lookup` and for feed trust, with
 * the parts it is made of, so an operator can see why.
 */
import type { FeedMatch } from '../model/intel.js';

export interface Reputation {
  /** offenceScore + feedWeight. */
  score: number;
  /** The decayed offence score now (0: never banned, or long ago). */
  offenceScore: number;
  /** Lifetime offences. */
  offences: number;
  /** Sum of the weights of the feeds that list it (each feed once). */
  feedWeight: number;
  /** The feeds that list it, by name. */
  feeds: string[];
}

export function reputationOf(offender: { offences: number; score: number } | undefined, feeds: readonly FeedMatch[]): Reputation {
  const weights = new Map<string, number>();
  // A feed listing the address under two entries (a /32 and its /24) counts once, at its weight.
  for (const f of feeds) weights.set(f.feed, Math.max(weights.get(f.feed) ?? 0, f.weight));
  const feedWeight = [...weights.values()].reduce((a, b) => a + b, 0);
  const offenceScore = offender?.score ?? 0;
  return { score: round(offenceScore + feedWeight), offenceScore: round(offenceScore), offences: offender?.offences ?? 0, feedWeight: round(feedWeight), feeds: [...weights.keys()].sort() };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
