/**
 * Geo as one part of the daemon: the database opened at start (or the log saying geo is off and why),
 * geo's part of the table, and the fence that fills the kernel's geo sets at start and again whenever
 * the table is set up again. The daemon only wires it.
 */
import type { RuleContribution } from '../../kernel/ruleset.js';
import type { EventLogger } from '../../model/logger.js';
import { geoEnforces, type GeoSettings } from '../geo-settings.js';
import { GeoDatabase } from './geo-database.js';
import { geoContribution, GeoFence } from './geo-fence.js';

/** What the start log, `config check` and the README say when no database is named. */
export const GEO_OFF_TEXT = 'geo: off; no geo.database is named (no freely licensed country mmdb comes with portwarden or Debian 12: name a GeoLite2-Country or DB-IP lite file, see README "Geo and reputation")';

/** What `config check` says of geo: off and why, or the database and what the rules do (the file was opened by the schema). */
export function geoCheckLine(s: GeoSettings): string {
  if (s.database === null) return GEO_OFF_TEXT;
  const db = GeoDatabase.open({ database: s.database, asnDatabase: s.asnDatabase });
  const rules = [
    ...(s.block.length > 0 ? [`blocks ${s.block.join(', ')}`] : []),
    ...(s.allowOnly !== null ? [`lets only ${s.allowOnly.countries.join(', ')} reach ${s.allowOnly.ports.map((p) => `${p.protocol}/${p.port}`).join(', ')}`] : []),
  ];
  const unknown = [...s.block, ...(s.allowOnly?.countries ?? [])].filter((c) => !db.countries().includes(c));
  return `geo: ${db.info.type} (${db.info.path}, built ${db.info.builtAt.slice(0, 10)})${db.asnInfo === null ? '' : `, ASN from ${db.asnInfo.path}`}; ${rules.length === 0 ? 'enriches incidents only' : rules.join('; ')}${unknown.length === 0 ? '' : `; the database places no network in ${unknown.join(', ')}`}`;
}

export class GeoStage {
  readonly database: GeoDatabase | null;
  readonly settings: GeoSettings;
  readonly #log: EventLogger;
  #fence: GeoFence | null = null;

  private constructor(settings: GeoSettings, database: GeoDatabase | null, log: EventLogger) {
    this.settings = settings;
    this.database = database;
    this.#log = log;
  }

  /** Opens the database (PW_ERR_CONFIG_INVALID naming the file when it cannot be used) and says what geo does. */
  static open(settings: GeoSettings, log: EventLogger): GeoStage {
    if (settings.database === null) {
      log.info({ 'event.action': 'geo-off' }, GEO_OFF_TEXT);
      return new GeoStage(settings, null, log);
    }
    const db = GeoDatabase.open({ database: settings.database, asnDatabase: settings.asnDatabase });
    log.info({ 'event.action': 'geo-database', 'geo.database': db.info, 'geo.asn_database': db.asnInfo }, `geo: ${db.info.type} from ${db.info.path} (built ${db.info.builtAt.slice(0, 10)})${db.asnInfo === null ? '' : `, ASN from ${db.asnInfo.path}`}`);
    return new GeoStage(settings, db, log);
  }

  /** geo's part of the table; undefined when it blocks nothing. */
  contribution(forward: boolean): RuleContribution | undefined {
    return this.database === null ? undefined : (geoContribution(this.settings, forward) ?? undefined);
  }

  /**
   * Fills the geo sets of `table` (the nftables table's name; undefined: a backend without one). In a
   * dry run the rules are not in the table, and the log says the countries are not enforced.
   */
  async start(table: string | undefined, forward: boolean, dryRun: boolean): Promise<void> {
    if (this.database === null || !geoEnforces(this.settings)) return;
    if (dryRun || table === undefined) {
      this.#log.warn({ 'event.action': 'geo-not-enforced', 'event.reason': dryRun ? 'dry run' : 'backend without nftables table' }, 'geo: the country rules are not enforced in a dry run');
      return;
    }
    this.#fence = new GeoFence({ database: this.database, settings: this.settings, table, forward, log: this.#log });
    await this.#fence.load();
  }

  /** The table was set up again (empty sets): fill them again. */
  async restore(): Promise<void> {
    await this.#fence?.load();
  }
}
