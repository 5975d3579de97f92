import type { DetectionSettings } from './settings.js';
import { ClassCounts, Incident, compareAddressKeys, isoTime, sample } from './incident.js';
import { formatAddressKey, formatPortKey, type AddressKey, type IncidentRecord } from '../model/incident.js';

/** Marks a port that more than one source probed: not part of a disjoint slice. */
const SHARED = '';

/**
 * Failed first contacts against one target within a window, by port and by source. Many sources each
 * probing their own slice of the ports make a distributed scan; many sources on the same ports do not.
 */
export class DistributedState {
  windowStartMs: number;
  readonly ports = new Map<number, AddressKey>();
  readonly portsBySource = new Map<AddressKey, number>();
  readonly classes = new ClassCounts();
  incident: DistributedIncident | null = null;
  // Kept as ports arrive, so judging the window costs O(1) however large the scan.
  #disjointPorts = 0;
  #members = 0;
  #mostOwned = 0;

  constructor(
    readonly target: AddressKey,
    nowMs: number,
  ) {
    this.windowStartMs = nowMs;
  }

  /** Share of this window's ports probed by exactly one source. */
  disjointShare(): number {
    return this.ports.size === 0 ? 1 : this.#disjointPorts / this.ports.size;
  }

  /** Records a failed first contact; returns the incident when this makes (or extends) one. */
  addFailure(source: AddressKey, portKey: number, cls: number, nowMs: number, s: DetectionSettings['distributed']): DistributedIncident | null {
    if (nowMs - this.windowStartMs > s.windowMs) {
      if (this.incident !== null) this.incident.lowestDisjointShare = Math.min(this.incident.lowestDisjointShare, this.disjointShare());
      this.ports.clear();
      this.portsBySource.clear();
      this.#disjointPorts = 0;
      this.#members = 0;
      this.#mostOwned = 0;
      this.windowStartMs = nowMs;
    }
    const owner = this.ports.get(portKey);
    if (owner === undefined) {
      this.ports.set(portKey, source);
      this.#disjointPorts++;
      const owned = (this.portsBySource.get(source) ?? 0) + 1;
      this.portsBySource.set(source, owned);
      if (owned === 2) this.#members++;
      if (owned > this.#mostOwned) this.#mostOwned = owned;
    } else if (owner !== source && owner !== SHARED) {
      this.ports.set(portKey, SHARED);
      this.#disjointPorts--;
    }
    this.classes.add(cls, false);
    if (this.ports.size < s.minPorts) return null;
    // Disjoint slices, at least minSources members owning two ports or more, and no member owning
    // half the ports: that would be one scanner with hangers-on, which the vertical detector reports.
    if (this.#disjointPorts < s.minDisjointRatio * this.ports.size) return null;
    if (this.#members < s.minSources || this.#mostOwned > this.ports.size / 2) return null;
    if (this.incident === null) this.incident = new DistributedIncident(this, nowMs);
    if (this.incident.members.size < this.#members || owner === undefined) {
      for (const [member, owned] of this.portsBySource) if (owned >= 2) this.incident.members.add(member);
    }
    if (this.ports.size > this.incident.peakPorts) this.incident.peakPorts = this.ports.size;
    this.incident.lastMs = nowMs;
    return this.incident;
  }
}

export class DistributedIncident extends Incident {
  readonly kind = 'distributed-scan' as const;
  readonly members = new Set<AddressKey>();
  peakPorts = 0;
  /** Lowest disjoint share of the windows that ended since it opened. */
  lowestDisjointShare = 1;

  constructor(
    readonly state: DistributedState,
    nowMs: number,
  ) {
    super(state.windowStartMs, 'disjoint-ports');
    this.lastMs = nowMs;
  }

  /**
   * Whether the members' slices overlapped after all. Independent scanners of one host that start
   * together, each in random port order, barely overlap at first and look like slices of one scan;
   * once they have covered the range they overlap almost entirely.
   */
  slicesOverlap(minDisjointRatio: number): boolean {
    return Math.min(this.lowestDisjointShare, this.state.disjointShare()) < minDisjointRatio;
  }

  toRecord(): IncidentRecord {
    const st = this.state;
    let probes = 0;
    for (const c of st.classes.counts) probes += c;
    return {
      kind: 'distributed-scan',
      class: st.classes.dominant(),
      sources: [...this.members].sort(compareAddressKeys).map(formatAddressKey),
      'destination.ip': formatAddressKey(st.target),
      ports: { count: Math.max(this.peakPorts, st.ports.size), sample: sample(st.ports.keys(), 20, (a, b) => a - b, formatPortKey) },
      probes,
      first_seen: isoTime(this.firstMs),
      last_seen: isoTime(this.lastMs),
      confidence: Math.min(0.95, Math.round((0.6 + 0.03 * this.members.size) * 1000) / 1000),
      evidence: {
        trigger: 'disjoint port slices from several sources',
        members: this.members.size,
        failed_probes: probes,
        probe_classes: st.classes.toJSON(),
      },
    };
  }
}
