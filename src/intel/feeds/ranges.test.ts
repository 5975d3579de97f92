import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseFeed } from './parse.js';
import { diffRanges, rangeCount, rangesOf, subtractRanges, v4Covers, type RangeSet } from './ranges.js';
import { buildExclusions } from './exclusions.js';
import { formatNetwork } from '../../net/address-set.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/feeds/${name}`, import.meta.url), 'utf8');

/** Ranges as text: 'a-b' with b the last address, IPv4 and IPv6. */
function show(r: RangeSet): string[] {
  const v4 = Array.from(r.v4.start, (s, i) => `${formatNetwork(4, 32, 0, 0, 0, s)}-${formatNetwork(4, 32, 0, 0, 0, r.v4.end[i] - 1)}`);
  const w = (x: bigint) => [Number(x >> 96n) >>> 0, Number((x >> 64n) & 0xffffffffn), Number((x >> 32n) & 0xffffffffn), Number(x & 0xffffffffn)] as const;
  const v6 = r.v6.start.map((s, i) => `${formatNetwork(6, 128, ...w(s))}-${formatNetwork(6, 128, ...w(r.v6.end[i] - 1n))}`);
  return [...v4, ...v6];
}

const ranges = (body: string) => rangesOf(parseFeed('t', 'plain', body).entries);
const ip = (t: string) => t.split('.').reduce((a, o) => a * 256 + Number(o), 0);

test('overlapping and adjacent networks merge (IPv4 and IPv6), duplicates vanish', () => {
  const r = ranges(['198.51.100.0/25', '198.51.100.128/25', '198.51.100.7', '203.0.113.0/24', '203.0.113.0/24', '203.0.113.64/26', '2001:db8::/48', '2001:db8:0:1::/64', '2001:db8:1::/48', '2001:db8:5::1'].join('\n'));
  assert.deepEqual(show(r), ['198.51.100.0-198.51.100.255', '203.0.113.0-203.0.113.255', '2001:db8::-2001:db8:1:ffff:ffff:ffff:ffff:ffff', '2001:db8:5::1-2001:db8:5::1']);
});

test('level1-like input: the private ranges the host uses, its subnet, reserved ranges and protected addresses are subtracted', () => {
  const feed = rangesOf(parseFeed('level1', 'netset', fixture('level1.netset')).entries);
  const ex = buildExclusions({ interfaceCidrs: ['10.77.0.2/24', '127.0.0.1/8', '2001:db8:77::2/64'], protectedNetworks: ['198.51.100.53', '203.0.113.0/28'] });
  const r = subtractRanges(feed, ex.ranges);
  assert.deepEqual(show(r), [
    '1.10.16.0-1.10.31.255',
    // 192.168/16 stays: the host has no address there (a host on 192.168.1.x would keep its LAN instead)
    '192.168.0.0-192.168.255.255',
    '198.51.100.0-198.51.100.52',
    '198.51.100.54-198.51.100.255',
    '203.0.113.16-203.0.113.127',
    '240.0.0.0-255.255.255.254',
  ]);
  assert.ok(!v4Covers(r.v4, ip('10.1.2.3')), '10/8 is gone: the host lives in it');
  assert.ok(!v4Covers(r.v4, ip('0.0.0.1')) && !v4Covers(r.v4, ip('224.0.0.5')));
  assert.ok(ex.reasons.some((x) => x.network === '10.0.0.0/8' && /10\.77\.0\.2\/24/.test(x.reason)));
  const home = subtractRanges(feed, buildExclusions({ interfaceCidrs: ['192.168.1.20/24'], protectedNetworks: [] }).ranges);
  assert.ok(!v4Covers(home.v4, ip('192.168.200.1')) && v4Covers(home.v4, ip('10.0.0.1')));
});

test('IPv6: the connected subnet and protected addresses are cut out of a listed /32', () => {
  const r = subtractRanges(ranges('2001:db8::/32'), buildExclusions({ interfaceCidrs: ['2001:db8:77::2/64'], protectedNetworks: ['2001:db8:66::5'] }).ranges);
  assert.deepEqual(show(r), [
    '2001:db8::-2001:db8:66::4',
    '2001:db8:66::6-2001:db8:77:0:ffff:ffff:ffff:ffff'.replace('2001:db8:77:0:ffff:ffff:ffff:ffff', '2001:db8:76:ffff:ffff:ffff:ffff:ffff'),
    '2001:db8:77:1::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff',
  ]);
});

test('diff: only what changed is removed and added; a widened range is removed and added again', () => {
  const before = ranges('198.51.100.1\n198.51.100.9\n203.0.113.0/25\n2001:db8:1::/48');
  const after = ranges('198.51.100.1\n198.51.100.10\n203.0.113.0/24\n2001:db8:1::/48');
  const d = diffRanges(before, after);
  assert.deepEqual(show(d.remove), ['198.51.100.9-198.51.100.9', '203.0.113.0-203.0.113.127']);
  assert.deepEqual(show(d.add), ['198.51.100.10-198.51.100.10', '203.0.113.0-203.0.113.255']);
});

test('1,000,000 entries (mixed /32 and CIDRs, IPv4 and IPv6) parse, merge and subtract in seconds', () => {
  const lines: string[] = [];
  let x = 0x2c000000; // 44.0.0.0
  for (let i = 0; i < 900_000; i++) {
    x += 50 + (i % 7) * 37;
    lines.push(i % 100 === 0 ? `${formatNetwork(4, 32, 0, 0, 0, (x & ~255) >>> 0)}/24` : formatNetwork(4, 32, 0, 0, 0, x >>> 0));
  }
  for (let i = 0; i < 100_000; i++) lines.push(i % 4 === 0 ? `2a00:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/48` : `2a01::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
  const body = lines.join('\n');
  const t0 = performance.now();
  const parsed = parseFeed('big', 'plain', body);
  const merged = rangesOf(parsed.entries);
  const r = subtractRanges(merged, buildExclusions({ interfaceCidrs: ['10.0.0.2/24'], protectedNetworks: [] }).ranges);
  const ms = performance.now() - t0;
  assert.equal(parsed.entries.size, 1_000_000);
  assert.ok(rangeCount(r) > 100_000 && rangeCount(r) < 1_000_000, String(rangeCount(r)));
  // No overlap and no adjacency is left: what nf_tables needs.
  for (let i = 1; i < r.v4.start.length; i++) assert.ok(r.v4.start[i] > r.v4.end[i - 1]);
  for (let i = 1; i < r.v6.start.length; i++) assert.ok(r.v6.start[i] > r.v6.end[i - 1]);
  console.log(`# 1,000,000 entries: parse + merge + subtract ${ms.toFixed(0)} ms, ${rangeCount(r)} ranges`);
});
