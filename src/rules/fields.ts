/**
 * The fields a rule's CEL filter may read, in one table: their CEL type, whether incident rules, probe
 * rules or both see them, what they mean, and how an incident record fills them. docs/rules.md is
 * generated from this table (scripts/rules-doc.ts), and the CEL environments (cel.ts) declare exactly
 * these variables, so a filter naming anything else is refused at load.
 */
import type { IncidentRecord } from '../model/incident.js';

export type CelFieldType = 'string' | 'int' | 'double' | 'list<string>' | 'list<int>' | 'map<string, int>';
export type RuleSubject = 'incident' | 'probe';

export interface FieldDoc {
  type: CelFieldType;
  /** Which rules see it. */
  on: readonly RuleSubject[];
  doc: string;
}

const BOTH = ['incident', 'probe'] as const;
const INCIDENT = ['incident'] as const;

export const RULE_FIELDS = {
  kind: { type: 'string', on: BOTH, doc: "incident kind (scan, sweep, distributed-scan, decoy-scan, flood, rule); 'probe' for probe rules" },
  class: { type: 'string', on: BOTH, doc: 'probe class (syn, connect, fin, null, xmas, ack, maimon, odd, udp, ip-proto, icmp; mixed for incidents of several)' },
  source: { type: 'string', on: BOTH, doc: "the source address ('' when the incident names several: see sources)" },
  sources: { type: 'list<string>', on: INCIDENT, doc: 'every source a distributed, decoy or spoofed-flood incident names' },
  destination: { type: 'string', on: BOTH, doc: "the destination (target) address ('' for a sweep of many hosts)" },
  port: { type: 'int', on: BOTH, doc: "the destination port (0 when the incident names many: see ports; ICMP: 0; IP protocol probes: the protocol number)" },
  protocol: { type: 'string', on: BOTH, doc: 'tcp, udp, icmp or proto, of the port (or of the first sampled port)' },
  ports: { type: 'list<int>', on: INCIDENT, doc: 'the port numbers of the incident (its sample of up to 20, and the destination port)' },
  services: { type: 'list<string>', on: INCIDENT, doc: "the same ports as 'tcp/22', 'udp/53' text" },
  country: { type: 'string', on: INCIDENT, doc: "the source's country, ISO 3166 alpha-2 (source.geo.country_iso_code; '' without a geo database)" },
  asn: { type: 'int', on: INCIDENT, doc: "the source's autonomous system number (source.as.number; 0 without a geo database)" },
  feeds: { type: 'list<string>', on: INCIDENT, doc: 'the threat feeds that list the source (threat.feeds)' },
  reputation: { type: 'double', on: INCIDENT, doc: "the source's reputation score when intel gives one (evidence.reputation), else 0" },
  tool: { type: 'string', on: INCIDENT, doc: "the scanning tool the probes' traits name (threat.software.name: nmap, masscan, zmap, unicornscan, hping3; '' unknown)" },
  counts: { type: 'map<string, int>', on: INCIDENT, doc: 'counts.probes, counts.ports, counts.hosts, counts.sources: how big the incident is' },
  confidence: { type: 'double', on: INCIDENT, doc: "detection's confidence, 0 … 1" },
  rule: { type: 'string', on: INCIDENT, doc: "the probe rule whose bucket made the incident (kind 'rule'), else ''" },
} as const satisfies Record<string, FieldDoc>;

export type RuleFieldName = keyof typeof RULE_FIELDS;

export function fieldsFor(subject: RuleSubject): [RuleFieldName, FieldDoc][] {
  return (Object.entries(RULE_FIELDS) as [RuleFieldName, FieldDoc][]).filter(([, f]) => f.on.includes(subject));
}

/** 'tcp/22' → ['tcp', 22]; 'icmp/echo' → ['icmp', 0]. */
function splitService(service: string): [string, number] {
  const slash = service.indexOf('/');
  if (slash < 0) return [service, 0];
  const n = Number(service.slice(slash + 1));
  return [service.slice(0, slash), Number.isInteger(n) ? n : 0];
}

/** The CEL context of an incident: every incident field, ints as bigint (CEL's int). */
export function incidentContext(r: IncidentRecord): Record<RuleFieldName, unknown> {
  const services = [...(r.ports?.sample ?? [])];
  const dport = r['destination.port'];
  if (dport !== undefined && !services.includes(dport)) services.unshift(dport);
  const split = services.map(splitService);
  const [protocol, port] = dport !== undefined ? splitService(dport) : (split[0] ?? ['', 0]);
  const sources = r.sources ?? [];
  const reputation = typeof r.evidence.reputation === 'number' ? r.evidence.reputation : 0;
  return {
    kind: r.kind,
    class: r.class,
    source: r['source.ip'] ?? '',
    sources,
    destination: r['destination.ip'] ?? '',
    port: BigInt(dport !== undefined || services.length === 1 ? port : 0),
    protocol,
    ports: split.map(([, p]) => BigInt(p)),
    services,
    country: r['source.geo.country_iso_code'] ?? '',
    asn: BigInt(r['source.as.number'] ?? 0),
    feeds: r['threat.feeds'] ?? [],
    reputation,
    tool: r['threat.software.name'] ?? '',
    counts: new Map<string, bigint>([
      ['probes', BigInt(r.probes)],
      ['ports', BigInt(r.ports?.count ?? services.length)],
      ['hosts', BigInt(r.hosts?.count ?? (r['destination.ip'] !== undefined ? 1 : 0))],
      ['sources', BigInt(sources.length > 0 ? sources.length : r['source.ip'] !== undefined ? 1 : 0)],
    ]),
    confidence: r.confidence,
    rule: typeof r.evidence.rule === 'string' ? r.evidence.rule : '',
  };
}
