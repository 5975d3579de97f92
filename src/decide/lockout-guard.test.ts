/**
 * What the lockout guard promises: it never lets a ban through for loopback, the host's own
 * addresses, its default gateways, its resolvers, the peers of established SSH sessions or the
 * allowlist, and it follows SSH sessions as they come and go, against files written here (the
 * kernel's /proc formats, little-endian). The same in a real network namespace with real SSH-port
 * sessions between two veth ends is lockout-guard.netns.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir, type NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { AddressSet } from '../net/address-set.js';
import {
  decodeProcIPv4,
  decodeProcIPv6Words,
  LockoutGuard,
  parseResolvConf,
  parseRouteV4,
  parseRouteV6,
  parseTcpPeers,
  type GuardEvent,
} from './lockout-guard.js';

const LE = endianness() === 'LE';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pwdec-'));
  dirs.push(d);
  return d;
}

test('addresses in /proc/net are decoded from the kernel\'s host-order hex', { skip: !LE && 'fixtures are little-endian' }, () => {
  const rows: [string, string][] = [
    ['0100007F', '127.0.0.1'],
    ['FE00000A', '10.0.0.254'],
    ['0102A8C0', '192.168.2.1'],
    ['00000000', '0.0.0.0'],
  ];
  for (const [hex, want] of rows) assert.equal(decodeProcIPv4(hex), want, hex);
  const rows6: [string, string][] = [
    ['00000000000000000000000001000000', '::1'],
    ['0000000000000000FFFF00000200000A', '10.0.0.2'], // IPv4-mapped: reported as IPv4
    ['B80D0120000000000000000002000000', '2001:db8::2'],
    ['000080FE00000000FF0000FCFE2A22FE', 'fe80::fc00:ff:fe22:2afe'],
  ];
  for (const [hex, want] of rows6) assert.equal(decodeProcIPv6Words(hex), want, hex);
});

const ROUTE = [
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
  'eth0\t00000000\tFE00000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
  'eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  'eth1\t0064A8C0\t0100A8C0\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0', // a static route via a router: not a default gateway
  '',
].join('\n');

const IPV6_ROUTE = [
  '20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db80000000000000000000000fe 00000400 00000002 00000000 00000003     eth0',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
  '',
].join('\n');

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const tcpLine = (n: number, local: string, remote: string, state: string) =>
  `   ${n}: ${local} ${remote} ${state} 00000000:00000000 02:000A7214 00000000     0        0 ${1000 + n} 2 0000000000000000 20 4 30 10 -1`;

const TCP = [
  TCP_HEADER,
  tcpLine(0, '00000000:0016', '00000000:0000', '0A'), // listening on 22
  tcpLine(1, '0100000A:0016', '0200000A:D431', '01'), // 10.0.0.2 → our 22, established
  tcpLine(2, '0100000A:08AE', '0400000A:C001', '01'), // 10.0.0.4 → our 2222, established
  tcpLine(3, '0100000A:0016', '0500000A:C002', '06'), // 10.0.0.5 → our 22, TIME_WAIT
  tcpLine(4, '0100000A:C003', '0600000A:0016', '01'), // we → 10.0.0.6:22 (outbound, not a lockout risk)
  tcpLine(5, '0100000A:01BB', '0700000A:C004', '01'), // 10.0.0.7 → our 443
  '',
].join('\n');

const TCP6 = [
  TCP_HEADER,
  tcpLine(0, '0000000000000000FFFF00000100000A:0016', '0000000000000000FFFF00000300000A:D500', '01'), // ::ffff:10.0.0.3 → 22
  tcpLine(1, 'B80D0120000000000000000001000000:0016', 'B80D0120000000000000000002000000:D501', '01'), // 2001:db8::2 → 22
  tcpLine(2, 'B80D0120000000000000000001000000:0016', 'B80D0120000000000000000008000000:D502', '08'), // CLOSE_WAIT
  '',
].join('\n');

const RESOLV = [
  '# written by hand',
  'search example.net',
  'nameserver 192.0.2.53',
  'nameserver   2001:db8::53',
  'nameserver fe80::1%eth0',
  'options ndots:2',
  '',
].join('\n');

function iface(address: string): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return v6
    ? { address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal: false, cidr: null, scopeid: 0 }
    : { address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null };
}

const INTERFACES = () => ({
  lo: [iface('127.0.0.1'), iface('::1')],
  eth0: [iface('10.0.0.1'), iface('2001:db8::1'), iface('fe80::fc00:ff:fe22:2afe')],
});

function fixture(): { dir: string; proc: string; resolv: string } {
  const dir = tempDir();
  const proc = join(dir, 'net');
  spawnSync('mkdir', ['-p', proc]);
  writeFileSync(join(proc, 'route'), ROUTE);
  writeFileSync(join(proc, 'ipv6_route'), IPV6_ROUTE);
  writeFileSync(join(proc, 'tcp'), TCP);
  writeFileSync(join(proc, 'tcp6'), TCP6);
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, RESOLV);
  return { dir, proc, resolv };
}

const PROTECTS: [string, string | null][] = [
  ['127.0.0.1', 'loopback'],
  ['127.9.9.9', 'loopback'],
  ['::1', 'loopback'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['0.0.0.0', 'unspecified address'],
  ['10.0.0.1', 'own address'],
  ['2001:db8::1', 'own address'],
  ['fe80::fc00:ff:fe22:2afe', 'own address'],
  ['10.0.0.254', 'default gateway'],
  ['2001:db8::fe', 'default gateway'],
  ['192.168.100.1', null], // gateway of a non-default route
  ['192.0.2.53', 'resolver'],
  ['2001:db8::53', 'resolver'],
  ['fe80::1', 'resolver'],
  ['10.0.0.2', 'ssh peer'],
  ['10.0.0.3', 'ssh peer'], // through a dual-stack listener: IPv4-mapped in tcp6
  ['::ffff:10.0.0.3', 'ssh peer'],
  ['2001:db8::2', 'ssh peer'],
  ['10.0.0.4', 'ssh peer'], // on the second configured SSH port
  ['10.0.0.5', null], // TIME_WAIT
  ['10.0.0.6', null], // our outbound session to its port 22
  ['10.0.0.7', null], // established, but to 443
  ['2001:db8::8', null], // CLOSE_WAIT
  ['203.0.113.5', 'allowlist: 203.0.113.0/28 (office)'],
  ['203.0.113.16', null],
  ['198.51.100.1', null],
  // Networks: refused when they contain anything protected.
  ['10.0.0.0/24', 'own address'],
  ['203.0.113.0/24', 'allowlist: 203.0.113.0/28 (office)'],
  ['2001:db8::/64', 'own address'],
  ['0.0.0.0/0', 'loopback'],
  ['198.51.100.0/24', null],
  ['2001:db8:1::/64', null],
];

test('protects() names why each address or network must not be banned', () => {
  const { proc, resolv } = fixture();
  const allowlist = new AddressSet();
  allowlist.add('203.0.113.0/28', 'office');
  const events: GuardEvent[] = [];
  const guard = LockoutGuard.discover({
    procNetPath: proc,
    resolvConfPath: resolv,
    interfaces: INTERFACES,
    sshPorts: [22, 2222],
    allowlist,
    log: (e) => events.push(e),
  });
  for (const [target, reason] of PROTECTS) assert.equal(guard.protects(target)?.reason ?? null, reason, target);
  assert.deepEqual(guard.snapshot(), {
    ownAddresses: ['127.0.0.1', '::1', '10.0.0.1', '2001:db8::1', 'fe80::fc00:ff:fe22:2afe'],
    gateways: ['10.0.0.254', '2001:db8::fe'],
    resolvers: ['192.0.2.53', '2001:db8::53', 'fe80::1'],
    sshPeers: ['10.0.0.2', '10.0.0.4', '10.0.0.3', '2001:db8::2'],
    allowlist: 1,
  });
  assert.deepEqual(events, []);
  assert.deepEqual(guard.protects('10.0.0.0/24'), { reason: 'own address', network: '10.0.0.1' });
});

test('the parsers read exactly the lines that matter', () => {
  assert.deepEqual(parseRouteV4(ROUTE), LE ? ['10.0.0.254'] : parseRouteV4(ROUTE));
  assert.deepEqual(parseRouteV6(IPV6_ROUTE), ['2001:db8::fe']);
  assert.deepEqual(parseResolvConf(RESOLV), ['192.0.2.53', '2001:db8::53', 'fe80::1']);
  if (LE) assert.deepEqual(parseTcpPeers(TCP, new Set([22]), false), ['10.0.0.2']);
  assert.deepEqual(parseTcpPeers(`${TCP_HEADER}\n`, new Set([22]), false), []);
});

test('SSH peers are followed: refresh() re-reads, and protects() re-reads a stale copy before letting a ban through', () => {
  const { proc, resolv } = fixture();
  let now = 1_000_000;
  const events: GuardEvent[] = [];
  const guard = LockoutGuard.discover({
    procNetPath: proc,
    resolvConfPath: resolv,
    interfaces: INTERFACES,
    clock: () => now,
    sshMaxAgeMs: 1000,
    log: (e) => events.push(e),
  });
  assert.equal(guard.sshReads, 1);
  assert.equal(guard.protects('10.0.0.2')?.reason, 'ssh peer');

  // 10.0.0.2 logs out, 10.0.0.9 logs in.
  writeFileSync(join(proc, 'tcp'), [TCP_HEADER, tcpLine(1, '0100000A:0016', '0900000A:D431', '01'), ''].join('\n'));
  assert.equal(guard.protects('10.0.0.9'), null, 'a copy younger than sshMaxAgeMs is trusted');
  assert.equal(guard.sshReads, 1);
  now += 1001;
  assert.equal(guard.protects('10.0.0.9')?.reason, 'ssh peer', 'a stale copy is re-read before a ban is allowed');
  assert.equal(guard.sshReads, 2);
  assert.equal(guard.protects('10.0.0.2'), null);
  now += 5000;
  assert.equal(guard.protects('10.0.0.1')?.reason, 'own address');
  assert.equal(guard.sshReads, 2, 'a refusal needs no re-read');

  guard.refresh();
  assert.equal(guard.sshReads, 3);
  assert.deepEqual(guard.snapshot().sshPeers, ['10.0.0.9', '10.0.0.3', '2001:db8::2']);

  // A file that cannot be read keeps what it gave last time, and says so.
  unlinkSync(join(proc, 'tcp'));
  unlinkSync(resolv);
  guard.refresh();
  assert.equal(guard.protects('10.0.0.9')?.reason, 'ssh peer');
  assert.equal(guard.protects('192.0.2.53')?.reason, 'resolver');
  assert.deepEqual(
    events.map((e) => [e['event.action'], e.file]),
    [
      ['lockout-guard-read-failed', resolv],
      ['lockout-guard-read-failed', join(proc, 'tcp')],
    ],
  );
});

test('a missing resolv.conf or /proc never stops discovery, and a bad nameserver line is logged', () => {
  const dir = tempDir();
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 192.0.2.53\nnameserver not-an-address\n');
  const events: GuardEvent[] = [];
  const guard = LockoutGuard.discover({ procNetPath: join(dir, 'nowhere'), resolvConfPath: resolv, interfaces: () => ({}), log: (e) => events.push(e) });
  assert.equal(guard.protects('192.0.2.53')?.reason, 'resolver');
  assert.equal(guard.protects('127.0.0.1')?.reason, 'loopback');
  assert.equal(guard.protects('198.51.100.1'), null);
  assert.equal(events.filter((e) => e['event.action'] === 'lockout-guard-read-failed').length, 4); // route, ipv6_route, tcp, tcp6
  assert.ok(events.some((e) => e['event.action'] === 'lockout-guard-bad-entry' && e.message.includes('"not-an-address"')));
});
