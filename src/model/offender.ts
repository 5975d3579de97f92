/** What is remembered about an offender (an address or prefix that was banned). */
export interface OffenderRecord {
  address: string;
  /** Offences in all (lifetime, across kinds). */
  offences: number;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Reputation at lastSeenMs; decays from there. */
  score: number;
}

/** Where offenders are kept: the state database, or memory when it is unavailable. */
export interface OffenderBook {
  get(address: string): OffenderRecord | undefined;
  put(record: OffenderRecord): void;
}
