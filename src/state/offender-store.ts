/**
 * The offenders table: per address or prefix that was banned, its offences (across incident kinds),
 * first and last seen, and its reputation score (decide/escalation.ts). `net64` is the IPv6 /64 the
 * offender lies in, so a returning neighbour of a banned IPv6 address can be banned as the whole /64.
 */
import { parseNetwork, prefixOf } from '../net/address-set.js';
import type { OffenderRecord } from '../model/offender.js';
import type { StateDatabase } from './database.js';

/** The IPv6 /64 of an address or prefix as canonical text; null for IPv4 and for anything else. */
export function net64(target: string): string | null {
  try {
    const net = parseNetwork(target);
    return net.family === 6 ? prefixOf(net, 64).text : null;
  } catch {
    return null;
  }
}

interface Row {
  address: string;
  offences: number;
  first_seen_ms: number;
  last_seen_ms: number;
  score: number;
}

function fromRow(r: Row): OffenderRecord {
  return { address: r.address, offences: r.offences, firstSeenMs: r.first_seen_ms, lastSeenMs: r.last_seen_ms, score: r.score };
}

export class OffenderStore {
  readonly #get;
  readonly #put;
  readonly #in64;
  readonly #purge;
  readonly #all;

  constructor(db: StateDatabase) {
    this.#get = db.prepare('SELECT address, offences, first_seen_ms, last_seen_ms, score FROM offenders WHERE address = ?');
    this.#put = db.prepare(
      'INSERT INTO offenders (address, net64, offences, first_seen_ms, last_seen_ms, score) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (address) DO UPDATE SET offences = excluded.offences, first_seen_ms = excluded.first_seen_ms, last_seen_ms = excluded.last_seen_ms, score = excluded.score',
    );
    this.#in64 = db.prepare('SELECT 1 FROM offenders WHERE net64 = ? LIMIT 1');
    this.#purge = db.prepare('DELETE FROM offenders WHERE last_seen_ms < ?');
    this.#all = db.prepare('SELECT address, offences, first_seen_ms, last_seen_ms, score FROM offenders ORDER BY address');
  }

  get(address: string): OffenderRecord | undefined {
    const r = this.#get.get(address) as Row | undefined;
    return r === undefined ? undefined : fromRow(r);
  }

  /** Call inside a transaction. */
  put(r: OffenderRecord): void {
    this.#put.run(r.address, net64(r.address), r.offences, r.firstSeenMs, r.lastSeenMs, r.score);
  }

  /** Whether any offender lies in this /64 (canonical text from `net64`). */
  hasIn64(prefix: string): boolean {
    return this.#in64.get(prefix) !== undefined;
  }

  /** Forgets offenders not seen since `cutoffMs`; returns how many. */
  purge(cutoffMs: number): number {
    return this.#purge.run(cutoffMs).changes;
  }

  *iterate(): IterableIterator<OffenderRecord> {
    for (const r of this.#all.iterate() as IterableIterator<Row>) yield fromRow(r);
  }
}
