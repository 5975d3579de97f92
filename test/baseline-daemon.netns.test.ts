/**
 * Baselines in the real daemon (a network namespace, real NFLOG, a real state.db): what the daemon
 * learned is written at stop and read back at the next start, so a restart does not forget.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateReadOnly } from '../src/state/database.js';
import { NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { spawnPortwarden, waitUntil } from './support/daemon-process.js';

let pair: NetnsPair;
let dir: string;
let stateDir: string;
let configPath: string;
let daemon: { child: ChildProcess; logs: Record<string, unknown>[]; exited: Promise<number | null> } | undefined;

async function start(): Promise<Record<string, unknown>[]> {
  const logs: Record<string, unknown>[] = [];
  const child = spawnPortwarden(pair, pair.protectedNs, ['start', '--config', configPath], logs);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  daemon = { child, logs, exited };
  await waitUntil('the daemon to start', () => logs.some((l) => l['event.action'] === 'started') || child.exitCode !== null, 30_000, logs);
  assert.equal(child.exitCode, null, JSON.stringify(logs.slice(-5)));
  return logs;
}

async function stop(): Promise<void> {
  if (daemon === undefined) return;
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  daemon = undefined;
}

function saved(): { names: string[]; packets: number } {
  const db = openStateReadOnly(stateDir);
  try {
    const names = (db.prepare('SELECT name FROM baseline_metrics ORDER BY position').all() as { name: string }[]).map((r) => r.name);
    const clock = db.prepare('SELECT packets_this_hour AS packets FROM baseline_clock').get() as { packets: number } | undefined;
    return { names, packets: clock?.packets ?? 0 };
  } finally {
    db.close();
  }
}

before(() => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-baseline-daemon-'));
  stateDir = join(dir, 'state');
  configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'profile: aggressive', // baselines on
      'capture:',
      `  nflogGroup: ${8500 + (process.pid % 300)}`,
      '  interfaces: [veth1]',
      'control:',
      `  socketPath: ${join(dir, 'control.sock')}`,
      'state:',
      `  dir: ${stateDir}`,
    ].join('\n'),
  );
});

after(async () => {
  daemon?.child.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('the daemon writes its baselines at stop and restores them at the next start', async () => {
  const first = await start();
  assert.ok(!first.some((l) => l['event.action'] === 'baselines-restored'), 'nothing to restore on a first start');
  // Connection attempts to closed ports: NFLOG hands the daemon the SYNs and the host's RSTs.
  for (let i = 0; i < 3; i++) pair.run(pair.attacker, 'curl', ['-s', '--max-time', '1', `http://${PROTECTED4}:${81 + i}/`]);
  await stop();
  const s = saved();
  assert.deepEqual(s.names, ['host']);
  assert.ok(s.packets >= 6, `packets counted in the hour being learned: ${s.packets}`);

  const second = await start();
  const restored = second.find((l) => l['event.action'] === 'baselines-restored');
  assert.ok(restored !== undefined, 'baselines-restored logged');
  assert.equal(restored.metrics, 4);
  await stop();
  assert.ok(saved().packets >= s.packets, 'the hour being counted survives the restart');
});
