/**
 * The configured allowlist: addresses, networks and host names (resolved once, at load), and how it
 * reaches a decision through the lockout guard.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortwardenError } from '../errors.js';
import { buildAllowlist, type HostResolver } from './allowlist.js';
import { LockoutGuard } from './lockout-guard.js';
import { DecisionPolicy } from './policy.js';

const DNS: Record<string, string[]> = {
  'bastion.example.com': ['192.0.2.44', '2001:db8:44::1'],
  'monitor.example.net': ['fe80::44%eth0'],
};
const fakeResolver: HostResolver = async (host) => {
  const found = DNS[host];
  if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found;
};

const dir = mkdtempSync(join(tmpdir(), 'pwdec-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('addresses, networks and host names (every address they resolve to), each with its reason', async () => {
  const set = await buildAllowlist(
    [
      '198.51.100.0/24',
      { value: '2001:db8:aa::/48', reason: 'office' },
      { value: 'bastion.example.com', reason: 'jump host' },
      'monitor.example.net',
    ],
    fakeResolver,
  );
  assert.equal(set.size, 5);
  const rows: [string, string | null][] = [
    ['198.51.100.7', 'configured'],
    ['2001:db8:aa:1::5', 'office'],
    ['192.0.2.44', 'jump host (bastion.example.com)'],
    ['2001:db8:44::1', 'jump host (bastion.example.com)'],
    ['fe80::44', 'configured (monitor.example.net)'],
    ['192.0.2.45', null],
  ];
  for (const [a, reason] of rows) assert.equal(set.match(a)?.reason ?? null, reason, a);
});

test('an entry that is neither an address, a network nor a resolvable name fails the load, naming it', async () => {
  await assert.rejects(buildAllowlist(['gone.example.org'], fakeResolver), (err: unknown) => {
    assert.ok(err instanceof PortwardenError);
    assert.equal(err.code, 'PW_ERR_DECIDE_INPUT');
    assert.match(err.message, /"gone\.example\.org" does not resolve: getaddrinfo ENOTFOUND/);
    assert.ok(err.cause instanceof Error);
    return true;
  });
  await assert.rejects(buildAllowlist(['10.0.0.1/8'], fakeResolver), { code: 'PW_ERR_DECIDE_INPUT', message: /"10\.0\.0\.1\/8" .* host bits are set/ });
  await assert.rejects(buildAllowlist(['300.1.1.1'], fakeResolver), { code: 'PW_ERR_DECIDE_INPUT', message: /"300\.1\.1\.1" .*octet over 255/ });
});

test('localhost resolves through the system resolver', async () => {
  const set = await buildAllowlist(['localhost']);
  assert.ok(set.match('127.0.0.1') !== null || set.match('::1') !== null);
});

test('end to end: an allowlisted host and the host\'s own address are never banned, a stranger is', async () => {
  const allowlist = await buildAllowlist([{ value: 'bastion.example.com', reason: 'jump host' }], fakeResolver);
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 192.0.2.53\n');
  const guard = LockoutGuard.discover({
    procNetPath: join(dir, 'no-proc'),
    resolvConfPath: join(dir, 'resolv.conf'),
    interfaces: () => ({ eth0: [{ address: '198.51.100.10', netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null }] }),
    allowlist,
    log: () => {},
  });
  const policy = DecisionPolicy.forProfile('normal', { guard, log: () => {} });
  const d = policy.decide(
    {
      kind: 'distributed-scan',
      class: 'syn',
      sources: ['192.0.2.44', '198.51.100.10', '192.0.2.53', '203.0.113.66'],
      'destination.ip': '198.51.100.10',
      ports: { count: 60, sample: ['tcp/1'] },
      probes: 60,
      first_seen: '2024-05-01T12:00:00.000Z',
      last_seen: '2024-05-01T12:00:05.000Z',
      confidence: 0.9,
      evidence: { trigger: 'disjoint port slices from several sources' },
    },
    0,
  );
  assert.deepEqual(d.targets, ['203.0.113.66']);
  assert.deepEqual(d.refused, [
    { target: '192.0.2.44', why: 'allowlist: 192.0.2.44 (jump host (bastion.example.com))' },
    { target: '198.51.100.10', why: 'own address' },
    { target: '192.0.2.53', why: 'resolver' },
  ]);
});
