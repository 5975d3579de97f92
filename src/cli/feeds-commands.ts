/**
 * `portwarden feeds [--json]` and `portwarden feeds update [NAME]`: the threat feeds of the running daemon,
 * over its control socket (like the other control verbs, only the socket client is loaded).
 */
import { request } from '../control/client.js';
import type { FeedView } from '../model/control.js';
import { humanDuration } from '../model/duration.js';
import type { Output } from './analyze.js';
import { socketPath, type ControlOptions } from './control-commands.js';

/** One row per feed: name, action, entries, age, last fetch, matches, last error. */
export function feedTable(feeds: readonly FeedView[]): string[] {
  const rows = [['NAME', 'ACTION', 'ENTRIES', 'AGE', 'LAST FETCH', 'MATCHES', 'LAST ERROR']];
  for (const f of feeds) {
    const age = f.ageSeconds === null ? 'none' : `${humanDuration(f.ageSeconds)}${f.stale ? ' (stale)' : ''}`;
    const fetched = f.lastFetch === null ? 'never' : f.lastFetch.slice(0, 19).replace('T', ' ');
    const matches = f.matches === null ? '-' : `${f.matches.packets} pkts`;
    const error = f.lastError === null ? '' : f.lastError.length > 60 ? `${f.lastError.slice(0, 60)}…` : f.lastError;
    rows.push([f.name, f.action, String(f.entries), age, fetched, matches, error]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
}

export async function runFeeds(update: boolean, name: string | undefined, options: ControlOptions, io: Output): Promise<number> {
  const path = await socketPath(options);
  if (!update) {
    const feeds = await request(path, { command: 'feeds' });
    if (options.json) for (const f of feeds) io.out(JSON.stringify(f));
    else if (feeds.length === 0) io.out('no feeds configured (the config\'s feeds section; README "Feeds")');
    else for (const line of feedTable(feeds)) io.out(line);
    return 0;
  }
  const results = await request(path, { command: 'feeds-update', ...(name === undefined ? {} : { name }) }, 600_000);
  let failed = false;
  for (const r of results) {
    if (options.json) io.out(JSON.stringify(r));
    else if (r.outcome === 'too-soon') io.out(`${r.name}: not fetched, inside the source's minimum refresh`);
    else if (r.outcome === 'failed') io.out(`${r.name}: failed, the last good copy stays (${r.feed?.entries ?? 0} entries): ${r.feed?.lastError ?? ''}`);
    else io.out(`${r.name}: ${r.outcome}, ${r.feed?.entries ?? 0} entries`);
    failed ||= r.outcome === 'failed';
  }
  return failed ? 1 : 0;
}
