/**
 * A country database (and optionally an ASN database) in the mmdb format, read with the npm `maxmind`
 * reader: where an address is (GeoLookup, for incidents, logs and `lookup`), and which networks a set
 * of countries holds (for the kernel's geo sets, walked from the database's own tree).
 *
 * Record shapes: GeoLite2 (`country.iso_code`, falling back to `registered_country.iso_code` for
 * networks MaxMind places nowhere, such as anycast) and the flat shape of DB-IP lite and
 * ip-location-db (`country_code`); ASN from the GeoLite2-ASN shape (`autonomous_system_number`,
 * `autonomous_system_organization`), from `asnDatabase` or from the country database's own records.
 * Not on the packet path: lookups are for incidents and the control socket.
 */
import { readFileSync } from 'node:fs';
import { Reader, type Response } from 'maxmind';
import { PortwardenError } from '../../errors.js';
import type { GeoFacts, GeoLookup } from '../../model/intel.js';
import { formatAddress, type Family } from '../../net/target.js';
import { networkStart, treeNetworks, type TreeNetwork } from './mmdb-tree.js';

/** An ISO 3166-1 alpha-2 code as the databases write it. */
const COUNTRY_CODE = /^[A-Z]{2}$/;

export interface GeoDatabasePaths {
  /** The country mmdb. */
  database: string;
  /** An ASN mmdb (GeoLite2-ASN shape); none: ASN only where the country database has it. */
  asnDatabase?: string | null;
}

/** What the start log and `config check` say about a database. */
export interface GeoDatabaseInfo {
  path: string;
  type: string;
  builtAt: string;
  ipVersion: number;
}

/** The networks of some countries, merged (adjacent and nested ones joined): CIDR or nft range (`first-last`) text per family. */
export interface CountryNetworks {
  4: string[];
  6: string[];
}

type Rec = Record<string, unknown>;

function field(rec: unknown, ...path: string[]): unknown {
  let v: unknown = rec;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Rec)[key];
  }
  return v;
}

/** The country code of a record of either shape, upper-cased; undefined when it names none. */
export function countryOfRecord(rec: unknown): string | undefined {
  for (const v of [field(rec, 'country', 'iso_code'), field(rec, 'registered_country', 'iso_code'), field(rec, 'country_code')]) {
    if (typeof v === 'string' && COUNTRY_CODE.test(v.toUpperCase())) return v.toUpperCase();
  }
  return undefined;
}

function asnOfRecord(rec: unknown): { asn?: number; asOrganization?: string } {
  const n = field(rec, 'autonomous_system_number');
  const org = field(rec, 'autonomous_system_organization');
  return { ...(typeof n === 'number' && Number.isInteger(n) ? { asn: n } : {}), ...(typeof org === 'string' && org !== '' ? { asOrganization: org } : {}) };
}

/**
 * Opens an mmdb file. @throws PortwardenError PW_ERR_CONFIG_INVALID naming the file and why (missing,
 * unreadable, not an mmdb).
 */
export function openMmdb(path: string, field: string): { reader: Reader<Response>; buffer: Buffer } {
  let buffer: Buffer;
  try {
    buffer = readFileSync(path);
  } catch (err) {
    throw new PortwardenError('PW_ERR_CONFIG_INVALID', `${field} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  try {
    return { reader: new Reader<Response>(buffer), buffer };
  } catch (err) {
    throw new PortwardenError('PW_ERR_CONFIG_INVALID', `${field} ${path}: not an mmdb database (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is IPv4: the kernel sees those packets as IPv4, and an IPv4-only database knows only that form. */
function plainAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m === null ? address : m[1];
}

export class GeoDatabase implements GeoLookup {
  readonly info: GeoDatabaseInfo;
  readonly asnInfo: GeoDatabaseInfo | null;
  readonly #country: Reader<Response>;
  readonly #countryBuffer: Buffer;
  readonly #asn: Reader<Response> | null;

  private constructor(country: Reader<Response>, buffer: Buffer, paths: GeoDatabasePaths, asn: Reader<Response> | null) {
    this.#country = country;
    this.#countryBuffer = buffer;
    this.#asn = asn;
    this.info = describe(country, paths.database);
    this.asnInfo = asn === null || paths.asnDatabase == null ? null : describe(asn, paths.asnDatabase);
  }

  /** @throws PortwardenError PW_ERR_CONFIG_INVALID naming the file (geo.database, geo.asnDatabase) that cannot be used. */
  static open(paths: GeoDatabasePaths): GeoDatabase {
    const country = openMmdb(paths.database, 'geo.database');
    const asn = paths.asnDatabase == null ? null : openMmdb(paths.asnDatabase, 'geo.asnDatabase').reader;
    // The reader keeps its buffer private; the tree walk reads the same bytes.
    return new GeoDatabase(country.reader, country.buffer, paths, asn);
  }

  /** Country and ASN of an address; null when neither database knows it (or it is not an address). */
  geoOf(address: string): GeoFacts | null {
    const a = plainAddress(address);
    let rec: unknown;
    let asnRec: unknown;
    try {
      rec = this.#country.get(a);
      asnRec = this.#asn === null ? rec : this.#asn.get(a);
    } catch {
      return null; // not an address: mmdb-lib throws
    }
    const country = countryOfRecord(rec);
    const asn = asnOfRecord(asnRec);
    if (country === undefined && asn.asn === undefined) return null;
    return { ...(country === undefined ? {} : { country }), ...asn };
  }

  /** Every country code the database places a network in, sorted. */
  countries(): readonly string[] {
    if (this.#countries !== null) return this.#countries;
    const seen = new Set<string>();
    for (const n of treeNetworks(this.#tree())) {
      const c = this.#countryOfPointer(n);
      if (c !== undefined) seen.add(c);
    }
    return (this.#countries = Object.freeze([...seen].sort()));
  }

  #countries: readonly string[] | null = null;

  /**
   * The networks of `countries` (upper-case codes), from the database's tree: adjacent and nested
   * networks merged (nft interval sets refuse overlaps), sorted; a CIDR where the merge is one block, else a range.
   */
  networksOf(countries: ReadonlySet<string>): CountryNetworks {
    const spans: Record<Family, [bigint, bigint][]> = { 4: [], 6: [] };
    for (const n of treeNetworks(this.#tree())) {
      const c = this.#countryOfPointer(n);
      if (c === undefined || !countries.has(c)) continue;
      const width = n.family === 4 ? 32 : 128;
      const start = networkStart(n);
      spans[n.family].push([start, start + (1n << BigInt(width - n.prefixLength)) - 1n]);
    }
    return { 4: merged(4, spans[4]), 6: merged(6, spans[6]) };
  }

  #tree() {
    const m = this.#country.metadata;
    return { buffer: this.#countryBuffer, ipVersion: m.ipVersion, nodeCount: m.nodeCount, recordSize: m.recordSize };
  }

  /** Each data pointer's country, looked up once per distinct record (through an address of its network), not per network. */
  readonly #pointers = new Map<number, string | undefined>();

  #countryOfPointer(n: TreeNetwork): string | undefined {
    if (this.#pointers.has(n.pointer)) return this.#pointers.get(n.pointer);
    const c = countryOfRecord(this.#country.get(formatAddress(n.family, networkStart(n))));
    this.#pointers.set(n.pointer, c);
    return c;
  }
}

function describe(r: Reader<Response>, path: string): GeoDatabaseInfo {
  const m = r.metadata;
  return { path, type: m.databaseType, builtAt: m.buildEpoch.toISOString(), ipVersion: m.ipVersion };
}

/**
 * Spans sorted and joined where they touch or nest; each comes out as a CIDR when it is one aligned
 * block, else as an nft range `first-last` (cutting a range into CIDRs costs up to 128 bigint steps
 * per block, seconds for a large country, and the kernel stores a range as one interval anyway).
 */
function merged(family: Family, spans: [bigint, bigint][]): string[] {
  spans.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: string[] = [];
  let cur: [bigint, bigint] | null = null;
  for (const s of spans) {
    if (cur !== null && s[0] <= cur[1] + 1n) {
      if (s[1] > cur[1]) cur[1] = s[1];
      continue;
    }
    if (cur !== null) out.push(spanText(family, cur[0], cur[1]));
    cur = [s[0], s[1]];
  }
  if (cur !== null) out.push(spanText(family, cur[0], cur[1]));
  return out;
}

function spanText(family: Family, first: bigint, last: bigint): string {
  const size = last - first + 1n;
  // One aligned block: a power of two in size, starting at a multiple of it.
  if ((size & (size - 1n)) === 0n && first % size === 0n) {
    const width = family === 4 ? 32 : 128;
    const prefix = width - (size.toString(2).length - 1);
    return prefix === width ? formatAddress(family, first) : `${formatAddress(family, first)}/${prefix}`;
  }
  return `${formatAddress(family, first)}-${formatAddress(family, last)}`;
}
