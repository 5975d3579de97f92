/**
 * Probe classes: what a first contact looks like on the wire. The numeric ids index per-class
 * counters on the hot path; the names are the public vocabulary of incident records.
 */
export const ProbeClass = {
  syn: 0,
  connect: 1,
  fin: 2,
  null: 3,
  xmas: 4,
  ack: 5,
  maimon: 6,
  odd: 7,
  udp: 8,
  'ip-proto': 9,
  icmp: 10,
} as const;

export type ProbeClassName = keyof typeof ProbeClass;
export const PROBE_CLASS_NAMES = Object.keys(ProbeClass) as ProbeClassName[];
export const PROBE_CLASS_COUNT = PROBE_CLASS_NAMES.length;

/**
 * Incident classes are the probe classes, `mixed` (no class dominates), the link's own discovery: `arp`
 * and `nd` (neighbour solicitation), and `reflection` (a flood of answers the target never asked for,
 * sent by innocent servers to requests forged in its name).
 */
export type IncidentClass = ProbeClassName | 'mixed' | 'arp' | 'nd' | 'reflection';

