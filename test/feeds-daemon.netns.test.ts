/**
 * Threat feeds in a running daemon (issue 13): the last good copy on disk is enforced at start even
 * though its source cannot be read (and the set is not emptied by the failures), `portwarden feeds`
 * says so, a feed gone stale is alerted, `feeds update` brings a new copy, and real TCP from listed,
 * unlisted, allowlisted, own-subnet and alert-listed addresses gets what each should; `lookup` names
 * the feed entry and line that list an address.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsPair } from './support/testkit-netns.js';
import { feedLab, LAB_PORT, routeBack, tcpConnects } from './support/feed-lab.js';
import { controlCli, logged, startDaemon, statusCounters, waitUntil, type LogLine } from './support/daemon-process.js';

const LISTED = '198.51.100.7';
const LISTED_LATER = '198.51.100.130';
const ALLOWLISTED = '198.51.100.8';
const ALERTED = '198.51.100.200';
const UNLISTED = '203.0.113.50';
const SUBNET_PEER = '10.77.0.1';
const LISTED6 = '2001:db8:66::7';
const UNLISTED6 = '2001:db8:66::50';
const plan = feedLab('pwfeedd', [LISTED, LISTED_LATER, ALLOWLISTED, ALERTED, UNLISTED], [LISTED6, UNLISTED6]);
const GROUP = 7600 + (process.pid % 90);
let pair: NetnsPair;
let dir: string;
let socket: string;
let daemon: ChildProcess;
const log: LogLine[] = [];

before(async () => {
  pair = new NetnsPair(plan);
  routeBack(pair, ['198.51.100.0/24', '203.0.113.0/24', '2001:db8:66::/64']);
  pair.spawn(pair.protectedNs, process.execPath, ['-e', `require('net').createServer((s) => s.end()).listen(${LAB_PORT}, '::')`]);
  dir = mkdtempSync(join(tmpdir(), 'pw-feeds-daemon-'));
  socket = join(dir, 'run', 'control.sock');
  // The last good copy of lab-drop, as a previous run left it; its source file does not exist yet.
  mkdirSync(join(dir, 'state', 'feeds'), { recursive: true });
  writeFileSync(join(dir, 'state', 'feeds', 'lab-drop.body'), `198.51.100.0/25\n10.77.0.0/24\n${LISTED6}\n`);
  writeFileSync(join(dir, 'state', 'feeds', 'lab-drop.meta.json'), JSON.stringify({ validators: {}, fetchedAtMs: Date.now(), entries: 3 }));
  writeFileSync(join(dir, 'alert.txt'), `${ALERTED}\n`);
  const config = [
    'capture:',
    `  nflogGroup: ${GROUP}`,
    'control:',
    `  socketPath: ${socket}`,
    'state:',
    `  dir: ${join(dir, 'state')}`,
    'observe:',
    '  listen: null',
    'allowlist:',
    `  - ${ALLOWLISTED}`,
    'feeds:',
    '  - name: lab-drop',
    `    url: file://${join(dir, 'drop.txt')}`,
    '    format: plain',
    '    refresh: 2s',
    '    action: drop',
    '  - name: lab-alert',
    `    url: file://${join(dir, 'alert.txt')}`,
    '    format: plain',
    '    refresh: 1h',
    '    action: alert',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'portwarden.yaml'), config);
  daemon = await startDaemon(pair, ['--config', join(dir, 'portwarden.yaml')], log);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const until = (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => waitUntil(what, check, timeoutMs, log);

const connects = (from: string, count: number) => tcpConnects(pair, from, count);

function feeds(): Record<string, Record<string, unknown>> {
  const r = controlCli(socket, 'feeds', '--json');
  assert.equal(r.status, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).map((f) => [f.name as string, f]));
}

test('the stored copy is enforced at start though its source is missing; failures never empty the set; a stale feed is alerted', async () => {
  await until('the first fetch of lab-drop to fail', () => logged(log, 'feed-refused', (l) => l['feed.name'] === 'lab-drop'));
  const f = feeds()['lab-drop'];
  assert.equal(f.entries, 3);
  assert.match(String(f.lastError), /cannot read .*drop\.txt/);
  assert.equal(await connects(LISTED, 3), 0, 'listed in the stored copy: dropped');
  assert.equal(await connects(LISTED6, 3), 0, 'listed IPv6: dropped');
  assert.equal(await connects(UNLISTED, 3), 3, 'unlisted: through');
  assert.equal(await connects(UNLISTED6, 3), 3, 'unlisted IPv6: through');
  assert.equal(await connects(ALLOWLISTED, 3), 3, 'allowlisted (inside a listed /25): through');
  assert.equal(await connects(SUBNET_PEER, 3), 3, "the host's own subnet, listed: subtracted");
  assert.equal(await connects(ALERTED, 3), 3, 'alert feed: not dropped');
  // 3x the 2 s refresh without a good copy: stale, once.
  await until('the stale alert', () => logged(log, 'feed-stale', (l) => l['feed.name'] === 'lab-drop'));
  assert.equal(feeds()['lab-drop'].stale, true);
  assert.equal(feeds()['lab-drop'].entries, 3, 'still the stored copy after many failed fetches');
  const text = controlCli(socket, 'feeds');
  assert.match(text.stdout, /^NAME\s+ACTION\s+ENTRIES\s+AGE\s+LAST FETCH\s+MATCHES\s+LAST ERROR/m);
  assert.match(text.stdout, /lab-drop\s+drop\s+3\s+\S+.*\(stale\)/);
});

test('feeds update brings the new copy; matches and entries are counted, in feeds --json and the metrics counters', async () => {
  writeFileSync(join(dir, 'drop.txt'), `198.51.100.0/25\n198.51.100.128/26\n10.77.0.0/24\n${LISTED6}\n`);
  const r = controlCli(socket, 'feeds', 'update', 'lab-drop');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /lab-drop: (updated|not-modified), 4 entries/);
  assert.equal(await connects(LISTED_LATER, 3), 0, 'listed by the new copy: dropped');
  assert.equal(await connects(LISTED, 2), 0);
  const all = feeds();
  assert.equal(all['lab-drop'].entries, 4);
  assert.equal(all['lab-drop'].lastError, null);
  assert.equal(all['lab-drop'].stale, false);
  assert.ok((all['lab-drop'].matches as { packets: number }).packets >= 10, JSON.stringify(all['lab-drop']));
  assert.ok((all['lab-alert'].matches as { packets: number }).packets >= 3, JSON.stringify(all['lab-alert']));
  await until('the match log of the alert feed', () => logged(log, 'feed-match', (l) => l['feed.name'] === 'lab-alert'));
  const counters = statusCounters(socket);
  assert.equal(counters['feeds.lab-drop.entries'], 4);
  assert.ok(counters['feeds.lab-drop.fetch_errors'] >= 1);
  assert.ok(counters['feeds.lab-alert.matches'] >= 3);
  // lookup (intel's other stages) sees the loaded feeds through FeedMembership: the entry and its line.
  const lookup = controlCli(socket, 'lookup', LISTED_LATER, '--json');
  assert.equal(lookup.status, 0, lookup.stderr);
  const view = JSON.parse(lookup.stdout) as { feeds: { feed: string; entry: string; line: number }[]; reputation: { feeds: string[] } };
  assert.deepEqual(view.feeds.map((f) => [f.feed, f.entry, f.line]), [['lab-drop', '198.51.100.128/26', 2]]);
  assert.deepEqual(view.reputation.feeds, ['lab-drop']);
  const unknown = controlCli(socket, 'feeds', 'update', 'nope');
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /no feed is named "nope"/);
});
