/**
 * The baselines' learned state in state.db (detect/baseline/): one row per tracked place (the host,
 * an address, a service port) with its series as one blob, and the packet-time hour being counted.
 * Written whole in one transaction (an hour's learning touches every row), read whole at start, so a
 * restart does not forget a month.
 */
import type { BaselineKeyState, BaselineSnapshot } from '../detect/baseline/tracker.js';
import type { MetricScope } from '../detect/baseline/anomaly-incident.js';
import type { StateDatabase } from './database.js';

interface Row {
  name: string;
  scope: string;
  map_key: number;
  address: string | null;
  port: string | null;
  state: Buffer;
}

const SCOPES: readonly string[] = ['host', 'address', 'port'] satisfies readonly MetricScope[];

export class BaselineStore {
  readonly #save: (snapshot: BaselineSnapshot, nowMs: number) => void;
  readonly #rows;
  readonly #clock;

  constructor(db: StateDatabase) {
    const clear = db.prepare('DELETE FROM baseline_metrics');
    const insert = db.prepare('INSERT INTO baseline_metrics (position, name, scope, map_key, address, port, state, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const clock = db.prepare('INSERT OR REPLACE INTO baseline_clock (id, hour_start_ms, packets_this_hour) VALUES (1, ?, ?)');
    const tx = db.transaction((s: BaselineSnapshot, nowMs: number) => {
      clear.run();
      s.keys.forEach((k, i) => insert.run(i, k.name, k.scope, k.mapKey, k.address, k.port, k.data, nowMs));
      clock.run(s.hourStartMs, s.packetsThisHour);
    });
    this.#save = (s, nowMs) => tx.immediate(s, nowMs);
    this.#rows = db.prepare<[], Row>('SELECT name, scope, map_key, address, port, state FROM baseline_metrics ORDER BY position');
    this.#clock = db.prepare<[], { hour_start_ms: number; packets_this_hour: number }>('SELECT hour_start_ms, packets_this_hour FROM baseline_clock WHERE id = 1');
  }

  save(snapshot: BaselineSnapshot, nowMs: number): void {
    this.#save(snapshot, nowMs);
  }

  /** What was saved, or null when nothing was. Rows of an unknown scope are skipped. */
  load(): BaselineSnapshot | null {
    const clock = this.#clock.get();
    if (clock === undefined) return null;
    const keys: BaselineKeyState[] = [];
    for (const r of this.#rows.all()) {
      if (!SCOPES.includes(r.scope)) continue;
      keys.push({ name: r.name, scope: r.scope as MetricScope, mapKey: r.map_key, address: r.address, port: r.port, data: r.state });
    }
    return { hourStartMs: clock.hour_start_ms, packetsThisHour: clock.packets_this_hour, keys };
  }
}
