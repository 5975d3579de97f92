/**
 * What the start log and `status` say the daemon watches and protects: a first-time operator reads here
 * which interfaces are captured, how, and which addresses the lockout guard will never ban.
 */
import type { Watching } from '../capture/live-capture.js';
import type { GuardSnapshot } from '../decide/lockout-guard.js';
import type { EventLogger } from '../model/logger.js';

export type { Watching } from '../capture/live-capture.js';


/** Which interfaces are watched, for people: "eth0 (the default route's), with nflog". */
export function watchingText(w: Watching): string {
  if (w.interfaces.length === 0) return `every interface but loopback, with ${w.method} (there is no default route; name interfaces with --interface or capture.interfaces)`;
  return `${w.interfaces.join(', ')} (${w.from === 'config' ? 'as configured' : "the default route's"}), with ${w.method}`;
}

const SAMPLE = 3;

/** What the lockout guard never bans, counted, with a few of each: "2 own addresses (10.0.0.2, fe80::1), …". */
export function protectingText(g: GuardSnapshot): string {
  const kinds: [string, string, string[]][] = [
    ['own address', 'own addresses', g.ownAddresses],
    ['default gateway', 'default gateways', g.gateways],
    ['resolver', 'resolvers', g.resolvers],
    ['SSH peer', 'SSH peers', g.sshPeers],
  ];
  const parts = kinds.map(([one, many, list]) => `${list.length} ${list.length === 1 ? one : many}${list.length > 0 ? ` (${sample(list)})` : ''}`);
  return `loopback, ${parts.join(', ')}, ${g.allowlist} allowlist ${g.allowlist === 1 ? 'entry' : 'entries'}`;
}

function sample(list: readonly string[]): string {
  return list.length > SAMPLE ? `${list.slice(0, SAMPLE).join(', ')}, …` : list.join(', ');
}

/** The lists as log fields: counts and the same sample. */
export function protectingFields(g: GuardSnapshot): Record<string, unknown> {
  return {
    'guard.own': g.ownAddresses.length,
    'guard.gateways': g.gateways.length,
    'guard.resolvers': g.resolvers.length,
    'guard.ssh_peers': g.sshPeers.length,
    'guard.allowlist': g.allowlist,
    'guard.sample': [...g.ownAddresses.slice(0, SAMPLE), ...g.gateways.slice(0, SAMPLE), ...g.resolvers.slice(0, SAMPLE), ...g.sshPeers.slice(0, SAMPLE)],
  };
}

/** What a first run needs to know, logged once the daemon runs: what is watched, what is never banned, where it lives. */
export function logStarted(log: EventLogger, o: { watching: Watching; guard: GuardSnapshot; profile: string; dryRun: boolean; backend: string; config: string; stateDir: string; socket: string; nflogGroup?: number }): void {
  const w = o.watching;
  log[w.interfaces.length === 0 ? 'warn' : 'info']({ 'event.action': 'watching', 'capture.method': w.method, 'capture.interfaces': w.interfaces, 'capture.interfaces.from': w.from }, `watching ${watchingText(w)}`);
  log.info({ 'event.action': 'protecting', ...protectingFields(o.guard) }, `never banned: ${protectingText(o.guard)}`);
  log.info(
    { 'event.action': 'started', profile: o.profile, config: o.config, 'state.dir': o.stateDir, backend: o.dryRun ? 'dry-run' : o.backend, capture: w.method, 'nflog.group': o.nflogGroup, socket: o.socket },
    `portwarden started (profile ${o.profile}${o.dryRun ? ', dry run' : ''}; config ${o.config}; control socket ${o.socket}; state ${o.stateDir})`,
  );
}
