/**
 * `portwarden lookup ADDR [--json]`: the daemon's answer (control/lookup.ts) as one JSON object, or
 * as lines an operator reads top to bottom: protected?, banned?, where, feeds, offences, reputation.
 */
import { request } from '../control/client.js';
import type { LookupView } from '../model/control.js';
import { utcMinute } from '../model/duration.js';
import type { Output } from './analyze.js';
import { socketPath } from './control-commands.js';

export function lookupLines(v: LookupView): string[] {
  const out = [v.address];
  out.push(`protected: ${v.protected === null ? 'no' : `yes, never banned (${v.protected.reason})`}`);
  if (v.bans.length === 0) out.push('banned: no');
  for (const b of v.bans) {
    const by = b.target === v.address ? '' : ` by ${b.target}`;
    out.push(`banned${by}: ${b.expiresAt === null ? 'permanent' : `until ${utcMinute(Date.parse(b.expiresAt))}`}, ${b.origin}: ${b.reason}`);
  }
  if (v.geoDatabase === null) out.push('geo: off (no geo.database)');
  else {
    const g = v.geo;
    const country = g?.country ?? 'unknown';
    const as = g?.asn === undefined ? 'AS unknown' : `AS${g.asn}${g.asOrganization === undefined ? '' : ` ${g.asOrganization}`}`;
    out.push(`country: ${country}; ${as}`);
    if (v.geoPolicy !== null) out.push(`geo rules: ${v.geoPolicy}`);
  }
  if (v.feeds.length === 0) out.push('feeds: none list it');
  for (const f of v.feeds) out.push(`feed ${f.feed}: ${f.entry}${f.line === undefined ? '' : ` (line ${f.line})`}, ${f.action}, weight ${f.weight}`);
  out.push(v.offences === null ? 'offences: none' : `offences: ${v.offences.count} (first ${utcMinute(Date.parse(v.offences.firstSeen))}, last ${utcMinute(Date.parse(v.offences.lastSeen))}), score now ${v.offences.score}`);
  const r = v.reputation;
  out.push(`reputation: ${r.score} (offences ${r.offenceScore} + feeds ${r.feedWeight})`);
  for (const e of v.enrichment ?? []) {
    const summary = e.summary === undefined ? '' : Object.entries(e.summary).map(([k, val]) => `${k}=${String(val)}`).join(', ');
    const when = e.fetchedAt === undefined ? '' : ` (${e.cached === true ? 'cached, ' : ''}${utcMinute(Date.parse(e.fetchedAt))})`;
    out.push(`${e.service}: ${e.status === 'ok' ? summary : `${e.status}${e.error === undefined ? '' : `: ${e.error}`}`}${when}`);
  }
  return out;
}

export async function runLookup(address: string, options: { socket?: string; config?: string; json?: boolean }, io: Output): Promise<number> {
  const view = await request(await socketPath(options), { command: 'lookup', address });
  if (options.json) io.out(JSON.stringify(view));
  else for (const line of lookupLines(view)) io.out(line);
  return 0;
}
