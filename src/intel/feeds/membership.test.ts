import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseFeed } from './parse.js';
import { feedMembership } from './membership.js';
import { resolveFeed } from '../settings.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/feeds/${name}`, import.meta.url), 'utf8');

test('feedsOf: every entry of every feed that covers the address, with its line, action and weight', () => {
  const level1 = { feed: resolveFeed({ name: 'level1', url: 'file:///x', format: 'netset', refresh: '1h', action: 'drop' }), entries: parseFeed('level1', 'netset', fixture('level1.netset')).entries };
  const drop6 = { feed: resolveFeed({ name: 'drop6', url: 'file:///y', format: 'spamhaus-json', refresh: '12h', action: 'alert', weight: 2.5 }), entries: parseFeed('drop6', 'spamhaus-json', fixture('drop_v6.json')).entries };
  const empty = { feed: resolveFeed({ name: 'empty', url: 'file:///z', format: 'plain', refresh: '1h', action: 'drop' }), entries: null };
  const m = feedMembership(() => [level1, drop6, empty]);
  assert.deepEqual(m.feedsOf('203.0.113.7'), [
    { feed: 'level1', entry: '203.0.113.7', line: 12, action: 'drop', weight: 1 },
    { feed: 'level1', entry: '203.0.113.0/25', line: 13, action: 'drop', weight: 1 },
  ]);
  assert.deepEqual(m.feedsOf('10.1.2.3'), [{ feed: 'level1', entry: '10.0.0.0/8', line: 9, action: 'drop', weight: 1 }]);
  assert.deepEqual(m.feedsOf('2001:db8:1ff::9'), [], 'between the two IPv6 networks');
  assert.deepEqual(m.feedsOf('2001:db8:100:5::1'), [{ feed: 'drop6', entry: '2001:db8:100::/48', line: 1, action: 'alert', weight: 2.5 }]);
  assert.deepEqual(m.feedsOf('2001:db8:2ab::1'), [{ feed: 'drop6', entry: '2001:db8:200::/40', line: 2, action: 'alert', weight: 2.5 }]);
  assert.deepEqual(m.feedsOf('198.18.0.1'), []);
  assert.deepEqual(m.feedsOf('not an address'), []);
});
