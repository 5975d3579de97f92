/**
 * The geo fence against a real nf_tables in a throw-away namespace (test/support/testkit-netns.ts):
 * the table built from geo's contribution, the sets filled from the flat, IPv4-only fixture, filled
 * again (replaced, not added to), and the empty IPv6 allow set said out loud.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { buildRuleset, replaceTableText } from '../../kernel/ruleset.js';
import { NetnsPair, DEFAULT_LAB } from '../../../test/support/testkit-netns.js';
import type { GeoSettings } from '../geo-settings.js';
import { GeoDatabase } from './geo-database.js';
import { geoContribution, GeoFence } from './geo-fence.js';

const FLAT = fileURLToPath(new URL('../../../test/fixtures/geo/country-flat.mmdb', import.meta.url));
const pair = new NetnsPair({ ...DEFAULT_LAB, tag: 'pwgeof' });
const dir = mkdtempSync(join(tmpdir(), 'pw-geofence-'));
after(() => {
  pair.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function elements(set: string): string[] {
  const json = JSON.parse(pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'pwgeo', set])) as { nftables: { set?: { elem?: unknown[] } }[] };
  return (json.nftables.find((x) => x.set !== undefined)?.set?.elem ?? []).map((e) => JSON.stringify(e)).sort();
}

test('the sets are filled from the database, replaced on a second load, and an IPv4-only database says IPv6 is shut out', async () => {
  const settings: GeoSettings = { database: FLAT, asnDatabase: null, block: ['CN', 'RU'], allowOnly: { countries: ['DE', 'FR'], ports: [{ protocol: 'tcp', port: 22 }] } };
  const model = buildRuleset({ name: 'pwgeo', priority: -150 }, [geoContribution(settings, false)!]);
  pair.must(pair.protectedNs, 'nft', ['-f', '-'], replaceTableText(model, 'geo fence test'));
  // nft inside the namespace, for the fence (it runs `nft -f -`).
  const nft = join(dir, 'nft-in-ns');
  writeFileSync(nft, `#!/bin/sh\nexec ip netns exec ${pair.protectedNs} nft "$@"\n`);
  chmodSync(nft, 0o755);
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) }));
  const fence = new GeoFence({ database: GeoDatabase.open({ database: FLAT }), settings, table: 'pwgeo', forward: false, nftPath: nft, log });
  assert.deepEqual(await fence.load(), { block4: 4, block6: 0, allow4: 2, allow6: 0 });
  const block = elements('geoblock4');
  assert.deepEqual(block, [
    JSON.stringify({ prefix: { addr: '10.88.3.0', len: 24 } }),
    JSON.stringify({ prefix: { addr: '10.88.30.0', len: 23 } }),
    JSON.stringify({ prefix: { addr: '10.88.33.0', len: 24 } }),
    JSON.stringify({ prefix: { addr: '198.51.100.0', len: 24 } }),
  ].sort());
  assert.deepEqual(elements('geoallow4'), [JSON.stringify({ prefix: { addr: '10.77.0.0', len: 24 } }), JSON.stringify({ range: ['10.88.1.0', '10.88.2.255'] })].sort());
  // A stale element (a network the database no longer places there) goes with the next load.
  pair.must(pair.protectedNs, 'nft', ['add', 'element', 'inet', 'pwgeo', 'geoblock4', '{ 192.0.2.0/24 }']);
  assert.equal(elements('geoblock4').length, 5);
  await fence.load();
  assert.deepEqual(elements('geoblock4'), block, 'replaced, not added to');
  assert.ok(lines.some((l) => l['event.action'] === 'geo-allow-empty' && l['geo.family'] === 6));
  assert.ok(!lines.some((l) => l['event.action'] === 'geo-allow-empty' && l['geo.family'] === 4));
  assert.equal(lines.filter((l) => l['event.action'] === 'geo-loaded').length, 2);
});
