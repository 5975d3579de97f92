import { formatIPv4 } from '../net/address.js';
import type { IncidentClass } from './probe.js';

/**
 * A source or destination address: IPv4 as a signed 32-bit integer (`addr | 0`, which V8 stores
 * unboxed), IPv6 as canonical text.
 */
export type AddressKey = number | string;

export function formatAddressKey(key: AddressKey): string {
  return typeof key === 'number' ? formatIPv4(key) : key;
}

/** 32-bit hash of an address key, for sketches. */
export function hashAddressKey(key: AddressKey): number {
  if (typeof key === 'number') return key | 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Port keys put the protocol family in the upper bits, so TCP 53 and UDP 53 are different "ports" of a
 * target and an IP-protocol probe or an echo request counts as one of its own.
 */
export const PortFamily = { tcp: 0, udp: 1 << 16, proto: 2 << 16, icmp: 3 << 16 } as const;

export function formatPortKey(key: number): string {
  const family = key >>> 16;
  const value = key & 0xffff;
  switch (family) {
    case 0:
      return `tcp/${value}`;
    case 1:
      return `udp/${value}`;
    case 2:
      return `proto/${value}`;
    default:
      return 'icmp/echo';
  }
}

/** `rule`: made by a probe rule's leaky bucket (src/rules/); evidence.rule names the rule. `anomaly`: a baseline or the anomaly model. */
export type IncidentKind = 'scan' | 'sweep' | 'distributed-scan' | 'decoy-scan' | 'flood' | 'anomaly' | 'rule';

/** What an `anomaly` incident measured (its class): hourly new connections, distinct sources, refused first contacts, bytes (baselines), or a source's behaviour (the anomaly model). */
export type AnomalyMetric = 'connections' | 'sources' | 'probes' | 'bytes' | 'behaviour';

/** One incident as reported by `analyze --json`, logs and the API (DESIGN.md "Incident records"). */
export interface IncidentRecord {
  kind: IncidentKind;
  /** The probe class; for an `anomaly`, the metric. */
  class: IncidentClass | AnomalyMetric;
  'source.ip'?: string;
  sources?: string[];
  'destination.ip'?: string;
  'destination.port'?: string;
  ports?: { count: number; sample: string[] };
  hosts?: { count: number; sample: string[] };
  probes: number;
  first_seen: string;
  last_seen: string;
  confidence: number;
  evidence: Record<string, unknown>;
  /** The scanning tool the probes' own traits name (nmap, masscan, zmap, unicornscan, hping3); absent when unknown. */
  'threat.software.name'?: string;
  /** The threat feeds that list the source (intel). */
  'threat.feeds'?: string[];
  /** The source's country (ISO 3166 alpha-2) and autonomous system, when a geo database is configured. */
  'source.geo.country_iso_code'?: string;
  'source.as.number'?: number;
  'source.as.organization.name'?: string;
  /** The fleet host that saw it, for incidents shared across a fleet. */
  'observer.hostname'?: string;
  /** The playbook that ran for it (src/playbook/), and each step's outcome, in order. */
  'playbook.name'?: string;
  'playbook.steps'?: { step: string; ok: boolean; detail: string; ms: number }[];
}

