/**
 * Reload's view of the config: what the file changes that a running daemon applies, and the keys that
 * wait for a restart (kept at their running values and named), read from real files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfigFile } from '../config/load.js';
import { RunningConfig } from './running-config.js';

function withFile(fn: (path: string, write: (lines: string[]) => void) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'pw-running-'));
  const path = join(dir, 'portwarden.yaml');
  try {
    fn(path, (lines) => writeFileSync(path, `${lines.join('\n')}\n`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BASE = ['control:', '  socketPath: /run/pw-a/control.sock', 'state:', '  dir: /var/lib/pw-a', 'decide:', '  banSeconds: { scan: 600 }'];

test('keys only a restart applies are named and keep their running values; the rest is applied', () =>
  withFile((path, write) => {
    write(BASE);
    const running = new RunningConfig({ config: loadConfigFile(path), path, log: pino({ level: 'silent' }) });
    write([
      'control:',
      '  socketPath: /run/pw-b/control.sock',
      'state:',
      '  dir: /var/lib/pw-b',
      '  incidentRetentionSeconds: 86400',
      'observe:',
      '  listen: 127.0.0.1:9800',
      'capture:',
      '  interfaces: [eth9]',
      'decide:',
      '  banSeconds: { scan: 900 }',
    ]);
    const r = running.reread()!;
    assert.deepEqual(r.restartNeeded, ['capture.interfaces', 'control.socketPath', 'observe.listen', 'state.dir']);
    assert.equal(r.changed, true, 'decide and the state retention change, and a reload applies them');
    assert.equal(r.next.control.socketPath, '/run/pw-a/control.sock');
    assert.equal(r.next.state.dir, '/var/lib/pw-a');
    assert.equal(r.next.observe.listen, '127.0.0.1:9717');
    assert.deepEqual(r.next.capture.interfaces, []);
    assert.equal(r.next.state.incidentRetentionSeconds, 86400);
    assert.equal(r.next.decide.banSeconds.scan, 900);
  }));

test('a file that changes only restart keys is "unchanged" for the running daemon, and names them', () =>
  withFile((path, write) => {
    write(BASE);
    const running = new RunningConfig({ config: loadConfigFile(path), path, log: pino({ level: 'silent' }) });
    write([...BASE, 'profile: paranoid'].map((l) => l.replace('/var/lib/pw-a', '/var/lib/pw-c')));
    const r = running.reread()!;
    assert.equal(r.changed, true, "the paranoid profile's decide and respond defaults apply");
    assert.ok(r.restartNeeded.includes('profile') && r.restartNeeded.includes('state.dir'), r.restartNeeded.join());
    assert.ok(r.restartNeeded.some((k) => k.startsWith('detection.')), "the profile's detection thresholds wait for a restart");
    write(BASE.map((l) => l.replace('/run/pw-a', '/run/pw-z')));
    const only = running.reread()!;
    assert.equal(only.changed, false);
    assert.deepEqual(only.restartNeeded, ['control.socketPath']);
  }));

test('the same file again: nothing changed, nothing waits', () =>
  withFile((path, write) => {
    write(BASE);
    const running = new RunningConfig({ config: loadConfigFile(path), path, log: pino({ level: 'silent' }) });
    const r = running.reread()!;
    assert.deepEqual([r.changed, r.restartNeeded], [false, []]);
  }));
