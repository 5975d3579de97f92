/**
 * What intel knows of an incident's source, written into the incident record before it is decided,
 * logged, stored and alerted: the feeds that list it (`threat.feeds`) and where it is
 * (`source.geo.country_iso_code`, `source.as.number`, `source.as.organization.name`). Only incidents
 * with one named source are enriched (a distributed scan's members are many; `lookup` tells each).
 * Runs per incident, never per packet.
 */
import type { IncidentRecord } from '../model/incident.js';
import type { FeedMembership, GeoLookup } from '../model/intel.js';

export interface EnrichSources {
  geo: GeoLookup | null;
  feeds: FeedMembership | null;
}

/** `record` with intel's fields added (a new object; fields already set are kept). */
export function enrichIncident(record: IncidentRecord, s: EnrichSources): IncidentRecord {
  const source = record['source.ip'];
  if (source === undefined || (s.geo === null && s.feeds === null)) return record;
  const out: IncidentRecord = { ...record };
  const geo = s.geo?.geoOf(source) ?? null;
  if (geo !== null) {
    if (geo.country !== undefined && out['source.geo.country_iso_code'] === undefined) out['source.geo.country_iso_code'] = geo.country;
    if (geo.asn !== undefined && out['source.as.number'] === undefined) out['source.as.number'] = geo.asn;
    if (geo.asOrganization !== undefined && out['source.as.organization.name'] === undefined) out['source.as.organization.name'] = geo.asOrganization;
  }
  const feeds = s.feeds?.feedsOf(source) ?? [];
  if (feeds.length > 0 && out['threat.feeds'] === undefined) out['threat.feeds'] = [...new Set(feeds.map((f) => f.feed))].sort();
  return out;
}

/** Wraps detection's incident callback so every incident reaches decide enriched. */
export function enrichingListener<I extends { toRecord(): IncidentRecord }>(s: EnrichSources, next: (incident: { toRecord(): IncidentRecord }) => void): (incident: I) => void {
  if (s.geo === null && s.feeds === null) return next;
  return (incident) => next({ toRecord: () => enrichIncident(incident.toRecord(), s) });
}
