/**
 * Host discovery on the link, live: the daemon watches ARP through an nft `arp` table that logs to its
 * NFLOG group (ARP never passes the `inet` table). Real nmap -sn, arping and a DHCP client in namespaces.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { logged, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';

/** A second attacker address that only does ordinary link chatter. */
const NEIGHBOUR = '10.77.0.30';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
const log: LogLine[] = [];

const incidentsFrom = (source: string) => log.filter((l) => typeof l['event.action'] === 'string' && l['event.action'].startsWith('incident-') && l['source.ip'] === source);

function bans(): string {
  return pair.must(pair.protectedNs, 'nft', ['list', 'set', 'inet', 'portwarden', 'ban4']);
}

before(async () => {
  pair = new NetnsPair();
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${NEIGHBOUR}/24`, 'dev', 'veth0']);
  dir = mkdtempSync(join(tmpdir(), 'pw-linksweep-'));
  const config = join(dir, 'portwarden.yaml');
  writeFileSync(
    config,
    [
      'capture:',
      `  nflogGroup: ${6400 + (process.pid % 500)}`,
      'control:',
      `  socketPath: ${join(dir, 'control.sock')}`,
      'state:',
      `  dir: ${join(dir, 'state')}`,
    ].join('\n'),
  );
  daemon = await startDaemon(pair, ['--config', config, '--interface', 'veth1'], log);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('the daemon puts an arp table beside its inet table, logging ARP of the watched interface to its group', () => {
  const table = pair.must(pair.protectedNs, 'nft', ['list', 'table', 'arp', 'portwarden']);
  assert.match(table, /iifname "veth1" arp htype 1 arp ptype ip arp operation \{ request, reply \} log group \d+/);
});

test('arping of one host, a gratuitous ARP and an address probe from 0.0.0.0 are no sweep', async () => {
  pair.must(pair.attacker, 'arping', ['-q', '-c', '5', '-W', '0.1', '-i', 'veth0', '-S', NEIGHBOUR, PROTECTED4]);
  pair.run(pair.attacker, 'arping', ['-q', '-U', '-c', '3', '-W', '0.1', '-i', 'veth0', NEIGHBOUR]);
  pair.run(pair.attacker, 'arping', ['-q', '-0', '-c', '3', '-W', '0.1', '-i', 'veth0', '10.77.0.99']);
  // The detector's answer grace is one second of packet time; the wall clock moves it on.
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(incidentsFrom(NEIGHBOUR), []);
  assert.deepEqual(incidentsFrom('0.0.0.0'), []);
});

test('a DHCP client taking a lease (real dhclient against dnsmasq) is no sweep', async () => {
  const leases = join(dir, 'dhcp');
  mkdirSync(leases);
  const server = pair.spawn(pair.protectedNs, 'dnsmasq', ['-k', '--conf-file=/dev/null', '--port=0', '--interface=veth1', '--bind-interfaces', '--dhcp-range=10.77.0.100,10.77.0.150,2m', `--dhcp-leasefile=${join(leases, 'server.leases')}`, `--pid-file=${join(leases, 'dnsmasq.pid')}`]);
  try {
    // -sf /bin/true: the lease is taken but nothing on the interface (or the host) is changed.
    pair.must(pair.attacker, 'timeout', ['30', 'dhclient', '-1', '-sf', '/bin/true', '-lf', join(leases, 'client.leases'), '-pf', join(leases, 'dhclient.pid'), 'veth0']);
    assert.match(readFileSync(join(leases, 'client.leases'), 'utf8'), /fixed-address 10\.77\.0\.1\d\d;/, 'the client took a lease');
  } finally {
    // dhclient stays in the background to renew: stop it (it is inside our namespace, named by its pid file).
    if (existsSync(join(leases, 'dhclient.pid'))) spawnSync('kill', [readFileSync(join(leases, 'dhclient.pid'), 'utf8').trim()]);
    server.kill('SIGTERM');
  }
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(log.filter((l) => typeof l['event.action'] === 'string' && l['event.action'].startsWith('incident-')), []);
});

test('nmap -sn of the subnet (an ARP sweep) is a sweep of class arp, and the sweeper is banned', async () => {
  pair.must(pair.attacker, 'nmap', ['-sn', '-n', '-e', 'veth0', '-S', ATTACKER4, '10.77.0.0/24']);
  await waitUntil('the ARP sweep incident', () => incidentsFrom(ATTACKER4).length > 0, 20_000, log);
  const incident = incidentsFrom(ATTACKER4)[0];
  assert.equal(incident['event.action'], 'incident-sweep');
  assert.match(String(incident.message ?? incident.reason ?? JSON.stringify(incident)), /ARP sweep from 10\.77\.0\.1 of the link/);
  await waitUntil('the sweeper banned in the kernel', () => bans().includes(ATTACKER4), 15_000, log);
});

test('stopping the daemon removes the arp table', async () => {
  daemon.kill('SIGTERM');
  await waitUntil('the daemon to stop', () => logged(log, 'stopped') && daemon.exitCode !== null, 20_000, log);
  const r = pair.run(pair.protectedNs, 'nft', ['list', 'table', 'arp', 'portwarden']);
  assert.notEqual(r.code, 0, 'the arp table is gone');
});
