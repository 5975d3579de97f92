/**
 * The dashboard's incident timeline: the recent incidents (the observatory's in-memory ring) counted per
 * time bucket and per kind, so the page can stack them. Bounded: at most MAX_BUCKETS buckets, whatever the
 * window asked for; incidents older than the ring are simply not there (`oldest` says how far it reaches).
 */
import type { RecentIncident } from './recent-incidents.js';

export interface TimelineBucket {
  /** Start of the bucket (ISO, UTC). */
  start: string;
  /** Incidents per kind in the bucket; kinds without any are left out. */
  counts: Record<string, number>;
}

export interface IncidentTimeline {
  bucketSeconds: number;
  /** Every kind that occurs, most frequent first. */
  kinds: string[];
  buckets: TimelineBucket[];
  /** The oldest incident the ring still holds (null: none): before it the timeline knows nothing. */
  oldest: string | null;
}

const MAX_BUCKETS = 120;

/** `windowSeconds` up to now, in equal buckets (60 s at least), oldest first. */
export function incidentTimeline(recent: readonly RecentIncident[], windowSeconds: number, nowMs: number, buckets = 60): IncidentTimeline {
  const n = Math.min(MAX_BUCKETS, Math.max(1, Math.floor(buckets)));
  const bucketMs = Math.max(60, Math.ceil(windowSeconds / n)) * 1000;
  // Buckets end at the next whole bucket boundary after now, so they stay put between refreshes.
  const endMs = (Math.floor(nowMs / bucketMs) + 1) * bucketMs;
  const startMs = endMs - n * bucketMs;
  const out: TimelineBucket[] = Array.from({ length: n }, (_, i) => ({ start: new Date(startMs + i * bucketMs).toISOString(), counts: {} }));
  const totals = new Map<string, number>();
  let oldest: string | null = null;
  for (const e of recent) {
    oldest = e.at; // newest first: the last one seen is the oldest
    const at = Date.parse(e.at);
    if (at < startMs || at >= endMs) continue;
    const counts = out[Math.floor((at - startMs) / bucketMs)].counts;
    const kind = e.record.kind;
    counts[kind] = (counts[kind] ?? 0) + 1;
    totals.set(kind, (totals.get(kind) ?? 0) + 1);
  }
  const kinds = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
  return { bucketSeconds: bucketMs / 1000, kinds, buckets: out, oldest };
}
