/**
 * What threat intelligence knows of an address, in the words detection, decide, the control plane and
 * the fleet share: the feeds that list it (intel/ feeds) and where it is (intel/ geo).
 */

/** One feed entry that covers an address. */
export interface FeedMatch {
  /** The feed's name from the config (`feeds[].name`). */
  feed: string;
  /** The entry as the feed listed it ('198.51.100.0/24'). */
  entry: string;
  /** The entry's line in the feed's file, when the format has lines. */
  line?: number;
  /** drop: the kernel drops the feed's addresses; alert: matches are counted and logged only. */
  action: 'drop' | 'alert';
  /** How much membership adds to an address's reputation (`feeds[].weight`). */
  weight: number;
}

/** Where an address is, from a geo database. */
export interface GeoFacts {
  /** ISO 3166-1 alpha-2 country code ('DE'). */
  country?: string;
  asn?: number;
  asOrganization?: string;
}

/** The feeds listing an address (empty when none does, or no feed is configured). */
export interface FeedMembership {
  feedsOf(address: string): FeedMatch[];
}

/** The geo facts of an address (null when no database is configured or it does not know the address). */
export interface GeoLookup {
  geoOf(address: string): GeoFacts | null;
}
