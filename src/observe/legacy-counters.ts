/**
 * The counter registry built from the daemon's older getters (a pipeline's DecodeStats, the engine's
 * counters, the capture sources' stats, the repair count), for a daemon that does not yet hand the
 * observatory a registry of its own. Same names as the stages register themselves, so metrics read
 * one vocabulary either way. Goes away once daemon.ts wires a CounterRegistry.
 */
import { decodeCounterGroup } from '../decode/counters.js';
import type { DecodeStats } from '../decode/events.js';
import { CounterRegistry } from '../model/counters.js';
import { PROBE_CLASS_NAMES } from '../model/probe.js';

export interface LegacyCounterSource {
  decodeStats?(): DecodeStats | null;
  detectionCounters?(): Readonly<Record<string, number>> | null;
  /** Indexed by ProbeClass id. */
  probesByClass?(): ArrayLike<number> | null;
  captures?(): readonly { readonly received: number; readonly delivered?: number; readonly lost: number }[];
  repairs?(): number;
}

export function legacyCounterRegistry(s: LegacyCounterSource): CounterRegistry {
  const r = new CounterRegistry();
  r.add({
    group: 'decode',
    forEach(visit) {
      const d = s.decodeStats?.();
      if (d !== null && d !== undefined) decodeCounterGroup(d).forEach(visit);
    },
  });
  r.add({
    group: 'detect',
    forEach(visit) {
      const values = s.detectionCounters?.();
      if (values !== null && values !== undefined) for (const [name, v] of Object.entries(values)) visit(name, v, '');
      const byClass = s.probesByClass?.();
      if (byClass !== null && byClass !== undefined) PROBE_CLASS_NAMES.forEach((name, id) => visit(`probes.class.${name}`, byClass[id] ?? 0, ''));
    },
  });
  r.add({
    group: 'capture',
    forEach(visit) {
      for (const c of s.captures?.() ?? []) {
        visit('capture.received', c.received, '');
        if (c.delivered !== undefined) visit('capture.delivered', c.delivered, '');
        visit('capture.lost', c.lost, '');
      }
    },
  });
  r.add({
    group: 'reconcile',
    forEach(visit) {
      if (s.repairs !== undefined) visit('reconcile.repairs', s.repairs(), 'drift the reconciler repaired');
    },
  });
  return r;
}
