import type { IncidentRecord } from '../model/incident.js';

/** One incident as one readable line (the JSON record has everything; this is for people). */
export function formatIncidentLine(r: IncidentRecord): string {
  if (r.kind === 'anomaly') return `${r.kind.padEnd(16)} ${r.class.padEnd(8)} ${String(r.evidence.trigger)}  ${formatSpan(r.first_seen, r.last_seen)}`;
  const who = r['source.ip'] ?? (r.sources !== undefined ? `${r.sources.length} sources (${abbreviate(r.sources, 4)})` : sourcesFromEvidence(r));
  const where = r['destination.ip'] ?? r['destination.port'] ?? '';
  const port = r['destination.ip'] !== undefined && r['destination.port'] !== undefined ? `:${r['destination.port']}` : '';
  const span = formatSpan(r.first_seen, r.last_seen);
  let what = '';
  if (r.ports !== undefined) what = `${r.ports.count} ports (${abbreviate(r.ports.sample, 5)})`;
  else if (r.hosts !== undefined) what = `${r.hosts.count} hosts (${abbreviate(r.hosts.sample, 3)})`;
  else if (r.kind === 'flood') what = `${r.evidence.peak_packets_per_second} pkt/s peak`;
  return `${r.kind.padEnd(16)} ${r.class.padEnd(8)} ${who} -> ${where}${port}  ${what}  ${r.probes} probes  ${span}  confidence ${r.confidence}`;
}

function sourcesFromEvidence(r: IncidentRecord): string {
  const n = r.evidence.distinct_sources;
  return typeof n === 'number' ? `~${n} sources${r.evidence.spoofed_sources === true ? ' (spoofed)' : ''}` : '?';
}

function abbreviate(items: readonly string[], max: number): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')}, …`;
}

function formatSpan(first: string, last: string): string {
  const seconds = (Date.parse(last) - Date.parse(first)) / 1000;
  const duration = seconds < 120 ? `${seconds.toFixed(1)}s` : seconds < 7200 ? `${(seconds / 60).toFixed(1)}min` : `${(seconds / 3600).toFixed(1)}h`;
  return `${first} +${duration}`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
