/**
 * `portwarden bans` as people read it: a table with headers, human lengths and UTC minutes, and its
 * filters. The verbs against a real daemon are in test/bans.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BanView } from '../model/control.js';
import { banTable, filterBans, lapiLine } from './control-commands.js';

const bans: BanView[] = [
  { target: '203.0.113.9', reason: 'SYN port scan from 203.0.113.9', expiresInSeconds: 365_574, origin: 'detection', createdAt: '2026-12-06T10:00:00.000Z', expiresAt: '2026-12-10T15:32:54.000Z', lengthSeconds: 365_574 },
  { target: '10.0.0.64/28', reason: 'operator', expiresInSeconds: null, origin: 'operator', createdAt: '2026-12-06T10:05:00.000Z', expiresAt: null, lengthSeconds: null },
  // From a daemon before createdAt/expiresAt existed.
  { target: '2001:db8::/64', reason: 'in the kernel, not from this run', expiresInSeconds: 90, origin: 'config' },
];

test('bans is a table: address, origin, reason, created, expires, left, lengths as 4d 5h', () => {
  const lines = banTable(bans);
  assert.match(lines[0], /^ADDRESS\s+ORIGIN\s+REASON\s+CREATED\s+EXPIRES\s+LEFT$/);
  assert.match(lines[1], /^203\.0\.113\.9\s+detection\s+SYN port scan from 203\.0\.113\.9\s+2026-12-06 10:00 UTC\s+2026-12-10 15:32 UTC\s+4d 5h$/);
  assert.match(lines[2], /^10\.0\.0\.64\/28\s+operator\s+operator\s+2026-12-06 10:05 UTC\s+never\s+permanent$/);
  assert.match(lines[3], /^2001:db8::\/64\s+config\s+in the kernel, not from this run\s+-\s+-\s+1m 30s$/);
  const columns = lines.map((l) => l.indexOf(l.trim().split(/\s{2,}/)[1]));
  assert.equal(new Set(columns).size, 1, 'columns line up');
});

test('bans filters: --origin, --reason (any case), --contains ADDR (the ban holds it)', () => {
  assert.deepEqual(filterBans(bans, { origin: 'operator' }).map((b) => b.target), ['10.0.0.64/28']);
  assert.deepEqual(filterBans(bans, { reason: 'syn PORT' }).map((b) => b.target), ['203.0.113.9']);
  assert.deepEqual(filterBans(bans, { contains: '10.0.0.66' }).map((b) => b.target), ['10.0.0.64/28']);
  assert.deepEqual(filterBans(bans, { contains: '2001:db8::5' }).map((b) => b.target), ['2001:db8::/64']);
  assert.deepEqual(filterBans(bans, { contains: '10.0.0.1' }), []);
  assert.throws(() => filterBans(bans, { origin: 'someone' }), { code: 'PW_ERR_USAGE' });
  assert.throws(() => filterBans(bans, { contains: 'host.example' }), { code: 'PW_ERR_USAGE' });
});

test('status names the decision stream, each bouncer with its last pull and what it holds', () => {
  const now = Date.parse('2026-12-06T10:00:12.000Z');
  const line = lapiLine(
    {
      listen: '127.0.0.1:8081',
      bouncers: [
        { name: 'fw-1', lastPullAt: '2026-12-06T10:00:00.000Z', pulls: 7, servedNew: 12, servedDeleted: 3, holding: 9, userAgent: 'crowdsec-firewall-bouncer/v0.0.25', address: '127.0.0.1' },
        { name: 'fw-2', lastPullAt: null, pulls: 0, servedNew: 0, servedDeleted: 0, holding: 0, userAgent: null, address: null },
      ],
    },
    now,
  );
  assert.equal(line, 'CrowdSec decision stream (lapi): http://127.0.0.1:8081/ for fw-1 (last pull 12s ago, holds 9, served 12 new/3 deleted), fw-2 (not seen)');
});
