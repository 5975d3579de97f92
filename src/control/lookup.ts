/**
 * `portwarden lookup ADDR`: everything the daemon knows of one address, gathered from the parts that
 * know it: the ban book (its own ban, or a wider one holding it), the feeds (the entries that list it),
 * the geo database (country, ASN, and what the geo rules do with it), the state database (its
 * offences), reputation (offences and feed weights), the lockout guard (whether and why it is never
 * banned) and, when enabled, the on-demand reputation services. Read only; nothing is decided here.
 */
import { PortwardenError } from '../errors.js';
import { decayedScore } from '../decide/escalation.js';
import type { GeoSettings } from '../intel/geo-settings.js';
import { reputationOf } from '../intel/reputation.js';
import type { EnrichmentView, LookupView } from '../model/control.js';
import type { FeedMembership, GeoLookup } from '../model/intel.js';
import type { OffenderBook } from '../model/offender.js';
import { parseTarget } from '../net/target.js';
import type { BanBook } from '../enforce/ban-book.js';

export interface LookupParts {
  book: BanBook;
  guard(): { protects(target: string): { reason: string } | null };
  geo: GeoLookup | null;
  /** The geo database's path (null: geo off) and the running geo settings, for `geoPolicy`. */
  geoSettings(): GeoSettings;
  feeds: FeedMembership | null;
  offenders: OffenderBook;
  /** decide.escalation.scoreHalfLifeSeconds in force. */
  halfLifeSeconds(): number;
  /** On-demand services (AbuseIPDB, VirusTotal); none when not enabled. */
  enrich?: (address: string) => Promise<EnrichmentView[]>;
  now?: () => number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** What the kernel's geo rules do with an address of `country`; null without geo rules. */
export function geoPolicyText(s: GeoSettings, country: string | undefined): string | null {
  if (s.database === null || (s.block.length === 0 && s.allowOnly === null)) return null;
  const parts: string[] = [];
  if (country === undefined) parts.push('country unknown: geo rules do not match it');
  else {
    if (s.block.includes(country)) parts.push(`blocked: ${country} is in geo.block`);
    if (s.allowOnly !== null) {
      const ports = s.allowOnly.ports.map((p) => `${p.protocol}/${p.port}`).join(', ');
      parts.push(s.allowOnly.countries.includes(country) ? `may reach ${ports} (${country} is in geo.allowOnly)` : `cannot reach ${ports}: ${country} is not in geo.allowOnly`);
    }
    if (parts.length === 0) parts.push(`${country}: not named by the geo rules`);
  }
  return parts.join('; ');
}

export function lookupAddress(p: LookupParts): (address: string) => Promise<LookupView> {
  return async (input) => {
    const parsed = parseTarget(input);
    if (!parsed.ok || parsed.target.prefixLength !== (parsed.target.family === 4 ? 32 : 128)) throw new PortwardenError('PW_ERR_USAGE', `lookup needs one address, got ${JSON.stringify(input)}`);
    const address = parsed.target.text;
    const now = (p.now ?? Date.now)();
    const bans: LookupView['bans'] = [];
    const own = p.book.get(address);
    if (own !== undefined) bans.push({ target: address, reason: own.reason, origin: own.origin, createdAt: iso(own.createdAtMs), expiresAt: iso(own.expiresAtMs) });
    const wider = p.book.coveringBan(address);
    if (wider !== undefined) bans.push({ target: wider.target, reason: wider.ban.reason, origin: wider.ban.origin, createdAt: iso(wider.ban.createdAtMs), expiresAt: iso(wider.ban.expiresAtMs) });
    const feeds = p.feeds?.feedsOf(address) ?? [];
    const geo = p.geo?.geoOf(address) ?? null;
    const offender = p.offenders.get(address);
    const score = offender === undefined ? 0 : decayedScore(offender.score, offender.lastSeenMs, now, p.halfLifeSeconds());
    const protection = p.guard().protects(address);
    const settings = p.geoSettings();
    return {
      address,
      bans,
      feeds,
      geo,
      geoDatabase: p.geo === null ? null : settings.database,
      geoPolicy: geoPolicyText(settings, geo?.country),
      offences: offender === undefined ? null : { count: offender.offences, firstSeen: new Date(offender.firstSeenMs).toISOString(), lastSeen: new Date(offender.lastSeenMs).toISOString(), score: Math.round(score * 100) / 100 },
      reputation: reputationOf(offender === undefined ? undefined : { offences: offender.offences, score }, feeds),
      protected: protection === null ? null : { reason: protection.reason },
      ...(p.enrich === undefined ? {} : { enrichment: await p.enrich(address) }),
    };
  };
}
