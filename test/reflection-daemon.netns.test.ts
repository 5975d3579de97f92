/**
 * Reflection end to end: the real daemon in a protected namespace receives SYN-ACKs it never asked for,
 * from thousands of addresses (hping3 in the attacker's namespace forges them, bounded), as a host
 * does whose address was used to send requests to many servers. The daemon reports one reflection
 * flood against itself, bans no reflector, and its flood guard drops the unsolicited answers in the
 * kernel while it lasts. Nothing touches the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsPair, PROTECTED4, runIn } from './support/testkit-netns.js';
import { ConfiguredDaemon, logged, waitUntil } from './support/daemon-process.js';

let pair: NetnsPair;
const daemon = new ConfiguredDaemon();
const logLines = daemon.log;

before(async () => {
  pair = new NetnsPair();
  await daemon.start(pair, 7300 + (process.pid % 200), ['floodGuard:', '  unsolicited: { mode: on-flood, minSeconds: 2, quietSeconds: 3, releaseBelowPerSecond: 20 }', '  checkEveryMs: 200']);
});

after(() => {
  daemon.stop();
  pair?.destroy();
});

test('SYN-ACKs nobody here asked for, from thousands of sources, are one reflection flood: no reflector banned, the guard drops them', async () => {
  const isIncident = (l: Record<string, unknown>) => typeof l['event.action'] === 'string' && l['event.action'].startsWith('incident-');
  // Bounded: 15,000 SYN-ACKs at about 5,000/s, at most 10 s.
  const reflection = runIn(pair.attacker, 'timeout', ['10', 'hping3', '-q', '-S', '-A', '-s', '443', '-p', '40000', '--rand-source', '-i', 'u200', '-c', '15000', PROTECTED4]);
  await waitUntil('the reflection incident', () => logLines.some((l) => isIncident(l) && l['rule.name'] === 'flood/reflection'), 15_000, logLines);
  await waitUntil('the unsolicited drops to engage', () => logged(logLines, 'flood-guard-engaged'), 15_000, logLines);
  await reflection;
  const incidents = logLines.filter(isIncident);
  assert.deepEqual(
    incidents.map((l) => [l['rule.name'], l['destination.ip'], l.decision, l['source.ip']]),
    [['flood/reflection', PROTECTED4, 'alert', undefined]],
    'one reflection flood against the host, alerted, naming no source; no scan or flood of any reflector',
  );
  const message = String(incidents[0].message);
  const reflectors = Number(/from (\d+) sources/.exec(message)?.[1] ?? 0);
  assert.ok(reflectors > 1000, `reflectors counted: ${message}`);
  assert.match(message, /Alert only: the reflectors are real servers/);
  assert.equal(logged(logLines, 'ban'), false, 'no reflector was banned');
  const bans = pair.must(pair.protectedNs, 'nft', ['list', 'set', 'inet', 'portwarden', 'ban4']);
  assert.doesNotMatch(bans, /elements/, bans);
});
