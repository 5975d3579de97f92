/**
 * The flood guard's part of the `inet portwarden` table (kernel/ruleset.ts):
 *
 * - a base chain `guard_raw` at prerouting, priority raw (-300, before conntrack): SYNs to the ports in
 *   `guard_syn_ports` are marked `notrack`, so conntrack keeps no state for a spoofed SYN, and counted
 *   (`guard_syn_seen`). Loopback, allowlisted and protected sources are left alone: tracked as always.
 * - a chain `guard`, jumped to from the input chain's `drop` phase: after the allow sets accepted the
 *   allowlisted and protected sources and after the bans, so neither is ever limited here. In order:
 *   the unsolicited-answer drops (chain `guard_unsolicited`, empty until engaged), synproxy for the
 *   guarded ports, per-source new-connection limits on configured ports, UDP and ICMP limits per
 *   source (dynamic sets with meters) and for the whole host (named limits).
 *
 * synproxy is engaged per port by adding the port to `guard_syn_ports` with a timeout (so a daemon
 * that dies leaves nothing on for longer than that); unsolicited drops by filling `guard_unsolicited`.
 * Both need only `nft -f` text, applied in one transaction each.
 *
 * Every drop counts into a named counter (`guard_*`, read back as `floodGuard.kernel.*`).
 */
import { checkRuleLine, type ChainDeclaration, type Declaration, type HookRule, type RuleContribution } from '../kernel/ruleset.js';
import type { FloodGuardSettings } from './flood-guard-settings.js';

export const GUARD_CHAIN = 'guard';
export const RAW_CHAIN = 'guard_raw';
export const UNSOLICITED_CHAIN = 'guard_unsolicited';
export const SYN_PORTS = 'guard_syn_ports';
/** prerouting priority `raw`: before conntrack (-200), where notrack must be. */
const RAW_PRIORITY = -300;
const SET_SIZE = 65536;
const METER_SECONDS = 60;
const SYN_ONLY = 'tcp flags & (fin | syn | rst | ack) == syn';

/** Kernel counters, by the name they get in status (`floodGuard.kernel.*`, the `guard_` dropped). */
export const GUARD_COUNTERS = {
  guard_conn_dropped: 'new TCP connections dropped: over the per-source rate on a limited port',
  guard_udp_source_dropped: 'new UDP flows dropped: over the per-source rate',
  guard_udp_global_dropped: 'new UDP flows dropped: over the host-wide rate',
  guard_icmp_source_dropped: 'ICMP echo requests dropped: over the per-source rate',
  guard_icmp_global_dropped: 'ICMP echo requests dropped: over the host-wide rate',
  guard_syn_seen: 'SYNs to synproxy-guarded ports (untracked, answered by synproxy)',
  guard_syn_completed: 'handshakes synproxy completed and handed to the listener (client ACKs it checked)',
  guard_syn_invalid: 'packets to synproxy-guarded ports conntrack found invalid: dropped',
  guard_unsolicited_dropped: 'reply-shaped packets conntrack does not know (unsolicited answers): dropped',
} as const;
export type GuardCounterName = keyof typeof GUARD_COUNTERS;

const FAMILIES = [
  { v: 4, saddr: 'ip saddr', allow: 'allow4' },
  { v: 6, saddr: 'ip6 saddr', allow: 'allow6' },
] as const;

function meterSet(name: string, v: 4 | 6): Declaration {
  return { kind: 'set', name, type: v === 4 ? 'ipv4_addr' : 'ipv6_addr', size: SET_SIZE, flags: ['dynamic', 'timeout'], timeoutSeconds: METER_SECONDS };
}

function over(perSecond: number, burst: number): string {
  return `limit rate over ${perSecond}/second burst ${burst} packets`;
}

/** The table's declarations: the synproxy port set, the meters, the host-wide limits, the counters. */
export function guardDeclarations(s: FloodGuardSettings): Declaration[] {
  const out: Declaration[] = [{ kind: 'set', name: SYN_PORTS, type: 'inet_service', flags: ['timeout'] }];
  for (const { v } of FAMILIES) {
    if (s.connLimit.tcpPorts.length > 0) out.push(meterSet(`guard_conn${v}`, v));
    if (s.udp.perSourcePerSecond > 0) out.push(meterSet(`guard_udp${v}`, v));
    if (s.icmp.perSourcePerSecond > 0) out.push(meterSet(`guard_icmp${v}`, v));
  }
  if (s.udp.globalPerSecond > 0) out.push({ kind: 'limit', name: 'guard_udp_cap', perSecond: s.udp.globalPerSecond, burstPackets: s.udp.globalBurst });
  if (s.icmp.globalPerSecond > 0) out.push({ kind: 'limit', name: 'guard_icmp_cap', perSecond: s.icmp.globalPerSecond, burstPackets: s.icmp.globalBurst });
  for (const name of Object.keys(GUARD_COUNTERS)) out.push({ kind: 'counter', name });
  return out;
}

/**
 * The `guard_raw` chain: SYNs to guarded ports go untracked, except from loopback (the host talking to
 * itself, synproxy's own SYN to the listener included) and allowlisted or protected sources, which stay
 * tracked as always. It sees every packet before conntrack, so the port lookup comes first: a packet
 * to no guarded port costs one set lookup.
 */
export function rawRules(): string[] {
  return FAMILIES.map((f) => `tcp dport @${SYN_PORTS} ${SYN_ONLY} iif != "lo" ${f.saddr} != @${f.allow} counter name "guard_syn_seen" notrack`);
}

/** The `guard` chain's rules (see the module comment for the order and why). */
export function guardRules(s: FloodGuardSettings): string[] {
  // The host talking to itself (a local resolver stub, synproxy's SYN to the listener) is never limited.
  const rules = ['iif "lo" return', `jump ${UNSOLICITED_CHAIN}`];
  // A guarded port's SYNs arrive untracked; the client's ACK is `invalid` to conntrack (with
  // nf_conntrack_tcp_loose=0, which the guard sets while synproxy is on) and goes to synproxy too.
  const proxy = `synproxy mss ${s.synproxy.mss} wscale ${s.synproxy.wscale} timestamp sack-perm`;
  rules.push(
    `tcp dport @${SYN_PORTS} ct state untracked ${SYN_ONLY} ${proxy}`,
    `tcp dport @${SYN_PORTS} ct state invalid tcp flags & (fin | syn | rst | ack) == ack counter name "guard_syn_completed" ${proxy}`,
    `tcp dport @${SYN_PORTS} ct state invalid counter name "guard_syn_invalid" drop`,
  );
  if (s.connLimit.tcpPorts.length > 0) {
    const ports = [...new Set(s.connLimit.tcpPorts)].sort((a, b) => a - b).join(', ');
    for (const f of FAMILIES) {
      rules.push(`tcp dport { ${ports} } ${SYN_ONLY} ct state new add @guard_conn${f.v} { ${f.saddr} ${over(s.connLimit.perSourcePerSecond, s.connLimit.perSourceBurst)} } counter name "guard_conn_dropped" drop`);
    }
  }
  rules.push(...protocolLimits('udp', 'meta l4proto udp ct state new', s.udp));
  rules.push(...protocolLimits('icmp', 'icmp type echo-request', s.icmp, 'icmpv6 type echo-request'));
  return rules;
}

/**
 * Per-source meters first (one source's excess is its own), then the host-wide limit: within it the
 * packet returns to the input chain, past it it is dropped. `return` is safe here: these are the
 * guard chain's last rules, and the host-wide rules of one protocol never match another's packets.
 */
function protocolLimits(name: 'udp' | 'icmp', match4: string, l: FloodGuardSettings['udp'], match6 = match4): string[] {
  const out: string[] = [];
  if (l.perSourcePerSecond > 0) {
    for (const f of FAMILIES) out.push(`${f.v === 4 ? match4 : match6} add @guard_${name}${f.v} { ${f.saddr} ${over(l.perSourcePerSecond, l.perSourceBurst)} } counter name "guard_${name}_source_dropped" drop`);
  }
  if (l.globalPerSecond > 0) {
    const matches = match4 === match6 ? [match4] : [match4, match6];
    for (const m of matches) out.push(`${m} limit name "guard_${name}_cap" return`, `${m} counter name "guard_${name}_global_dropped" drop`);
  }
  return out;
}

/**
 * The `guard_unsolicited` chain's rules while engaged: reply-shaped packets conntrack does not place.
 * An answer to a request the host made is `established` (or `related` for an ICMP error about it)
 * and matches none of these.
 */
export function unsolicitedRules(s: FloodGuardSettings): string[] {
  const drop = 'counter name "guard_unsolicited_dropped" drop';
  const rules = [
    `tcp flags & (syn | ack) == syn | ack ct state new,invalid ${drop}`,
    `tcp flags & (syn | rst | ack) == rst ct state new,invalid ${drop}`,
    `tcp flags & (syn | rst | ack) == rst | ack ct state new,invalid ${drop}`,
    `icmp type { destination-unreachable, time-exceeded, parameter-problem } ct state new,invalid ${drop}`,
    `icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } ct state new,invalid ${drop}`,
  ];
  const ports = [...new Set(s.unsolicited.udpSourcePorts)].sort((a, b) => a - b);
  if (ports.length > 0) rules.push(`udp sport { ${ports.join(', ')} } ct state new,invalid ${drop}`);
  return rules.map((r, i) => checkRuleLine(r, `floodGuard.unsolicited[${i}]`));
}

/** The guard's contribution: declarations, the two chains and `guard_raw`, the jump from input. */
export function floodGuardContribution(s: FloodGuardSettings): RuleContribution {
  const chains: ChainDeclaration[] = [
    { name: UNSOLICITED_CHAIN, rules: s.unsolicited.mode === 'always' ? unsolicitedRules(s) : [] },
    { name: GUARD_CHAIN, rules: guardRules(s) },
    { name: RAW_CHAIN, rules: rawRules(), base: { hook: 'prerouting', priority: RAW_PRIORITY } },
  ];
  const rules: HookRule[] = [{ hook: 'input', phase: 'drop', nft: `jump ${GUARD_CHAIN}`, comment: 'portwarden flood guard: rate limits, synproxy, unsolicited answers' }];
  return { owner: 'floodGuard', declarations: guardDeclarations(s), chains, rules };
}

/** `nft -f` text that fills (or empties) the unsolicited chain. */
export function unsolicitedText(table: string, s: FloodGuardSettings, on: boolean): string {
  return [`flush chain inet ${table} ${UNSOLICITED_CHAIN}`, ...(on ? unsolicitedRules(s).map((r) => `add rule inet ${table} ${UNSOLICITED_CHAIN} ${r}`) : []), ''].join('\n');
}

/**
 * `nft -f` text that puts `port` into the synproxy set with a fresh timeout: add (so the delete finds
 * it whether or not it was there), delete, add with the timeout, in one transaction.
 */
export function synPortText(table: string, port: number, timeoutSeconds: number): string {
  const el = `inet ${table} ${SYN_PORTS} { ${port} }`;
  return [`add element ${el}`, `delete element ${el}`, `add element inet ${table} ${SYN_PORTS} { ${port} timeout ${timeoutSeconds}s }`, ''].join('\n');
}

/** `nft -f` text that takes `port` out of the synproxy set (added first, so the delete cannot fail). */
export function synPortReleaseText(table: string, port: number): string {
  const el = `inet ${table} ${SYN_PORTS} { ${port} }`;
  return [`add element ${el}`, `delete element ${el}`, ''].join('\n');
}
