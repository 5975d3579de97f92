import type { AddressKey, IncidentKind, IncidentRecord } from '../model/incident.js';
import { PROBE_CLASS_NAMES, ProbeClass, type IncidentClass } from '../model/probe.js';

/** Per-class probe counts with the class that dominates them. */
export class ClassCounts {
  // A plain array: allocating one typed array (an ArrayBuffer) per (source, target) pair dominated GC.
  readonly counts: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  /** Opened TCP handshakes the prober completed, and ones it reset half-open. */
  completed = 0;
  halfOpenResets = 0;
  /** SYN probes with an operating system's own TCP options. */
  osSyns = 0;

  add(cls: number, osSyn: boolean): void {
    this.counts[cls]++;
    if (osSyn) this.osSyns++;
  }

  merge(other: ClassCounts): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.completed += other.completed;
    this.halfOpenResets += other.halfOpenResets;
    this.osSyns += other.osSyns;
  }

  /**
   * The class of at least 80% of the probes, else `mixed`. A SYN-class incident is `connect` when the
   * prober completes handshakes to open ports (an OS connect() scan), or, with no open port seen, when
   * its SYNs carry the OS stack's options; raw-socket scanners (nmap -sS, masscan) send bare SYNs and
   * reset half-open connections.
   */
  dominant(): IncidentClass {
    let total = 0;
    let best = 0;
    for (let i = 0; i < this.counts.length; i++) {
      total += this.counts[i];
      if (this.counts[i] > this.counts[best]) best = i;
    }
    if (total === 0 || this.counts[best] < total * 0.8) return 'mixed';
    if (best === ProbeClass.syn) {
      if (this.completed > this.halfOpenResets) return 'connect';
      if (this.completed === 0 && this.halfOpenResets === 0 && this.osSyns * 2 > this.counts[best]) return 'connect';
    }
    return PROBE_CLASS_NAMES[best];
  }

  toJSON(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i] > 0) out[PROBE_CLASS_NAMES[i]] = this.counts[i];
    return out;
  }
}

/** Base of every incident: identity, time span, and whether another incident absorbed it. */
export abstract class Incident {
  abstract readonly kind: IncidentKind;
  firstMs: number;
  lastMs: number;
  /** Why it opened: `trw`, `window:60s`, `rate`, … */
  readonly trigger: string;
  /** A distributed or decoy incident that reports this one's probes as part of a group. */
  absorbedBy: Incident | null = null;
  /** Evidence that came later contradicts it: it is not reported (and absorbs nothing). */
  withdrawn = false;
  /** Packet time it was last handed to the listener. */
  reportedMs = -Infinity;

  constructor(nowMs: number, trigger: string) {
    this.firstMs = nowMs;
    this.lastMs = nowMs;
    this.trigger = trigger;
  }

  abstract toRecord(): IncidentRecord;
}

/** JavaScript dates run from -8.64e15 to 8.64e15 ms; toISOString throws outside. */
const MAX_DATE_MS = 8.64e15;

/**
 * ISO 8601 text of a packet time in ms. Never throws: the decoder keeps packet time in range
 * (frame.bad_timestamp), and should a time outside the dates' range still arrive it is clamped to
 * the nearest end (NaN to the epoch), so a report is never lost to a date.
 */
export function isoTime(ms: number): string {
  const t = Math.floor(ms);
  if (t >= -MAX_DATE_MS && t <= MAX_DATE_MS) return new Date(t).toISOString();
  return new Date(t > 0 ? MAX_DATE_MS : t < 0 ? -MAX_DATE_MS : 0).toISOString();
}

/** Up to `max` items, sorted, formatted: the sample of an incident's ports or hosts. */
export function sample<T>(items: Iterable<T>, max: number, compare: (a: T, b: T) => number, format: (t: T) => string): string[] {
  const all = [...items].sort(compare);
  return all.slice(0, max).map(format);
}

export function compareAddressKeys(a: AddressKey, b: AddressKey): number {
  if (typeof a === 'number' && typeof b === 'number') return (a >>> 0) - (b >>> 0);
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function windowName(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
