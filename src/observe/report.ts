/**
 * `portwarden report` as one self-contained HTML page (inline CSS and SVG, no script, nothing fetched), for an
 * operator or an auditor: incidents by kind and class over time, the sources behind most of them, the bans made
 * and how they ended, escalations, and the state database's health. Printed to PDF by chromium it keeps its
 * layout (print CSS, A4). Every figure carries a `data-figure` name so a test can read it back and compare it
 * with the database.
 */
import { humanDuration, utcMinute } from '../model/duration.js';
import type { ReportData } from '../state/report-query.js';

const KIND_COLOURS: Record<string, string> = {
  scan: '#d9534f',
  sweep: '#f0ad4e',
  'distributed-scan': '#8e44ad',
  'decoy-scan': '#5bc0de',
  flood: '#2c3e50',
  anomaly: '#e67e22',
  'dns-block': '#16a085',
  rule: '#7f8c8d',
};
const FALLBACK_COLOUR = '#95a5a6';

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const num = (n: number): string => n.toLocaleString('en-US');

function figure(name: string, value: number, label: string): string {
  return `<div class="tile"><div class="value" data-figure="${esc(name)}">${num(value)}</div><div class="label">${esc(label)}</div></div>`;
}

function table(headers: string[], rows: string[][], name: string): string {
  if (rows.length === 0) return `<p class="empty" data-table="${esc(name)}">none in this period</p>`;
  return `<table data-table="${esc(name)}"><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function tally(counts: Record<string, number>, name: string, what: string): string {
  return table(
    [what, 'incidents'],
    Object.entries(counts).map(([k, n]) => [esc(k), `<span data-count="${esc(k)}">${num(n)}</span>`]),
    name,
  );
}

/** Incidents per day, stacked by kind: an SVG bar chart with a legend. */
function dailyChart(data: ReportData): string {
  const days = data.incidents.perDay;
  const kinds = Object.keys(data.incidents.byKind);
  const width = 720;
  const height = 220;
  const left = 40;
  const bottom = 30;
  const plotW = width - left - 10;
  const plotH = height - bottom - 10;
  const max = Math.max(1, ...days.map((d) => Object.values(d.byKind).reduce((a, b) => a + b, 0)));
  const barW = plotW / Math.max(1, days.length);
  const bars: string[] = [];
  days.forEach((d, i) => {
    let y = 10 + plotH;
    for (const kind of kinds) {
      const n = d.byKind[kind] ?? 0;
      if (n === 0) continue;
      const h = (n / max) * plotH;
      y -= h;
      bars.push(
        `<rect x="${(left + i * barW + barW * 0.1).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW * 0.8).toFixed(1)}" height="${h.toFixed(1)}" fill="${KIND_COLOURS[kind] ?? FALLBACK_COLOUR}"><title>${esc(d.day)}: ${n} ${esc(kind)}</title></rect>`,
      );
    }
  });
  const ticks = [0, Math.ceil(max / 2), max].map((v) => {
    const y = 10 + plotH - (v / max) * plotH;
    return `<line x1="${left - 4}" x2="${width - 10}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" class="grid"/><text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${v}</text>`;
  });
  const step = Math.max(1, Math.ceil(days.length / 8));
  const labels = days
    .map((d, i) => (i % step === 0 ? `<text x="${(left + i * barW + barW / 2).toFixed(1)}" y="${height - 10}" text-anchor="middle">${esc(d.day.slice(5))}</text>` : ''))
    .join('');
  const legend = kinds.map((k) => `<span class="key"><i style="background:${KIND_COLOURS[k] ?? FALLBACK_COLOUR}"></i>${esc(k)}</span>`).join('');
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="incidents per day by kind" data-chart="per-day">${ticks.join('')}${bars.join('')}${labels}</svg><div class="legend">${legend}</div>`;
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 24px auto; max-width: 900px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 0; } h2 { font-size: 17px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
.period { color: #555; margin-top: 4px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 10px; } .value { font-size: 22px; font-weight: 600; } .label { color: #555; font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
th { font-size: 12px; color: #555; } td.why { font-size: 12px; color: #444; }
svg { width: 100%; height: auto; } svg text { font-size: 10px; fill: #555; } svg .grid { stroke: #eee; }
.legend { font-size: 12px; } .key { margin-right: 12px; white-space: nowrap; } .key i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; } .empty { color: #777; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } table, svg { break-inside: avoid; } }
@page { size: A4; margin: 14mm; }
`;

export interface ReportContext {
  host: string;
  stateDir: string;
  version: string;
  generatedMs: number;
  /** Set when geo is configured; otherwise the report says countries are not known. */
  geo: boolean;
}

export function renderReport(data: ReportData, ctx: ReportContext): string {
  const i = data.incidents;
  const b = data.bans;
  const h = data.health;
  const sources = data.topSources.map((s) => [
    `<code>${esc(s.address)}</code>`,
    num(s.incidents),
    esc(s.kinds.join(', ')),
    s.offences === null ? '–' : num(s.offences),
    s.score === null ? '–' : s.score.toFixed(2),
  ]);
  const escalations = data.escalations.map((e) => [`<code>${esc(e.target)}</code>`, esc(utcMinute(e.createdMs)), String(e.offence), esc(humanDuration(e.seconds)), `<span class="why">${esc(e.why)}</span>`]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>portwarden report ${esc(ctx.host)}</title><style>${CSS}</style></head>
<body>
<h1>portwarden report: ${esc(ctx.host)}</h1>
<p class="period">From <b data-figure-text="since">${esc(utcMinute(data.sinceMs))}</b> to <b data-figure-text="until">${esc(utcMinute(data.untilMs))}</b>
(${esc(humanDuration((data.untilMs - data.sinceMs) / 1000))}); generated ${esc(utcMinute(ctx.generatedMs))} by portwarden ${esc(ctx.version)} from ${esc(ctx.stateDir)}.</p>

<h2>Summary</h2>
<div class="tiles">
${figure('incidents', i.total, 'incidents')}
${figure('bans-created', b.created, 'bans made')}
${figure('bans-escalated', b.escalated, 'escalated (repeat offenders)')}
${figure('bans-active', b.active, 'of them still in force')}
${figure('sources', i.distinctSources, 'distinct sources')}
</div>

<h2>Incidents over time</h2>
${i.total === 0 ? '<p class="empty">no incidents in this period</p>' : dailyChart(data)}
<div class="two"><div><h3>By kind</h3>${tally(i.byKind, 'by-kind', 'kind')}</div><div><h3>By class</h3>${tally(i.byClass, 'by-class', 'class')}</div></div>
<h3>Decisions</h3>${tally(i.byDecision, 'by-decision', 'decision')}

<h2>Top sources</h2>
${ctx.geo ? '' : '<p class="empty">Countries are not shown: no geo database is configured.</p>'}
${table(['source', 'incidents', 'kinds', 'offences (all time)', 'reputation'], sources, 'top-sources')}

<h2>Bans and their outcomes</h2>
<div class="tiles">
${figure('bans-expired', b.expired, 'expired by themselves')}
${figure('bans-lifted', b.lifted, 'lifted early (unban, allow, replaced)')}
${figure('bans-permanent', b.permanent, 'permanent')}
</div>
<p>Longest ban made: <b data-figure-text="longest">${esc(b.longestSeconds === null ? 'none' : humanDuration(b.longestSeconds))}</b>.</p>
${table(['origin', 'bans'], Object.entries(b.byOrigin).map(([k, n]) => [esc(k), `<span data-count="${esc(k)}">${num(n)}</span>`]), 'by-origin')}

<h2>Escalations</h2>
${table(['target', 'made', 'offence', 'length', 'arithmetic'], escalations, 'escalations')}

<h2>Health of the record</h2>
<table data-table="health"><tbody>
<tr><th>bans in force now</th><td data-figure="active-now">${num(h.activeBansNow)}</td></tr>
<tr><th>offenders remembered</th><td data-figure="offenders">${num(h.offenders)}</td></tr>
<tr><th>incidents on record</th><td>${esc(h.firstIncidentMs === null ? 'none' : `${utcMinute(h.firstIncidentMs)} to ${utcMinute(h.lastIncidentMs)}`)}</td></tr>
<tr><th>database</th><td>${esc(`${(h.databaseBytes / 1_048_576).toFixed(1)} MiB, schema ${h.schemaVersion}`)}</td></tr>
</tbody></table>
</body></html>
`;
}
