/**
 * `portwarden fleet status [--json]` (the running daemon's view of its fleet, over the control socket) and
 * `portwarden fleet keygen FILE` (a new signing key, 0600, and its public key as the line trustedKeys takes).
 */
import { request } from '../control/client.js';
import { writeNewKey } from '../fleet/signing.js';
import type { FleetStatusView } from '../model/fleet.js';
import { humanDuration } from '../model/duration.js';
import type { Output } from './analyze.js';
import { socketPath } from './control-commands.js';

export async function runFleetStatus(options: { socket?: string; config?: string; json: boolean }, io: Output): Promise<number> {
  const view = await request(await socketPath(options), { command: 'fleet' });
  if (options.json) io.out(JSON.stringify(view));
  else for (const line of fleetStatusText(view, Date.now())) io.out(line);
  return 0;
}

/** The fleet view as lines: this host, then one row per peer. */
export function fleetStatusText(v: FleetStatusView, nowMs: number): string[] {
  const head = `fleet: ${v.state}${v.synced ? '' : ' (not synced yet)'}; this host ${v.host} (key ${v.fingerprint}); servers ${v.servers.join(', ')}; outbox ${v.outbox}`;
  const header = ['HOST', 'KEY', 'LAST SEEN', 'LAG', 'BANS', 'UNBANS', 'REFUSED', 'CAPPED', 'DROPPED'];
  const rows = v.peers.map((p) => [
    p.host,
    p.fingerprint ?? '(untrusted)',
    p.lastSeen === null ? 'never' : `${humanDuration(Math.max(0, Math.round((nowMs - Date.parse(p.lastSeen)) / 1000)))} ago`,
    p.lagMs === null ? '-' : `${p.lagMs} ms`,
    String(p.bansApplied),
    String(p.unbansApplied),
    String(p.bansRefused),
    String(p.bansCapped),
    String(p.dropped),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [head, line(header), ...rows.map(line)];
}

export function runFleetKeygen(file: string, host: string | undefined, io: Output): number {
  const key = writeNewKey(file);
  io.out(`${host ?? 'HOST'}: "${key.publicKey}"`);
  return 0;
}
