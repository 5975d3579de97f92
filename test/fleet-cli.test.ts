/** `portwarden fleet keygen FILE`: a key file 0600 and the one line trustedKeys takes; never overwrites. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './support/daemon-process.js';
import { readKey } from '../src/fleet/signing.js';
import { isPublicKeyText } from '../src/fleet/settings.js';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

test('fleet keygen writes a 0600 key and prints its public key as a trustedKeys line; a second run refuses to overwrite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-keygen-'));
  try {
    const file = join(dir, 'keys', 'fleet.key');
    const r = cli('fleet', 'keygen', file, '--host', 'web-1');
    assert.equal(r.status, 0, r.stderr);
    const m = /^web-1: "([^"]+)"\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(isPublicKeyText(m[1]), m[1]);
    assert.equal(readKey(file).publicKey, m[1], 'the printed key is the file\'s');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = cli('fleet', 'keygen', file);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /PW_ERR_USAGE: .*fleet\.key: a key file is already there/);
    assert.equal(readKey(file).publicKey, m[1], 'the key is unchanged');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
