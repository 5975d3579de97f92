import type { FeedView } from '../model/control.js';
import type { FeedReport } from '../intel/feeds/stage.js';

/** A feed's report as the control protocol carries it (`portwarden feeds`). */
export function feedView(r: FeedReport): FeedView {
  return {
    name: r.name,
    format: r.format,
    action: r.action,
    entries: r.entries,
    ranges: r.ranges,
    refreshSeconds: r.refreshSeconds,
    ageSeconds: r.ageSeconds,
    lastFetch: r.lastFetchMs === null ? null : new Date(r.lastFetchMs).toISOString(),
    lastError: r.lastError,
    fetchErrors: r.fetchErrors,
    badLines: r.badLines,
    matches: r.matches,
    stale: r.stale,
  };
}
