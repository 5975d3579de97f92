/**
 * An incident's source country and AS as the dashboard shows them: the fields enrichment wrote into the
 * record (src/intel/enrich.ts), as the GeoFacts lookup uses. null when the record has none (no geo
 * database configured, or the database does not know the address), so the page shows nothing.
 */
import type { IncidentRecord } from '../model/incident.js';
import type { GeoFacts } from '../model/intel.js';

export function sourceGeo(record: IncidentRecord): GeoFacts | null {
  const geo: GeoFacts = {};
  if (record['source.geo.country_iso_code'] !== undefined) geo.country = record['source.geo.country_iso_code'];
  if (record['source.as.number'] !== undefined) geo.asn = record['source.as.number'];
  if (record['source.as.organization.name'] !== undefined) geo.asOrganization = record['source.as.organization.name'];
  return Object.keys(geo).length === 0 ? null : geo;
}
