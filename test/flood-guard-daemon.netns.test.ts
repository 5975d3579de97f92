/**
 * The flood guard end to end: the real daemon in a protected namespace detects a spoofed SYN flood
 * (hping3, bounded) against a port, engages synproxy on that port by itself, keeps a benign client
 * working, counts the flood in its kernel counters (status), and releases synproxy once the flood has
 * ended, each transition logged. Nothing touches the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsPair, PROTECTED4, runIn } from './support/testkit-netns.js';
import { connectsFrom, serveOk } from './support/guard-lab.js';
import { logged, startDaemon, statusCounters, waitUntil } from './support/daemon-process.js';

const PORT = 8080;
const BENIGN = '10.77.0.31';
const CAPTURE_GROUP = 7100 + (process.pid % 200);

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let socket: string;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  pair = new NetnsPair();
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${BENIGN}/24`, 'dev', 'veth0']);
  dir = mkdtempSync(join(tmpdir(), 'pw-guard-'));
  socket = join(dir, 'run', 'control.sock');
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${CAPTURE_GROUP}`,
      'control:',
      `  socketPath: ${socket}`,
      'state:',
      `  dir: ${join(dir, 'state')}`,
      'floodGuard:',
      '  synproxy: { onFlood: true, ports: [8080], minSeconds: 2, quietSeconds: 3, releaseBelowPerSecond: 100 }',
      '  checkEveryMs: 200',
      '',
    ].join('\n'),
  );
  await serveOk(pair, pair.protectedNs, PROTECTED4, PORT, 128, logLines);
  daemon = await startDaemon(pair, ['--config', configPath], logLines);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

let nextPort = 20000;
/** `count` connections from BENIGN, each answered "ok" within 2 s and from a source port of its own; how many were. */
function connects(count: number): Promise<number> {
  nextPort += count;
  return connectsFrom(pair.attacker, { host: PROTECTED4, port: PORT, from: BENIGN, firstPort: nextPort - count, count, timeoutMs: 2000 });
}

test('a detected spoofed SYN flood engages synproxy on its port; a benign client keeps connecting; released after the flood', async () => {
  const engaged = (l: Record<string, unknown>) => l['destination.port'] === String(PORT) && l['flood_guard.kind'] === 'synproxy';
  // Bounded: at most 150,000 SYNs and 10 s.
  const flood = runIn(pair.attacker, 'timeout', ['10', 'hping3', '-q', '-S', '-p', String(PORT), '--rand-source', '-i', 'u10', '-c', '150000', PROTECTED4]);
  await waitUntil('synproxy to engage', () => logged(logLines, 'flood-guard-engaged', engaged), 15_000, logLines);
  assert.equal(pair.must(pair.protectedNs, 'nft', ['get', 'element', 'inet', 'portwarden', 'guard_syn_ports', `{ ${PORT} }`]).includes(String(PORT)), true);
  const ok = await connects(10);
  await flood;
  assert.equal(ok, 10, 'every benign connection succeeds while the flood is on');
  const counters = statusCounters(socket);
  assert.ok(counters['floodGuard.kernel.syn_seen'] > 1000, `the kernel counted the flood's SYNs: ${counters['floodGuard.kernel.syn_seen']}`);
  assert.equal(counters['floodGuard.synproxy.engaged'], 1);

  await waitUntil('synproxy to be released', () => logged(logLines, 'flood-guard-released', engaged), 30_000, logLines);
  assert.notEqual(pair.run(pair.protectedNs, 'nft', ['get', 'element', 'inet', 'portwarden', 'guard_syn_ports', `{ ${PORT} }`]).code, 0, 'the port left the synproxy set');
  assert.equal(await connects(3), 3, 'the port works after release');
});
