/**
 * The geo database over the committed fixtures (test/fixtures/geo/make-fixtures.pl): lookups in both
 * record shapes, ASN from a second database, and the networks of a country walked from the tree
 * (IPv4 once, never through the IPv6 tree's aliases of it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Reader } from 'maxmind';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortwardenError } from '../../errors.js';
import { GeoDatabase } from './geo-database.js';
import { networkStart, treeNetworks } from './mmdb-tree.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/geo/', import.meta.url));
const GEOLITE2 = join(FIXTURES, 'country-geolite2.mmdb');
const FLAT = join(FIXTURES, 'country-flat.mmdb');
const ASN = join(FIXTURES, 'asn.mmdb');

test('GeoLite2 shape: country by address, IPv4, IPv4-mapped and IPv6; unknown addresses are null', () => {
  const db = GeoDatabase.open({ database: GEOLITE2 });
  assert.deepEqual(db.geoOf('10.88.1.7'), { country: 'DE' });
  assert.deepEqual(db.geoOf('10.88.31.200'), { country: 'CN' });
  assert.deepEqual(db.geoOf('::ffff:10.88.2.9'), { country: 'FR' });
  assert.deepEqual(db.geoOf('2001:db8:88:3::99'), { country: 'CN' });
  assert.equal(db.geoOf('10.99.0.1'), null);
  assert.equal(db.geoOf('not an address'), null);
  assert.equal(db.info.type, 'GeoLite2-Country');
});

test('flat country_code shape (IPv4-only tree), with ASN from a GeoLite2-ASN database', () => {
  const db = GeoDatabase.open({ database: FLAT, asnDatabase: ASN });
  assert.deepEqual(db.geoOf('10.88.3.1'), { country: 'CN', asn: 64503, asOrganization: 'Lab Backbone CN' });
  assert.deepEqual(db.geoOf('::ffff:198.51.100.20'), { country: 'RU', asn: 64506, asOrganization: 'Lab Hosting RU' });
  // The ASN database knows IPv6 the IPv4-only country database does not.
  assert.deepEqual(db.geoOf('2001:db8:88:4::1'), { asn: 64505, asOrganization: 'Lab Cloud US' });
  assert.equal(db.info.ipVersion, 4);
  assert.equal(db.asnInfo?.type, 'GeoLite2-ASN');
});

test('networks of countries come from the tree: merged, each family once, aliases skipped', () => {
  const db = GeoDatabase.open({ database: GEOLITE2 });
  assert.deepEqual(db.countries(), ['BR', 'CN', 'DE', 'FR', 'RU', 'US']);
  assert.deepEqual(db.networksOf(new Set(['CN'])), {
    4: ['10.88.3.0/24', '10.88.30.0/23', '10.88.33.0/24'],
    6: ['2001:db8:88:3::/64', '2001:db8:c0::/42'],
  });
  // DE and FR: 10.88.1.0/24 and 10.88.2.0/24 touch but are no aligned block: one range.
  assert.deepEqual(db.networksOf(new Set(['DE', 'FR'])), {
    4: ['10.77.0.0/24', '10.88.1.0-10.88.2.255'],
    6: ['2001:db8:77::/48', '2001:db8:88:1::-2001:db8:88:2:ffff:ffff:ffff:ffff'],
  });
  // Two halves of one block merge into the block.
  assert.deepEqual(db.networksOf(new Set(['FR', 'CN']))[4], ['10.88.2.0/23', '10.88.30.0/23', '10.88.33.0/24']);
  const flat = GeoDatabase.open({ database: FLAT });
  assert.deepEqual(flat.networksOf(new Set(['CN'])), { 4: ['10.88.3.0/24', '10.88.30.0/23', '10.88.33.0/24'], 6: [] });
  assert.deepEqual(flat.networksOf(new Set(['ZZ'])), { 4: [], 6: [] });
});

test('the IPv6 tree holds IPv4 once: no network is yielded as IPv6 inside ::/96, ::ffff:0:0/96 or 2002::/16', () => {
  const buffer = readFileSync(GEOLITE2);
  const { nodeCount, recordSize, ipVersion } = new Reader(buffer).metadata;
  // One object is yielded, overwritten per network: copy while walking.
  const nets = Array.from(treeNetworks({ buffer, ipVersion, nodeCount, recordSize }), (n) => ({ family: n.family, start: networkStart(n), prefixLength: n.prefixLength }));
  const v4 = nets.filter((n) => n.family === 4);
  const v6 = nets.filter((n) => n.family === 6);
  assert.equal(v4.length, 9);
  assert.equal(v6.length, 6);
  for (const n of v6) assert.equal(n.start >> 96n, 0x20010db8n, `${n.start.toString(16)}/${n.prefixLength} is in 2001:db8::/32`);
});

test('a missing file or a file that is no mmdb is refused, naming the field and the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-geo-'));
  try {
    const junk = join(dir, 'junk.mmdb');
    writeFileSync(junk, 'this is not a database\n'.repeat(10));
    for (const [paths, pattern] of [
      [{ database: join(dir, 'missing.mmdb') }, /geo\.database .*missing\.mmdb: cannot read it \(ENOENT\)/],
      [{ database: junk }, /geo\.database .*junk\.mmdb: not an mmdb database/],
      [{ database: GEOLITE2, asnDatabase: junk }, /geo\.asnDatabase .*junk\.mmdb: not an mmdb database/],
    ] as const) {
      assert.throws(
        () => GeoDatabase.open(paths),
        (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_CONFIG_INVALID' && pattern.test(err.message),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

