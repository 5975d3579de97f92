/**
 * Feeds in a real kernel: the daemon's table with the feed sets, real ICMP from listed, unlisted,
 * allowlisted and protected addresses, and 20 updates while a listed address probes without pause.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLines, NetnsPair } from '../../../test/support/testkit-netns.js';
import { childCaller, FEED_CHILD, feedLab, LAB_PORT, REPO_ROOT, routeBack, tcpConnects, tcpProber } from '../../../test/support/feed-lab.js';

const LISTED = '198.51.100.7';
const ALLOWLISTED = '198.51.100.8';
const ALERTED = '198.51.100.200';
const UNLISTED = '203.0.113.50';
const SUBNET_PEER = '10.77.0.1'; // listed through 10.77.0.0/24, the host's own subnet: subtracted
const LISTED6 = '2001:db8:66::7';
const UNLISTED6 = '2001:db8:66::50';
const plan = feedLab('pwfeed', [LISTED, ALLOWLISTED, ALERTED, UNLISTED], [LISTED6, UNLISTED6]);
const dir = mkdtempSync(join(tmpdir(), 'pw-feed-lab-'));
const lab = new NetnsPair(plan);
after(() => {
  lab.destroy();
  rmSync(dir, { recursive: true, force: true });
});
routeBack(lab, ['198.51.100.0/24', '203.0.113.0/24', '2001:db8:66::/64']);

let version = 0;
/** The drop feed's file: the listed networks plus 5,000 fillers of which a fifth change each version. */
function writeDropFeed(variant: number): void {
  const lines = ['# lab feed', variant % 2 === 0 ? '198.51.100.0/25' : '198.51.100.0/25\n198.51.100.128/27', '10.77.0.0/24', LISTED6];
  for (let i = 0; i < 5000; i++) {
    const n = i < 1000 ? i + 1000 * (variant % 7) : i + 10_000;
    lines.push(`100.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`.replace(/^100\./, '45.'));
  }
  const path = join(dir, 'drop.txt');
  writeFileSync(path, `${lines.join('\n')}\n`);
  const t = new Date(Date.UTC(2026, 0, 1) + ++version * 1000);
  utimesSync(path, t, t);
}

const connects = (from: string, count: number) => tcpConnects(lab, from, count);

test('listed addresses are dropped, unlisted, allowlisted and protected ones get through, alert feeds only count; 20 updates never let a listed address through', async () => {
  writeDropFeed(0);
  writeFileSync(join(dir, 'alert.txt'), `${ALERTED}\n`);
  const child = new JsonLines(lab.spawn(lab.protectedNs, process.execPath, ['--import', 'tsx', FEED_CHILD], { cwd: REPO_ROOT }));
  await child.next((m) => m.ready === true, 60_000);
  const call = childCaller(child);
  await call('init', {
    feeds: [
      { name: 'lab-drop', url: `file://${join(dir, 'drop.txt')}`, format: 'plain', refresh: '1m', action: 'drop' },
      { name: 'lab-alert', url: `file://${join(dir, 'alert.txt')}`, format: 'plain', refresh: '1m', action: 'alert' },
    ],
    protected: [],
    stateDir: join(dir, 'store'),
  });
  await call('allow', { address: ALLOWLISTED });
  await call('listen', { port: LAB_PORT });
  // Before any feed: everyone gets through.
  assert.equal(await connects(LISTED, 2), 2);
  assert.equal((await call('update', { name: 'lab-drop' })).outcome, 'updated');
  assert.equal((await call('update', { name: 'lab-alert' })).outcome, 'updated');

  assert.equal(await connects(LISTED, 3), 0, 'listed: dropped');
  assert.equal(await connects(LISTED6, 3), 0, 'listed IPv6: dropped');
  assert.equal(await connects(UNLISTED, 3), 3, 'unlisted: through');
  assert.equal(await connects(UNLISTED6, 3), 3, 'unlisted IPv6: through');
  assert.equal(await connects(ALLOWLISTED, 3), 3, 'allowlisted: the allow set is matched before the feed sets');
  assert.equal(await connects(SUBNET_PEER, 3), 3, "the host's own subnet was subtracted from the feed");
  assert.equal(await connects(ALERTED, 3), 3, 'alert feed: counted, not dropped');
  const counters = await call('counters');
  assert.ok(counters['lab-drop'].packets >= 6, JSON.stringify(counters));
  assert.ok(counters['lab-alert'].packets >= 3, JSON.stringify(counters));

  // 20 updates, each changing the range that holds the listed address, while it probes every 10 ms.
  const prober = new JsonLines(tcpProber(lab, LISTED, 10, true));
  await prober.next((m) => m.started === true, 60_000);
  const durations: number[] = [];
  let attempts = 0;
  for (let i = 1; i <= 20; i++) {
    writeDropFeed(i);
    const r = await call('update', { name: 'lab-drop' });
    assert.equal(r.outcome, 'updated', JSON.stringify(r.status));
    durations.push(r.ms);
    // The next update waits for a probe made after this one: probes and updates interleave however busy the machine.
    const seen = attempts;
    attempts = (await prober.next((x) => typeof x.attempt === 'number' && x.attempt > seen)).attempt as number;
  }
  prober.child.kill('SIGINT');
  const m = (await prober.next((x) => typeof x.sent === 'number')) as { sent: number; connected: number };
  assert.ok(m.sent >= 20, `probes sent during the updates: ${m.sent}`);
  assert.equal(m.connected, 0, `a listed address got through during an update: ${JSON.stringify(m)}`);
  assert.equal(await connects(UNLISTED, 2), 2);
  console.log(`# 20 updates: ${m.sent} probes from a listed address, none answered; update ms ${durations.map((d) => d.toFixed(0)).join(' ')}`);
});
