import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseFeed, shrinkProblem } from './parse.js';
import type { FeedFormat } from '../settings.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/feeds/${name}`, import.meta.url), 'utf8');
const parse = (format: FeedFormat, file: string) => parseFeed('t', format, fixture(file));
const entries = (format: FeedFormat, file: string) => parse(format, file).entries.list();

test('netset: comments skipped, addresses and CIDRs with their line numbers (level1 keeps its private ranges here; the merge removes them)', () => {
  const list = entries('netset', 'level1.netset');
  assert.deepEqual(list.map((e) => e.entry), ['0.0.0.0/8', '1.10.16.0/20', '10.0.0.0/8', '192.168.0.0/16', '198.51.100.0/24', '203.0.113.7', '203.0.113.0/25', '224.0.0.0/3']);
  assert.equal(list[0].line, 7);
  assert.equal(list[5].line, 12);
});

test('plain: one address a line, IPv4 and IPv6, trailing comments', () => {
  assert.deepEqual(entries('plain', 'compromised-ips.txt'), [
    { entry: '198.51.100.7', line: 1 },
    { entry: '198.51.100.8', line: 2 },
    { entry: '203.0.113.44', line: 4 },
    { entry: '2001:db8:bad::1', line: 3 },
  ]);
});

test('spamhaus-txt: CIDR ; SBL lines, ; comments', () => {
  assert.deepEqual(entries('spamhaus-txt', 'drop.txt').map((e) => `${e.line}:${e.entry}`), ['4:1.10.16.0/20', '5:198.51.100.0/24', '6:203.0.113.0/24']);
});

test('spamhaus-json: v4 and v6 NDJSON with the metadata line; a file without it is refused as cut short', () => {
  assert.deepEqual(entries('spamhaus-json', 'drop_v4.json').map((e) => e.entry), ['1.10.16.0/20', '198.51.100.0/24', '203.0.113.0/24']);
  assert.deepEqual(entries('spamhaus-json', 'drop_v6.json').map((e) => `${e.line}:${e.entry}`), ['1:2001:db8:100::/48', '2:2001:db8:200::/40']);
  assert.throws(() => parse('spamhaus-json', 'drop_v4-truncated.json'), (e: Error & { code?: string }) => e.code === 'PW_ERR_FEED' && /no metadata line/.test(e.message));
  const short = fixture('drop_v4.json').split('\n').filter((l) => !l.includes('SBL1234')).join('\n');
  assert.throws(() => parseFeed('t', 'spamhaus-json', short), /says 3 records, the file has 2/);
});

test('abuseipdb plain text, and its JSON error answer refused', () => {
  assert.deepEqual(entries('abuseipdb', 'abuseipdb.txt').map((e) => e.entry), ['198.51.100.9', '203.0.113.10', '2001:db8:abcd::10']);
  assert.throws(() => parseFeed('t', 'abuseipdb', '{"errors":[{"detail":"Authentication failed"}]}'), /AbuseIPDB answered JSON/);
});

test('tor-exit: the bulk list and the exit-addresses document', () => {
  assert.deepEqual(entries('tor-exit', 'torbulkexitlist').map((e) => e.entry), ['198.51.100.20', '198.51.100.21', '203.0.113.99']);
  assert.deepEqual(entries('tor-exit', 'exit-addresses').map((e) => `${e.line}:${e.entry}`), ['4:198.51.100.20', '8:198.51.100.21']);
});

test('crowdsec: bans of scope Ip and Range; other scopes and types skipped; null lists are an empty feed', () => {
  const p = parse('crowdsec', 'crowdsec-startup.json');
  assert.deepEqual(p.entries.list(), [
    { entry: '192.0.2.9', line: 1 },
    { entry: '198.51.100.0/24', line: 2 },
  ]);
  assert.equal(p.skipped, 2);
  assert.equal(parse('crowdsec', 'crowdsec-empty.json').entries.size, 0);
  assert.throws(() => parseFeed('t', 'crowdsec', '{"new":[{"scope":"Ip"'), /not JSON/);
});

test('bad lines are counted with their line numbers; a feed with most lines bad or an HTML page is refused', () => {
  const p = parse('netset', 'some-bad.netset');
  assert.equal(p.badCount, 3);
  assert.deepEqual(p.bad.map((b) => b.line), [4, 5, 7]);
  assert.match(p.bad[2].reason, /host bits/);
  assert.equal(p.entries.size, 3);
  assert.throws(() => parse('plain', 'mostly-bad.txt'), (e: Error & { code?: string }) => e.code === 'PW_ERR_FEED' && /3 of 4 lines are bad \(first: line 2/.test(e.message));
  assert.throws(() => parse('netset', 'error-page.html'), /HTML/);
});

test('shrink: refused past maxShrink, accepted within it, anything goes at 1', () => {
  assert.equal(shrinkProblem(1000, 600, 0.5), null);
  assert.match(shrinkProblem(1000, 400, 0.5) ?? '', /shrank by 60.0%/);
  assert.equal(shrinkProblem(1000, 0, 1), null);
  assert.equal(shrinkProblem(0, 0, 0.5), null);
});

test('plain IPv4 lines take the string-free path exactly as the general parser would: same entries, same refusals', () => {
  const lines = ['1.2.3.4', '0.0.0.0/8', '255.255.255.255/32', '198.51.100.0/24', '198.51.100.1/24', '01.2.3.4', '1.2.3.4/08', '1.2.3.4/33', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1.2.3.4/', '1.2.3.4x', '1..3.4', '10.0.0.0/0', '0.0.0.0/0', '1.2.3.4 # comment', '::ffff:1.2.3.4'];
  const padding = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`); // mostly-bad feeds are refused whole
  const parsed = parseFeed('t', 'plain', [...lines, ...padding].join('\n'));
  assert.deepEqual(parsed.entries.list().slice(0, 7), [
    { entry: '1.2.3.4', line: 1 },
    { entry: '0.0.0.0/8', line: 2 },
    { entry: '255.255.255.255', line: 3 },
    { entry: '198.51.100.0/24', line: 4 },
    { entry: '0.0.0.0/0', line: 16 },
    { entry: '1.2.3.4', line: 17 },
    { entry: '1.2.3.4', line: 18 },
  ]);
  // Each refused line is refused with the general parser's own reason.
  assert.deepEqual(parsed.bad.map((b) => b.line), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  assert.equal(parsed.bad[0].reason, 'host bits are set');
  assert.equal(parsed.candidates, 38);
  assert.equal(parsed.entries.size, 27);
});
