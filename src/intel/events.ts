/**
 * The log events of geo (intel/geo/) and the on-demand reputation services (intel/enrich/): the
 * public vocabulary of their `event.action` values, documented in docs/reference.md (generated).
 */
export const IntelEvent = {
  'geo-off': 'no `geo.database` is named: geo is off (no country sets, no country or ASN in incidents)',
  'geo-database': 'the country database (and the ASN database) opened at start: type, path, build date',
  'geo-loaded': "the kernel's geo sets were filled in one nft transaction (at start and after a table restore): elements per set, the countries, how long",
  'geo-unknown-country': 'a country of `geo.block` or `geo.allowOnly` has no network in the database',
  'geo-allow-empty': 'no network of a family (IPv4 or IPv6) of the `geo.allowOnly` countries is in the database (an IPv4-only file): no source of that family but the allow sets reaches the ports',
  'geo-not-enforced': 'geo rules are configured but not in the kernel (a dry run)',
  'enrich-no-key': 'an enabled reputation service (`enrich.abuseipdb`, `enrich.virustotal`) has no API key in the environment; `lookup` says so',
} as const;

export type IntelEventName = keyof typeof IntelEvent;
