/**
 * Countries in the kernel: `geo.block` and `geo.allowOnly` become interval sets of the database's
 * own networks (geoblock4/6, geoallow4/6) and drop rules in the table's `drop` phase, so the lookup
 * per packet is the kernel's, not JavaScript's. The allow sets (allowlist, loopback, own addresses,
 * gateways, resolvers, SSH peers) are accepted in the `exempt` phase before these rules: the lockout
 * guard's addresses always pass, whatever country the database gives them.
 *
 * The sets are filled through `nft -f` in one transaction (`flush set` + `add element`), at start,
 * after the table is set up again, and on reload; the kernel swaps old and new elements atomically,
 * so there is no moment with neither. Their elements are kept across a restart that keeps the table.
 * Geo is not on the packet path of the daemon at all.
 */
import { runNft } from '../../kernel/nft.js';
import type { HookRule, RuleContribution, SetDeclaration } from '../../kernel/ruleset.js';
import type { EventLogger } from '../../model/logger.js';
import type { GeoPort, GeoSettings } from '../geo-settings.js';
import type { CountryNetworks, GeoDatabase } from './geo-database.js';

export const GEO_SETS = { block4: 'geoblock4', block6: 'geoblock6', allow4: 'geoallow4', allow6: 'geoallow6' } as const;

/** Elements per `add element` line: nft reads each line into memory whole. */
const ELEMENTS_PER_LINE = 10_000;

export interface GeoFenceOptions {
  database: GeoDatabase;
  settings: GeoSettings;
  /** The table's name (enforce's `nfTableName`). */
  table: string;
  /** Rules in the forward hook too (a router, `enforce.forward`). */
  forward: boolean;
  nftPath?: string;
  log: EventLogger;
}

/** What the last load put into the kernel: elements per set. */
export type GeoLoad = Record<keyof typeof GEO_SETS, number>;

function set(name: string, type: SetDeclaration['type']): SetDeclaration {
  return { kind: 'set', name, type, flags: ['interval'], keepElements: true };
}

function portRules(ports: readonly GeoPort[]): { protocol: 'tcp' | 'udp'; list: string }[] {
  const out: { protocol: 'tcp' | 'udp'; list: string }[] = [];
  for (const protocol of ['tcp', 'udp'] as const) {
    const list = [...new Set(ports.filter((p) => p.protocol === protocol).map((p) => p.port))].sort((a, b) => a - b);
    if (list.length > 0) out.push({ protocol, list: list.join(', ') });
  }
  return out;
}

/** Names a list of countries in a rule comment (at most 128 bytes). */
function countriesText(countries: readonly string[]): string {
  const text = countries.join(' ');
  return text.length <= 90 ? text : `${countries.slice(0, 25).join(' ')} and ${countries.length - 25} more`;
}

/**
 * geo's part of the table (kernel/ruleset.ts): the sets and their drop rules, in input (and forward on
 * a router). Null when the settings block nothing (a database alone only enriches).
 */
export function geoContribution(s: GeoSettings, forward: boolean): RuleContribution | null {
  if (s.database === null || (s.block.length === 0 && s.allowOnly === null)) return null;
  const declarations: SetDeclaration[] = [];
  const rules: HookRule[] = [];
  const hooks = forward ? (['input', 'forward'] as const) : (['input'] as const);
  if (s.block.length > 0) {
    declarations.push(set(GEO_SETS.block4, 'ipv4_addr'), set(GEO_SETS.block6, 'ipv6_addr'));
    const comment = `portwarden geo: blocked ${countriesText(s.block)}`;
    for (const hook of hooks) {
      rules.push({ hook, phase: 'drop', nft: `ip saddr @${GEO_SETS.block4} drop`, comment }, { hook, phase: 'drop', nft: `ip6 saddr @${GEO_SETS.block6} drop`, comment });
    }
  }
  if (s.allowOnly !== null) {
    declarations.push(set(GEO_SETS.allow4, 'ipv4_addr'), set(GEO_SETS.allow6, 'ipv6_addr'));
    const comment = `portwarden geo: only ${countriesText(s.allowOnly.countries)}`;
    for (const hook of hooks) {
      for (const { protocol, list } of portRules(s.allowOnly.ports)) {
        rules.push(
          { hook, phase: 'drop', nft: `${protocol} dport { ${list} } ip saddr != @${GEO_SETS.allow4} drop`, comment },
          { hook, phase: 'drop', nft: `${protocol} dport { ${list} } ip6 saddr != @${GEO_SETS.allow6} drop`, comment },
        );
      }
    }
  }
  return { owner: 'geo', declarations, rules };
}

/** `nft -f` text that replaces a set's elements in the same transaction as every other line. */
function replaceElementsText(table: string, name: string, elements: readonly string[]): string[] {
  const lines = [`flush set inet ${table} ${name}`];
  for (let i = 0; i < elements.length; i += ELEMENTS_PER_LINE) lines.push(`add element inet ${table} ${name} { ${elements.slice(i, i + ELEMENTS_PER_LINE).join(', ')} }`);
  return lines;
}

export class GeoFence {
  readonly #o: GeoFenceOptions;
  #last: GeoLoad | null = null;

  constructor(options: GeoFenceOptions) {
    this.#o = options;
  }

  /** The table part to hand to the ruleset builder (null: nothing to enforce). */
  contribution(): RuleContribution | null {
    return geoContribution(this.#o.settings, this.#o.forward);
  }

  /** What the last load put into the kernel (null before the first). */
  get loaded(): GeoLoad | null {
    return this.#last;
  }

  /**
   * Fills the geo sets from the database in one `nft -f` transaction and logs what it loaded.
   * @throws PortwardenError PW_ERR_ENFORCE when nft refuses.
   */
  async load(): Promise<GeoLoad> {
    const { settings: s, database, table, log } = this.#o;
    const started = Date.now();
    const block: CountryNetworks = s.block.length > 0 ? database.networksOf(new Set(s.block)) : { 4: [], 6: [] };
    const allow: CountryNetworks = s.allowOnly !== null ? database.networksOf(new Set(s.allowOnly.countries)) : { 4: [], 6: [] };
    const lines: string[] = [];
    if (s.block.length > 0) lines.push(...replaceElementsText(table, GEO_SETS.block4, block[4]), ...replaceElementsText(table, GEO_SETS.block6, block[6]));
    if (s.allowOnly !== null) lines.push(...replaceElementsText(table, GEO_SETS.allow4, allow[4]), ...replaceElementsText(table, GEO_SETS.allow6, allow[6]));
    const load: GeoLoad = { block4: block[4].length, block6: block[6].length, allow4: allow[4].length, allow6: allow[6].length };
    if (lines.length === 0) return (this.#last = load);
    await runNft(this.#o.nftPath ?? 'nft', ['-f', '-'], `${lines.join('\n')}\n`);
    this.#last = load;
    const missing = [...s.block, ...(s.allowOnly?.countries ?? [])].filter((c) => !database.countries().includes(c));
    log.info(
      { 'event.action': 'geo-loaded', 'geo.block': s.block, 'geo.allow_only': s.allowOnly?.countries, 'geo.allow_only_ports': s.allowOnly?.ports.map((p) => `${p.protocol}/${p.port}`), 'geo.elements': load, 'geo.database': database.info.path, 'event.duration_ms': Date.now() - started },
      `geo: ${load.block4 + load.block6} networks blocked, ${load.allow4 + load.allow6} allowed to ${s.allowOnly?.ports.map((p) => `${p.protocol}/${p.port}`).join(', ') ?? 'no port'}, from ${database.info.type}`,
    );
    // An IPv4-only database (or countries without IPv6 networks) leaves the IPv6 allow set empty: every
    // IPv6 source is then outside geo.allowOnly. Consistent, but worth saying out loud.
    for (const family of [4, 6] as const) {
      if (s.allowOnly !== null && allow[family].length === 0) log.warn({ 'event.action': 'geo-allow-empty', 'geo.family': family }, `geo: no IPv${family} network of ${s.allowOnly.countries.join(', ')} in the database: no IPv${family} source but the allow sets' reaches ${s.allowOnly.ports.map((p) => `${p.protocol}/${p.port}`).join(', ')}`);
    }
    if (missing.length > 0) log.warn({ 'event.action': 'geo-unknown-country', 'geo.countries': missing }, `geo: the database places no network in ${missing.join(', ')}`);
    return load;
  }
}
