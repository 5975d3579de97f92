/**
 * Geo's settings (the config's `geo` section): the country database and the countries the kernel
 * blocks or lets in. The same for every profile. Off (no database) by default: no freely licensed
 * country database comes with Debian 12 in the mmdb format (README "Geo and reputation").
 *
 * ```yaml
 * geo:
 *   database: /var/lib/GeoIP/GeoLite2-Country.mmdb   # or DB-IP lite, or any mmdb with a country code
 *   asnDatabase: /var/lib/GeoIP/GeoLite2-ASN.mmdb    # optional
 *   block: [CN, RU]                                  # dropped, every port
 *   allowOnly: { countries: [DE, FR], ports: [tcp/22] }   # only these countries reach these ports
 * ```
 * The database is opened by the schema, so `config check` and `start` refuse a missing or broken
 * file at its line.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Reader } from 'maxmind';
import { describe, listOf, section, type CrossFieldParams, type SettingsSection } from '../model/settings-kit.js';

/** A port a geo rule guards: `tcp/22`, `udp/51820`. */
export interface GeoPort {
  protocol: 'tcp' | 'udp';
  port: number;
}

export interface GeoSettings {
  /** The country mmdb; null: geo is off (no sets, no enrichment). */
  database: string | null;
  /** An ASN mmdb (GeoLite2-ASN shape); null: ASN only where the country database has it. */
  asnDatabase: string | null;
  /** Countries (ISO 3166-1 alpha-2) whose sources are dropped on every port. */
  block: string[];
  /** Only these countries reach these ports (the allowlist and the lockout guard's addresses always do); null: no such rule. */
  allowOnly: { countries: string[]; ports: GeoPort[] } | null;
}

const country = z
  .string({ error: (issue) => `must be a two-letter country code (ISO 3166-1 alpha-2, like DE), got ${describe(issue.input)}` })
  .transform((v) => v.toUpperCase())
  .refine((v) => /^[A-Z]{2}$/.test(v), { error: (issue) => `must be a two-letter country code (ISO 3166-1 alpha-2, like DE), got ${describe(issue.input)}` });

const geoPort = z
  .string({ error: (issue) => `must be tcp/PORT or udp/PORT, got ${describe(issue.input)}` })
  .transform((v, ctx): GeoPort => {
    const m = /^(tcp|udp)\/(\d{1,5})$/.exec(v.trim().toLowerCase());
    const port = m === null ? NaN : Number(m[2]);
    if (m === null || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', input: v, message: `must be tcp/PORT or udp/PORT with a port from 1 to 65535, got ${describe(v)}` });
      return z.NEVER;
    }
    return { protocol: m[1] as 'tcp' | 'udp', port };
  });

/** A file that is an mmdb database: read and its metadata parsed, as start will. */
function mmdbFile(what: string) {
  return z
    .string({ error: (issue) => `must be the path of ${what} (an mmdb file), or null, got ${describe(issue.input)}` })
    .superRefine((path, ctx) => {
      const problem = mmdbProblem(path);
      if (problem !== null) ctx.addIssue({ code: 'custom', input: path, message: problem });
    })
    .nullable();
}

/** Why `path` is not a usable mmdb file, or null. */
export function mmdbProblem(path: string): string | null {
  let buffer: Buffer;
  try {
    buffer = readFileSync(path);
  } catch (err) {
    return `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
  try {
    new Reader(buffer);
  } catch (err) {
    return `${path} is not an mmdb database (${err instanceof Error ? err.message : String(err)})`;
  }
  return null;
}

export const geoSchema = section({
  database: mmdbFile('a country database'),
  asnDatabase: mmdbFile('an ASN database'),
  block: listOf(country, 'a list of country codes'),
  allowOnly: section({
    countries: listOf(country, 'a list of country codes').min(1, { error: 'must name at least one country (an empty list would let no one reach the ports)' }),
    ports: listOf(geoPort, 'a list of ports like tcp/22').min(1, { error: 'must name at least one port, like tcp/22' }),
  }).nullable(),
}).superRefine((g, ctx) => {
  if (g.database !== null) return;
  const needs = (key: string) => ctx.addIssue({ code: 'custom', path: [key], input: (g as Record<string, unknown>)[key], params: { alsoAt: ['database'] } satisfies CrossFieldParams, message: 'needs geo.database (a country mmdb): without one no country is known' });
  if (g.block.length > 0) needs('block');
  if (g.allowOnly !== null) needs('allowOnly');
  if (g.asnDatabase !== null) needs('asnDatabase');
});

/** The config's `geo` section. */
export const geoSettings: SettingsSection<GeoSettings> = {
  schema: geoSchema satisfies z.ZodType<GeoSettings, unknown>,
  defaults: () => ({ database: null, asnDatabase: null, block: [], allowOnly: null }),
};

/** Whether geo does anything in the kernel (a database alone only enriches). */
export function geoEnforces(s: GeoSettings): boolean {
  return s.database !== null && (s.block.length > 0 || s.allowOnly !== null);
}
