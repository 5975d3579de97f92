import type { CounterGroup } from '../model/counters.js';
import { DECODE_EVENT_COUNT, DecodeEventDoc, decodeEventName, type DecodeStats } from './events.js';

/** The frame totals of DecodeStats, by counter name (the events follow as `<prefix>.<event name>`). */
export const DecodeTotalDoc = {
  frames: 'frames handed to the decoder',
  decoded: 'frames that decoded without a malformed event',
  malformed: 'frames that stopped at a malformed layer',
} as const;

/**
 * The decoder's counters of one packet source as a registry group: `<prefix>.frames`,
 * `<prefix>.decoded`, `<prefix>.malformed` and one `<prefix>.<event>` per decoder event (malformed
 * events and notices alike; DecodeEventDoc says which is which). Read in place from `stats`: the
 * hot path keeps counting into DecodeStats as before.
 */
export function decodeCounterGroup(stats: DecodeStats, prefix = 'decode'): CounterGroup {
  const p = `${prefix}.`;
  const eventNames: string[] = [];
  for (let id = 1; id < DECODE_EVENT_COUNT; id++) eventNames[id] = p + (decodeEventName(id) ?? String(id));
  return {
    group: prefix,
    forEach(visit) {
      visit(`${p}frames`, stats.frames, DecodeTotalDoc.frames);
      visit(`${p}decoded`, stats.decoded, DecodeTotalDoc.decoded);
      visit(`${p}malformed`, stats.malformed, DecodeTotalDoc.malformed);
      for (let id = 1; id < DECODE_EVENT_COUNT; id++) {
        const name = decodeEventName(id);
        visit(eventNames[id], stats.counts[id], name === undefined ? '' : DecodeEventDoc[name]);
      }
    },
  };
}
