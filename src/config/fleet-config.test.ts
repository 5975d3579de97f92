/** The config's `fleet` section: its shape and its errors, each naming file, line and field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors.js';
import { generateKey } from '../fleet/signing.js';
import { parseConfigText } from './load.js';

const FILE = 'fleet.yaml';
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

test('the fleet section of issue 14 parses as written, with its defaults around it', () => {
  const key = generateKey().key.publicKey;
  const c = parseConfigText(
    yaml('fleet:', '  servers: [nats://10.0.0.5:4222]', '  host: web-1', '  auth: { user: pw, password: s3cret }', '  keyFile: /var/lib/portwarden/fleet.key', `  trustedKeys: { web-2: "${key}" }`, '  share: [bans, incidents, sightings]', '  apply: [bans]', '  maxFleetBansPerMinute: 600'),
    FILE,
  );
  assert.deepEqual(c.fleet.servers, ['nats://10.0.0.5:4222']);
  assert.equal(c.fleet.trustedKeys['web-2'], key);
  assert.equal(c.fleet.bucket, 'portwarden-bans');
  assert.deepEqual(parseConfigText('profile: normal\n', FILE).fleet.servers, [], 'no fleet by default');
});

test('bad fleet settings are refused with file, line and field', () => {
  let err: unknown;
  try {
    parseConfigText(yaml('fleet:', '  servers: [http://x]', '  trustedKeys: { web-2: "abc" }', '  auth: { user: pw }', '  share: [bans, gossip]', '  maxFleetBansPerMinute: 0'), FILE);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError, String(err));
  const got = err.problems.map((p) => `${p.file}:${p.line}:${p.field}`);
  assert.deepEqual(got, ['fleet.yaml:2:fleet.servers[0]', 'fleet.yaml:3:fleet.trustedKeys.web-2', 'fleet.yaml:4:fleet.auth', 'fleet.yaml:5:fleet.share[1]', 'fleet.yaml:6:fleet.maxFleetBansPerMinute']);
  assert.match(err.message, /public key/);
});
