/**
 * What the state database knows about one address, for the dashboard's per-address view: its offender
 * record, incidents, bans and reputation over time; and the details of live bans (when made, how long)
 * that the control handler's ban list does not carry. Read-only: every call opens the database read-only
 * (WAL: it never blocks the daemon's writes) and closes it again, like `portwarden history ADDR`.
 */
import { canonical } from '../net/address-set.js';
import { PortwardenError } from '../errors.js';
import { BanStore, type BanRow } from '../state/ban-store.js';
import { openStateReadOnly, type StateDatabase } from '../state/database.js';
import { IncidentStore } from '../state/incident-store.js';
import { OffenderStore } from '../state/offender-store.js';
import type { GeoFacts } from '../model/intel.js';
import { sourceGeo } from './source-geo.js';

export interface AddressIncident {
  id: number;
  at: string;
  kind: string;
  class: string;
  destination: string | null;
  probes: number;
  decision: string;
  reason: string;
  /** The source's country and AS when the record has them (a geo database is configured); else null. */
  geo: GeoFacts | null;
}

export interface AddressBan {
  target: string;
  origin: string;
  reason: string;
  created: string;
  /** null: no expiry. */
  expires: string | null;
  /** Set when lifted early (unban, allow) or replaced by a newer ban. */
  lifted: string | null;
  /** The length it was given (expires − created); null: permanent. */
  lengthSeconds: number | null;
  durationWhy: string;
  active: boolean;
  /** Country and AS from the incident behind the ban, when it has them; null otherwise (operator bans too). */
  geo: GeoFacts | null;
}

export interface ReputationPoint {
  at: string;
  score: number;
  /** An offence happened here (the score jumped by 1); otherwise a point of the decay between offences. */
  offence: boolean;
}

export interface AddressHistoryView {
  address: string;
  now: string;
  offender: { offences: number; firstSeen: string; lastSeen: string; score: number; scoreNow: number | null } | null;
  /** Newest last. */
  incidents: AddressIncident[];
  /** Oldest first. */
  bans: AddressBan[];
  /** Oldest first; empty without offences. */
  reputation: ReputationPoint[];
  /** The half-life the decay between offences is drawn with; null: unknown, only the offences are plotted. */
  scoreHalfLifeSeconds: number | null;
  /** true when `incidents` holds only the newest `limit`. */
  truncated: boolean;
}

/** A live ban's row details, for the ban list. */
export interface LiveBanDetail {
  createdMs: number;
  expiresMs: number | null;
  durationWhy: string;
  /** Country and AS from the ban's incident, when it has them. */
  geo: GeoFacts | null;
}

/** What the observatory asks of the state database; StateHistory is the real one. */
export interface AddressHistorySource {
  /** @throws PortwardenError PW_ERR_USAGE for a non-address, PW_ERR_STATE when the database cannot be read. */
  forAddress(address: string, nowMs: number): AddressHistoryView;
  /** Details of the live ban of each target that has one; best effort (an unreadable database gives an empty map). */
  liveDetails(targets: readonly string[]): Map<string, LiveBanDetail>;
}

/** Incidents shown at most per address (the newest). */
const INCIDENT_LIMIT = 2_000;
/** Decay points drawn between two offences. */
const DECAY_STEPS = 24;
/** A ban made this close to the offender's last offence records that same offence. */
const SAME_OFFENCE_MS = 60_000;
/** The score escalation records in a ban's why: "2nd offence (2 in all, reputation 1.62)". */
const REPUTATION_IN_WHY = /reputation (\d+(?:\.\d+)?)/;

const iso = (ms: number): string => new Date(ms).toISOString();

export class StateHistory implements AddressHistorySource {
  /**
   * @param stateDir the daemon's state.dir
   * @param scoreHalfLifeSeconds decide.escalation.scoreHalfLifeSeconds; null draws offences without the decay
   */
  constructor(
    readonly stateDir: string,
    readonly scoreHalfLifeSeconds: number | null,
  ) {}

  forAddress(address: string, nowMs: number): AddressHistoryView {
    let target: string;
    try {
      target = canonical(address);
    } catch (err) {
      throw new PortwardenError('PW_ERR_USAGE', `${address} is not an address or network`, { cause: err });
    }
    return this.#read((db) => {
      const offender = new OffenderStore(db).get(target);
      const incidentStore = new IncidentStore(db);
      const stored = incidentStore.forAddress(target, INCIDENT_LIMIT);
      const bans = new BanStore(db).forTarget(target);
      const incidents = stored.reverse().map((i) => ({
        id: i.id,
        at: iso(i.atMs),
        kind: i.record.kind,
        class: i.record.class,
        destination: i.record['destination.ip'] ?? null,
        probes: i.record.probes,
        decision: i.decision,
        reason: i.reason,
        geo: sourceGeo(i.record),
      }));
      const scoreNow = offender === undefined || this.scoreHalfLifeSeconds === null ? null : decayed(offender.score, offender.lastSeenMs, nowMs, this.scoreHalfLifeSeconds);
      return {
        address: target,
        now: iso(nowMs),
        offender: offender === undefined ? null : { offences: offender.offences, firstSeen: iso(offender.firstSeenMs), lastSeen: iso(offender.lastSeenMs), score: offender.score, scoreNow },
        incidents,
        bans: bans.map((b) => banView(b, nowMs, b.incidentId === null ? null : incidentGeo(incidentStore, b.incidentId))),
        reputation: reputationCurve(bans, offender === undefined ? null : { atMs: offender.lastSeenMs, score: offender.score }, nowMs, this.scoreHalfLifeSeconds),
        scoreHalfLifeSeconds: this.scoreHalfLifeSeconds,
        truncated: stored.length === INCIDENT_LIMIT,
      };
    });
  }

  liveDetails(targets: readonly string[]): Map<string, LiveBanDetail> {
    const out = new Map<string, LiveBanDetail>();
    if (targets.length === 0) return out;
    try {
      this.#read((db) => {
        const store = new BanStore(db);
        const incidents = new IncidentStore(db);
        for (const target of targets) {
          let live: BanRow | undefined;
          for (const b of store.forTarget(target)) if (b.liftedMs === null) live = b;
          if (live !== undefined) out.set(target, { createdMs: live.createdMs, expiresMs: live.expiresMs, durationWhy: live.durationWhy, geo: live.incidentId === null ? null : incidentGeo(incidents, live.incidentId) });
        }
      });
    } catch {
      // No database (state unavailable, first start): the list shows what the kernel knows.
    }
    return out;
  }

  #read<T>(fn: (db: StateDatabase) => T): T {
    const db = openStateReadOnly(this.stateDir);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }
}

/** The country and AS of incident `id`'s source; null when it has none or is gone (purged). */
function incidentGeo(store: IncidentStore, id: number): GeoFacts | null {
  const i = store.byId(id);
  return i === undefined ? null : sourceGeo(i.record);
}

function banView(b: BanRow, nowMs: number, geo: GeoFacts | null): AddressBan {
  return {
    target: b.target,
    origin: b.origin,
    reason: b.reason,
    created: iso(b.createdMs),
    expires: b.expiresMs === null ? null : iso(b.expiresMs),
    lifted: b.liftedMs === null ? null : iso(b.liftedMs),
    lengthSeconds: b.expiresMs === null ? null : Math.round((b.expiresMs - b.createdMs) / 1000),
    durationWhy: b.durationWhy,
    active: b.liftedMs === null && (b.expiresMs === null || b.expiresMs > nowMs),
    geo,
  };
}

function decayed(score: number, fromMs: number, toMs: number, halfLifeSeconds: number): number {
  return score * Math.pow(2, -Math.max(0, toMs - fromMs) / 1000 / halfLifeSeconds);
}

/**
 * The reputation over time: the score each offence left (escalation writes it into the ban's why), and,
 * when the half-life is known, its decay between offences and up to now. Bans without a recorded score
 * (operator bans, older rows) are no offences and add nothing.
 */
export function reputationCurve(bans: readonly BanRow[], last: { atMs: number; score: number } | null, nowMs: number, halfLifeSeconds: number | null): ReputationPoint[] {
  const offences: { atMs: number; score: number }[] = [];
  for (const b of bans) {
    const m = REPUTATION_IN_WHY.exec(b.durationWhy);
    if (m !== null) offences.push({ atMs: b.createdMs, score: Number(m[1]) });
  }
  // The offender record's last offence is the newest ban's too (decided in the same ms or nearly): once.
  if (last !== null && !offences.some((o) => Math.abs(o.atMs - last.atMs) < SAME_OFFENCE_MS)) offences.push(last);
  offences.sort((a, b) => a.atMs - b.atMs);
  const out: ReputationPoint[] = [];
  offences.forEach((o, i) => {
    out.push({ at: iso(o.atMs), score: o.score, offence: true });
    if (halfLifeSeconds === null) return;
    const endMs = i + 1 < offences.length ? offences[i + 1].atMs : nowMs;
    if (endMs <= o.atMs) return;
    for (let step = 1; step <= DECAY_STEPS; step++) {
      const t = o.atMs + ((endMs - o.atMs) * step) / DECAY_STEPS;
      out.push({ at: iso(t), score: Number(decayed(o.score, o.atMs, t, halfLifeSeconds).toFixed(4)), offence: false });
    }
  });
  return out;
}
