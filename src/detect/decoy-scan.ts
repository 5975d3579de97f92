import { ClassCounts, Incident, compareAddressKeys, isoTime, sample } from './incident.js';
import { formatAddressKey, formatPortKey, type AddressKey, type IncidentRecord } from '../model/incident.js';

const SLOTS = 4096;

/**
 * Recent probe fingerprints (target, port, source port, sequence number or datagram length) in a
 * direct-mapped cache: a decoy scan sends the same probe from several spoofed sources back to back, so
 * only the last few milliseconds matter and a collision merely forgets an old entry.
 */
export class DecoyFingerprints {
  readonly #hash = new Int32Array(SLOTS);
  readonly #ms = new Float64Array(SLOTS).fill(-Infinity);
  readonly #source = new Int32Array(SLOTS);
  readonly #source6: (string | null)[] = new Array<string | null>(SLOTS).fill(null);

  /**
   * The other source that sent this fingerprint within `windowMs`, or null (and this one is
   * remembered). Sources are 32-bit folds (IPv4: the address), with the text for IPv6.
   */
  match(hash: number, source: number, source6: string | null, nowMs: number, windowMs: number): AddressKey | null {
    const slot = hash & (SLOTS - 1);
    if (this.#hash[slot] === hash && nowMs - this.#ms[slot] <= windowMs) {
      // The window slides with each match, so a steady stream of one fingerprint (a flood tool with
      // fixed fields) grows one group past maxSources instead of many small ones.
      this.#ms[slot] = nowMs;
      if (this.#source[slot] === source && this.#source6[slot] === source6) return null;
      return this.#source6[slot] ?? this.#source[slot];
    }
    this.#hash[slot] = hash;
    this.#ms[slot] = nowMs;
    this.#source[slot] = source;
    this.#source6[slot] = source6;
    return null;
  }
}

export function fingerprint(target: number, portKey: number, srcPort: number, sequence: number): number {
  let h = Math.imul(target ^ 0x27d4eb2f, 0x165667b1);
  h = Math.imul(h ^ (h >>> 15) ^ portKey, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 13) ^ srcPort, 0xc2b2ae3d);
  h = Math.imul(h ^ (h >>> 16) ^ sequence, 0x27d4eb2f);
  return h ^ (h >>> 15);
}

/** Sources that sent identical probes to one target: a scanner and its decoys, indistinguishable on the wire. */
export class DecoyGroup {
  readonly members = new Set<AddressKey>();
  readonly ports = new Set<number>();
  readonly classes = new ClassCounts();
  probes = 0;
  firstMs: number;
  lastMs: number;
  /** Too many sources share the fingerprint: a tool with fixed fields (a flood), not decoys. */
  invalid = false;
  incident: DecoyIncident | null = null;

  constructor(
    readonly target: AddressKey,
    nowMs: number,
  ) {
    this.firstMs = nowMs;
    this.lastMs = nowMs;
  }

  absorb(other: DecoyGroup): void {
    for (const m of other.members) this.members.add(m);
    for (const p of other.ports) this.ports.add(p);
    this.classes.merge(other.classes);
    this.probes += other.probes;
    if (other.firstMs < this.firstMs) this.firstMs = other.firstMs;
    if (other.lastMs > this.lastMs) this.lastMs = other.lastMs;
    this.invalid ||= other.invalid;
  }
}

export class DecoyIncident extends Incident {
  readonly kind = 'decoy-scan' as const;

  constructor(
    readonly group: DecoyGroup,
    nowMs: number,
  ) {
    super(group.firstMs, 'shared-probes');
    this.lastMs = nowMs;
  }

  toRecord(): IncidentRecord {
    const g = this.group;
    return {
      kind: 'decoy-scan',
      class: g.classes.dominant(),
      sources: [...g.members].sort(compareAddressKeys).map(formatAddressKey),
      'destination.ip': formatAddressKey(g.target),
      ports: { count: g.ports.size, sample: sample(g.ports, 20, (a, b) => a - b, formatPortKey) },
      probes: g.probes,
      first_seen: isoTime(g.firstMs),
      last_seen: isoTime(g.lastMs),
      confidence: 0.9,
      evidence: {
        trigger: 'identical probes from several sources',
        candidates: g.members.size,
        shared_probes: g.probes,
        probe_classes: g.classes.toJSON(),
        note: 'one member is the real scanner, the others are spoofed decoys',
      },
    };
  }
}
