import type { IncidentRecord } from '../model/incident.js';

/** One incident as the dashboard shows it: the record, what was decided, and when (wall clock). */
export interface RecentIncident {
  id: number;
  at: string;
  record: IncidentRecord;
  decision: string;
  reason: string;
}

export interface Offender {
  source: string;
  incidents: number;
  lastSeen: string;
}

const MINUTE_MS = 60_000;
/** Per-minute counts kept for the chart: one day. */
const MINUTES_KEPT = 24 * 60;

/**
 * The most recent incidents in a fixed ring (the oldest overwritten), and incidents per minute for the
 * last day, for the dashboard. Bounded whatever the attack: `capacity` records and one day of minute
 * counts. Durable history is the state store's job, not this one's.
 */
export class RecentIncidents {
  readonly #ring: (RecentIncident | undefined)[];
  #next = 0;
  #ids = 0;
  readonly #perMinute = new Uint32Array(MINUTES_KEPT);
  /** The minute (ms / 60000) each slot of #perMinute counts; a stale slot is reset when reused. */
  readonly #slotMinute = new Float64Array(MINUTES_KEPT).fill(-1);

  constructor(readonly capacity: number) {
    this.#ring = new Array<RecentIncident | undefined>(capacity);
  }

  add(record: IncidentRecord, decision: string, reason: string, nowMs = Date.now()): RecentIncident {
    const entry: RecentIncident = { id: ++this.#ids, at: new Date(nowMs).toISOString(), record, decision, reason };
    this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.capacity;
    const minute = Math.floor(nowMs / MINUTE_MS);
    const slot = minute % MINUTES_KEPT;
    if (this.#slotMinute[slot] !== minute) {
      this.#slotMinute[slot] = minute;
      this.#perMinute[slot] = 0;
    }
    this.#perMinute[slot]++;
    return entry;
  }

  /** Newest first, at most `limit`. */
  list(limit = this.capacity): RecentIncident[] {
    const out: RecentIncident[] = [];
    for (let i = 1; i <= this.capacity && out.length < limit; i++) {
      const e = this.#ring[(this.#next - i + this.capacity) % this.capacity];
      if (e === undefined) break;
      out.push(e);
    }
    return out;
  }

  /** Incidents in each of the last `minutes` minutes, oldest first, ending with the current minute. */
  perMinute(minutes: number, nowMs = Date.now()): { minute: string; count: number }[] {
    const current = Math.floor(nowMs / MINUTE_MS);
    const out: { minute: string; count: number }[] = [];
    for (let m = current - Math.min(minutes, MINUTES_KEPT) + 1; m <= current; m++) {
      const slot = m % MINUTES_KEPT;
      out.push({ minute: new Date(m * MINUTE_MS).toISOString(), count: this.#slotMinute[slot] === m ? this.#perMinute[slot] : 0 });
    }
    return out;
  }

  /** Sources with the most incidents among the recent ones (group incidents count for each member). */
  topOffenders(limit: number): Offender[] {
    const by = new Map<string, Offender>();
    for (const e of this.list()) {
      const sources = e.record['source.ip'] !== undefined ? [e.record['source.ip']] : (e.record.sources ?? []);
      for (const source of sources) {
        const o = by.get(source);
        if (o === undefined) by.set(source, { source, incidents: 1, lastSeen: e.at });
        else o.incidents++; // list() is newest first: the first entry seen holds lastSeen
      }
    }
    return [...by.values()].sort((a, b) => b.incidents - a.incidents || b.lastSeen.localeCompare(a.lastSeen)).slice(0, limit);
  }

  /** Incidents by kind and probe class among the recent ones. */
  breakdown(): { kinds: Record<string, number>; classes: Record<string, number> } {
    const kinds: Record<string, number> = {};
    const classes: Record<string, number> = {};
    for (const e of this.list()) {
      kinds[e.record.kind] = (kinds[e.record.kind] ?? 0) + 1;
      classes[e.record.class] = (classes[e.record.class] ?? 0) + 1;
    }
    return { kinds, classes };
  }
}
