/**
 * The flood guard's settings (the config's `floodGuard` section): kernel rate limits that are always
 * on once configured, and two guards engaged while a flood lasts (`synproxy` for SYN floods against a
 * port, `unsolicited` for reflection floods). Every rate is per second; 0 turns that limit off.
 *
 * The profiles all start with everything off: a limit that drops traffic is a choice the operator
 * makes for their services (which ports, what a legitimate client's rate is); an engaged guard also
 * changes what the host answers (synproxy answers SYNs for the listener).
 */
import type { z } from 'zod';
import type { ProfileName } from '../model/profile.js';
import { intRange, listOf, nonNegativeInt, onOff, oneOf, port, positiveInt, section, type SettingsSection } from '../model/settings-kit.js';

export const UNSOLICITED_MODES = ['off', 'on-flood', 'always'] as const;

/** UDP source ports of the usual reflection services: chargen, DNS, NTP, SNMP, CLDAP, IKE, SSDP, memcached. */
export const REFLECTION_UDP_PORTS: readonly number[] = Object.freeze([19, 53, 123, 161, 389, 500, 1900, 11211]);

const limit = section({
  perSourcePerSecond: nonNegativeInt,
  perSourceBurst: positiveInt,
  globalPerSecond: nonNegativeInt,
  globalBurst: positiveInt,
});

export const floodGuardSchema = section({
  /** The guard's sets, chains and counters in the table at all (off: nothing of it in the kernel). */
  enabled: onOff,
  /** Per-source new TCP connections (SYNs) to these ports; empty: no connection limit. */
  connLimit: section({
    tcpPorts: listOf(port, 'a list of ports'),
    perSourcePerSecond: positiveInt,
    perSourceBurst: positiveInt,
  }),
  /** New UDP flows (conntrack `new`: nothing answered yet), per source and for the whole host. */
  udp: limit,
  /** ICMP / ICMPv6 echo requests, per source and for the whole host. */
  icmp: limit,
  synproxy: section({
    /** Engage synproxy on a port when detection reports a SYN flood against it. */
    onFlood: onOff,
    /** Ports synproxy may guard; empty: any port a SYN flood aims at. */
    ports: listOf(port, 'a list of ports'),
    /** The MSS and window scale synproxy announces: the listener's (1460 on a 1500-byte link). */
    mss: intRange(536, 65495),
    wscale: intRange(0, 14),
    /** Engaged at least this long. */
    minSeconds: positiveInt,
    /** Released once unanswered SYNs to the guarded ports stay under releaseBelowPerSecond this long. */
    quietSeconds: positiveInt,
    releaseBelowPerSecond: positiveInt,
  }),
  unsolicited: section({
    /** off; on-flood: while a reflection flood is detected; always: from start. */
    mode: oneOf(UNSOLICITED_MODES),
    /** UDP source ports whose unsolicited packets are dropped (reflection services). */
    udpSourcePorts: listOf(port, 'a list of ports'),
    minSeconds: positiveInt,
    quietSeconds: positiveInt,
    releaseBelowPerSecond: positiveInt,
  }),
  /** How often the kernel's counters are read while a guard is engaged (release decisions, metrics). */
  checkEveryMs: intRange(100, 60_000, 'ms'),
});

export type FloodGuardSettings = z.output<typeof floodGuardSchema>;

const base: FloodGuardSettings = {
  enabled: true,
  connLimit: { tcpPorts: [], perSourcePerSecond: 20, perSourceBurst: 40 },
  udp: { perSourcePerSecond: 0, perSourceBurst: 200, globalPerSecond: 0, globalBurst: 2000 },
  icmp: { perSourcePerSecond: 0, perSourceBurst: 20, globalPerSecond: 0, globalBurst: 200 },
  synproxy: { onFlood: false, ports: [], mss: 1460, wscale: 7, minSeconds: 30, quietSeconds: 30, releaseBelowPerSecond: 100 },
  unsolicited: { mode: 'off', udpSourcePorts: [...REFLECTION_UDP_PORTS], minSeconds: 30, quietSeconds: 30, releaseBelowPerSecond: 20 },
  checkEveryMs: 1000,
};

export const FLOOD_GUARD_PROFILES: Readonly<Record<ProfileName, Readonly<FloodGuardSettings>>> = {
  normal: Object.freeze(base),
  aggressive: Object.freeze(base),
  paranoid: Object.freeze(base),
};

/** The config's `floodGuard` section. */
export const floodGuardSettings: SettingsSection<FloodGuardSettings> = {
  schema: floodGuardSchema,
  defaults: (profile) => structuredClone(FLOOD_GUARD_PROFILES[profile]) as FloodGuardSettings,
};
