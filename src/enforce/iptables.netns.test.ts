/**
 * The iptables + ipset backend against a real kernel, inside throw-away network namespaces
 * (`pwipt-<pid>-<n>-p|a`): a "protected" namespace runs the backend in a driver process, an
 * "attacker" namespace is joined to it by a veth link. Nothing here touches the host's firewall.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelBan } from '../model/ban.js';
import type { IptablesBackendOptions } from './iptables.js';
import { destroyAll, Driver, driverErrorOf, leftoverNamespaces, manyAttackersLab, mustIn, NetnsPair } from '../../test/support/testkit-netns.js';

const ATTACKER4 = ['10.78.1.2', '10.78.1.3', '10.78.1.7', '10.78.2.2'] as const;
const ATTACKER6 = ['2001:db8:78:1::2', '2001:db8:78:1::3', '2001:db8:78:2::2'] as const;
const LAB = manyAttackersLab('pwipt', 78, ATTACKER4, ATTACKER6);
const { protected4: PROTECTED4, protected6: PROTECTED6 } = LAB;
const PORT = 8080;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Lab {
  protectedNs: string;
  attackerNs: string;
  guard: Driver<'iptables'>;
  attacker: Driver<'iptables'> | null;
}

async function withLab(options: { backend?: IptablesBackendOptions; traffic: boolean }, body: (lab: Lab) => Promise<void>): Promise<void> {
  const pair = new NetnsPair(LAB);
  try {
    const guard = await pair.driver('protected', 'iptables');
    const attacker = options.traffic ? await pair.driver('attacker', 'iptables') : null;
    const lab: Lab = { protectedNs: pair.protectedNs, attackerNs: pair.attacker, guard, attacker };
    await lab.guard.init(options.backend ?? {});
    if (options.traffic) {
      await lab.guard.call('listenTcp', { host: PROTECTED4, port: PORT });
      await lab.guard.call('listenTcp', { host: PROTECTED6, port: PORT });
    }
    await body(lab);
  } finally {
    pair.destroy();
  }
}

after(() => {
  destroyAll();
  assert.deepEqual(leftoverNamespaces(LAB.tag), [], 'every test namespace is deleted');
});

const inNs = (ns: string, command: string, args: readonly string[], input?: string) => mustIn(ns, command, args, input);
const save = (ns: string, family: 4 | 6) => inNs(ns, family === 4 ? 'iptables-save' : 'ip6tables-save', ['-t', 'filter']);
/** Rule and chain lines of an iptables-save text, without comments and counters. */
const rulesOf = (saved: string) => saved.split('\n').filter((l) => l.startsWith('-') || l.startsWith(':')).map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
const setNames = async (ns: string) => (await inNs(ns, 'ipset', ['list', '-n'])).split('\n').filter(Boolean).sort();

async function expectReach(lab: Lab, expected: Record<string, 'open' | 'timeout'>): Promise<void> {
  assert.ok(lab.attacker);
  const attacker = lab.attacker;
  const sources = Object.keys(expected);
  const outcomes = await Promise.all(
    sources.map((from) => attacker.call<string>('connectTcp', { from, to: from.includes(':') ? PROTECTED6 : PROTECTED4, port: PORT, timeoutMs: 700 })),
  );
  assert.deepEqual(Object.fromEntries(sources.map((s, i) => [s, outcomes[i]])), expected);
}

const byTarget = (bans: KernelBan[]) => new Map(bans.map((b) => [b.target, b.expiresInSeconds]));

test('setup creates only its chains and sets and keeps an unrelated INPUT rule', async () => {
  await withLab({ traffic: false }, async ({ protectedNs: ns, guard }) => {
    await inNs(ns, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '2222', '-j', 'ACCEPT']);
    await inNs(ns, 'ip6tables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '2222', '-j', 'ACCEPT']);
    assert.equal(await guard.call('present'), false);
    await guard.call('setup');
    assert.equal(await guard.call('present'), true);
    assert.deepEqual(await setNames(ns), ['portwarden-allow4', 'portwarden-allow6', 'portwarden-ban4', 'portwarden-ban6', 'portwarden-block4', 'portwarden-block6']);
    const v4 = rulesOf(await save(ns, 4));
    assert.deepEqual(v4, [
      ':INPUT ACCEPT',
      ':FORWARD ACCEPT',
      ':OUTPUT ACCEPT',
      ':PORTWARDEN -',
      '-A INPUT -j PORTWARDEN',
      '-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT',
      '-A PORTWARDEN -m set --match-set portwarden-allow4 src -m comment --comment "portwarden: allowlist" -j RETURN',
      '-A PORTWARDEN -m set --match-set portwarden-ban4 src -m comment --comment "portwarden: bans" -j DROP',
    ]);
    const v6 = rulesOf(await save(ns, 6));
    assert.ok(v6.includes('-A INPUT -j PORTWARDEN6') && v6.includes('-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT'), v6.join('\n'));
    assert.ok(v6.some((l) => l.includes('--match-set portwarden-ban6 src')));
  });
});

test('a banned IPv4 and IPv6 address cannot reach a listener while others can', async () => {
  await withLab({ traffic: true }, async (lab) => {
    await lab.guard.call('setup');
    await expectReach(lab, { [ATTACKER4[0]]: 'open', [ATTACKER6[0]]: 'open' });
    await lab.guard.queue({ action: 'ban', target: ATTACKER4[0], timeoutSeconds: 60 }, { action: 'ban', target: ATTACKER6[0], timeoutSeconds: null });
    assert.equal((await lab.guard.commit()).applied, 2);
    const bans = byTarget(await lab.guard.bans());
    assert.ok((bans.get(ATTACKER4[0]) ?? 0) >= 58, `expires in ${bans.get(ATTACKER4[0])}`);
    assert.equal(bans.get(ATTACKER6[0]), null);
    await expectReach(lab, { [ATTACKER4[0]]: 'timeout', [ATTACKER4[1]]: 'open', [ATTACKER6[0]]: 'timeout', [ATTACKER6[1]]: 'open' });
  });
});

test('the allowlist wins over a ban of its network', async () => {
  await withLab({ traffic: true }, async (lab) => {
    await lab.guard.call('setup');
    await lab.guard.queue(
      { action: 'ban', target: '10.78.1.0/24', timeoutSeconds: 60 },
      { action: 'allow', target: '10.78.1.7' },
      { action: 'ban', target: '2001:db8:78:1::/64', timeoutSeconds: 60 },
      { action: 'allow', target: '2001:db8:78:1::3' },
    );
    await lab.guard.commit();
    await expectReach(lab, { '10.78.1.7': 'open', '10.78.1.2': 'timeout', '10.78.2.2': 'open', '2001:db8:78:1::3': 'open', '2001:db8:78:1::2': 'timeout' });
    await lab.guard.queue({ action: 'disallow', target: '10.78.1.7' });
    await lab.guard.commit();
    await expectReach(lab, { '10.78.1.7': 'timeout' });
  });
});

test('a ban with a 2 s timeout lifts by itself; unban lifts one at once', async () => {
  await withLab({ traffic: true }, async (lab) => {
    const [short, long, other] = ATTACKER4;
    await lab.guard.call('setup');
    await lab.guard.queue({ action: 'ban', target: short, timeoutSeconds: 2 }, { action: 'ban', target: long, timeoutSeconds: 100 }, { action: 'ban', target: other, timeoutSeconds: 100 });
    await lab.guard.commit();
    const committedAt = Date.now();
    await expectReach(lab, { [short]: 'timeout', [long]: 'timeout', [other]: 'timeout' });
    await lab.guard.queue({ action: 'unban', target: other }, { action: 'unban', target: '192.0.2.99' });
    assert.equal((await lab.guard.commit()).applied, 2, 'unbanning what is not banned is not an error');
    await sleep(Math.max(0, committedAt + 2500 - Date.now()));
    assert.deepEqual([...byTarget(await lab.guard.bans()).keys()], [long]);
    await expectReach(lab, { [short]: 'open', [long]: 'timeout', [other]: 'open' });
  });
});

test('setup again is idempotent: one jump each, old elements gone, prefilter rules once', async () => {
  await withLab({ backend: { nflogGroup: 5, snaplen: 128 }, traffic: false }, async ({ protectedNs: ns, guard }) => {
    await guard.call('setup');
    await guard.queue({ action: 'ban', target: '10.78.1.2', timeoutSeconds: 60 });
    await guard.commit();
    await guard.call('setup');
    await guard.call('setup');
    assert.deepEqual(await guard.bans(), []);
    for (const family of [4, 6] as const) {
      const chain = family === 4 ? 'PORTWARDEN' : 'PORTWARDEN6';
      const rules = rulesOf(await save(ns, family));
      assert.deepEqual(rules.filter((l) => l.startsWith('-A INPUT') || l.startsWith('-A OUTPUT')), [`-A INPUT -j ${chain}`, `-A OUTPUT -j ${chain}-OUT`]);
      assert.equal(rules.filter((l) => l.startsWith(`-A ${chain} `)).length, 4, rules.join('\n'));
      assert.equal(rules.filter((l) => l.startsWith(`-A ${chain}-OUT `)).length, 4);
      assert.ok(rules.some((l) => l.includes('--nflog-group 5') && l.includes('--nflog-size 128')), rules.join('\n'));
    }
  });
});

test('teardown removes jumps, chains and sets and nothing else, and may run twice', async () => {
  await withLab({ backend: { nflogGroup: 5 }, traffic: false }, async ({ protectedNs: ns, guard }) => {
    await inNs(ns, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '2222', '-j', 'ACCEPT']);
    await inNs(ns, 'ipset', ['create', 'other', 'hash:ip']);
    await guard.call('setup');
    await guard.queue({ action: 'ban', target: '10.78.1.2', timeoutSeconds: 60 }, { action: 'allow', target: '2001:db8::/32' });
    await guard.commit();
    await guard.call('teardown');
    assert.equal(await guard.call('present'), false);
    assert.deepEqual(await setNames(ns), ['other']);
    assert.deepEqual(rulesOf(await save(ns, 4)), [':INPUT ACCEPT', ':FORWARD ACCEPT', ':OUTPUT ACCEPT', '-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT']);
    assert.deepEqual(rulesOf(await save(ns, 6)), [':INPUT ACCEPT', ':FORWARD ACCEPT', ':OUTPUT ACCEPT']);
    await guard.call('teardown');
  });
});

test('refused lines surface as PW_ERR_ENFORCE per decision, and the rest is applied', async () => {
  await withLab({ traffic: false }, async ({ protectedNs: ns, guard }) => {
    await guard.call('setup');
    // hash:net takes no /0 network.
    await guard.queue(
      { action: 'ban', target: '10.78.1.2', timeoutSeconds: 60 },
      { action: 'ban', target: '0.0.0.0/0', timeoutSeconds: 60 },
      { action: 'ban', target: '10.78.1.3', timeoutSeconds: 60 },
      { action: 'ban', target: '::/0', timeoutSeconds: 60 },
      { action: 'ban', target: '2001:db8::1', timeoutSeconds: 60 },
    );
    const error = await driverErrorOf(guard.commit());
    assert.equal(error.detail.code, 'PW_ERR_ENFORCE');
    assert.deepEqual(error.detail.failures?.map((f) => [f.action, f.target]), [['ban', '0.0.0.0/0'], ['ban', '::/0']]);
    assert.deepEqual([...byTarget(await guard.bans()).keys()].sort(), ['10.78.1.2', '10.78.1.3', '2001:db8::1']);

    // A set removed under us: a present() false, and bans fail.
    await inNs(ns, 'iptables', ['-F', 'PORTWARDEN']);
    await inNs(ns, 'ipset', ['destroy', 'portwarden-ban4']);
    assert.equal(await guard.call('present'), false);
    await guard.queue({ action: 'ban', target: '10.78.2.3', timeoutSeconds: 60 });
    const missing = await driverErrorOf(guard.commit());
    assert.deepEqual(missing.detail.failures?.map((f) => f.target), ['10.78.2.3']);
    // Setup repairs it.
    await guard.call('setup');
    assert.equal(await guard.call('present'), true);
  });
});

test('commit timings: 1 ban and 1,000 bans, each one ipset process (printed, not asserted)', async (t: TestContext) => {
  await withLab({ traffic: false }, async ({ guard }) => {
    await guard.call('setup');
    const one = async (target: string) => {
      await guard.queue({ action: 'ban', target, timeoutSeconds: 600 });
      return (await guard.commit()).durationMs;
    };
    await one('198.51.100.1');
    const single = await one('198.51.100.2');
    await guard.queue(...Array.from({ length: 1000 }, (_, i) => ({ action: 'ban' as const, target: `10.200.${i >> 8}.${i & 255}`, timeoutSeconds: 600 })));
    const batch = await guard.commit();
    assert.equal(batch.applied, 1000);
    const singleAfter = await one('198.51.100.3');
    t.diagnostic(`commit of 1 ban: ${single.toFixed(2)} ms; of 1,000 bans: ${batch.durationMs.toFixed(2)} ms; of 1 ban with 1,002 in the set: ${singleAfter.toFixed(2)} ms`);
    assert.equal((await guard.bans()).length, 1003);
  });
});

/** nmap -sS of 100 ports from the attacker's first address; returns the count per port state. */
async function scan(lab: Lab): Promise<Record<string, number>> {
  const xml = await inNs(lab.attackerNs, 'nmap', [
    '-sS', '-Pn', '-n', '-p', `${PORT - 50}-${PORT + 49}`, '-S', ATTACKER4[0], '-e', 'pw1',
    '--max-retries', '1', '--max-rtt-timeout', '200ms', '--initial-rtt-timeout', '100ms', '-T4', '-oX', '-', PROTECTED4,
  ]);
  const states: Record<string, number> = {};
  for (const m of xml.matchAll(/<port protocol="tcp" portid="\d+"><state state="([a-z|]+)"/g)) states[m[1]] = (states[m[1]] ?? 0) + 1;
  for (const m of xml.matchAll(/<extraports state="([a-z|]+)" count="(\d+)"/g)) states[m[1]] = (states[m[1]] ?? 0) + Number(m[2]);
  return states;
}

test('scan and ban: after the ban, nmap -sS sees only filtered ports', async () => {
  await withLab({ traffic: true }, async (lab) => {
    await lab.guard.call('setup');
    assert.deepEqual(await scan(lab), { open: 1, closed: 99 });
    await lab.guard.queue({ action: 'ban', target: ATTACKER4[0], timeoutSeconds: 600 });
    await lab.guard.commit();
    assert.deepEqual(await scan(lab), { filtered: 100 });
    await expectReach(lab, { [ATTACKER4[1]]: 'open' });
  });
});

const reach = (lab: Lab, from: string, port: number) =>
  lab.attacker!.call<string>('connectTcp', { from, to: from.includes(':') ? PROTECTED6 : PROTECTED4, port, timeoutMs: 700 });
const udp = (lab: Lab, from: string, port: number) =>
  lab.attacker!.call<string>('probeUdp', { from, to: from.includes(':') ? PROTECTED6 : PROTECTED4, port, timeoutMs: 700 });

test('static drops (enforce.blockedNetworks, blockedTcpPorts, blockedUdpPorts): real packets of a blocked network or to a blocked port are dropped, IPv4 and IPv6; the allowlist exempts', async () => {
  const BLOCKED_TCP = PORT + 1;
  const UDP_OPEN = 5300;
  const UDP_BLOCKED = 5301;
  const backend: IptablesBackendOptions = { blockedNetworks: ['10.78.2.0/24', '2001:db8:78:2::/64'], blockedTcpPorts: [BLOCKED_TCP], blockedUdpPorts: [UDP_BLOCKED, 9, 7] };
  await withLab({ backend, traffic: true }, async (lab) => {
    for (const host of [PROTECTED4, PROTECTED6]) {
      await lab.guard.call('listenTcp', { host, port: BLOCKED_TCP });
      for (const port of [UDP_OPEN, UDP_BLOCKED]) await lab.guard.call('listenUdp', { host, port });
    }
    // Before setup everything answers: the drops below are the backend's doing.
    assert.deepEqual([await reach(lab, '10.78.2.2', PORT), await reach(lab, ATTACKER4[0], BLOCKED_TCP), await udp(lab, ATTACKER4[0], UDP_BLOCKED)], ['open', 'open', 'reply']);
    await lab.guard.call('setup');
    const outcomes = async (from: string) => [await reach(lab, from, PORT), await reach(lab, from, BLOCKED_TCP), await udp(lab, from, UDP_OPEN), await udp(lab, from, UDP_BLOCKED)];
    assert.deepEqual(await outcomes(ATTACKER4[0]), ['open', 'timeout', 'reply', 'timeout'], 'IPv4: ports');
    assert.deepEqual(await outcomes(ATTACKER6[0]), ['open', 'timeout', 'reply', 'timeout'], 'IPv6: ports');
    assert.deepEqual(await outcomes('10.78.2.2'), ['timeout', 'timeout', 'timeout', 'timeout'], 'IPv4: blocked network');
    assert.deepEqual(await outcomes('2001:db8:78:2::2'), ['timeout', 'timeout', 'timeout', 'timeout'], 'IPv6: blocked network');
    await lab.guard.queue({ action: 'allow', target: ATTACKER4[1] }, { action: 'allow', target: '10.78.2.2' });
    await lab.guard.commit();
    assert.deepEqual(await outcomes(ATTACKER4[1]), ['open', 'open', 'reply', 'reply'], 'allowlisted: no static drop');
    assert.deepEqual(await outcomes('10.78.2.2'), ['open', 'open', 'reply', 'reply'], 'allowlisted inside a blocked network');
    const v4 = rulesOf(await save(lab.protectedNs, 4));
    assert.ok(v4.includes('-A PORTWARDEN -p udp -m multiport --dports 7,9,5301 -m comment --comment "portwarden: blocked UDP ports" -j DROP'), v4.join('\n'));
    assert.match(await inNs(lab.protectedNs, 'ipset', ['list', 'portwarden-block6']), /2001:db8:78:2::\/64/);
  });
});

test('static drops: more than 15 ports take several multiport rules; a /0 is blocked as its two halves; a bad entry is PW_ERR_CONFIG_INVALID', async () => {
  const ports = Array.from({ length: 20 }, (_, i) => 1000 + i);
  await withLab({ backend: { blockedTcpPorts: ports, blockedNetworks: ['::/0'] }, traffic: false }, async ({ protectedNs: ns, guard }) => {
    await guard.call('setup');
    const multiport = rulesOf(await save(ns, 6)).filter((l) => l.includes('--dports'));
    assert.equal(multiport.length, 2);
    assert.ok(multiport[0].includes(`--dports ${ports.slice(0, 15).join(',')} `) && multiport[1].includes(`--dports ${ports.slice(15).join(',')} `), multiport.join('\n'));
    const members = (await inNs(ns, 'ipset', ['list', 'portwarden-block6'])).split('Members:')[1].trim().split('\n').sort();
    assert.deepEqual(members, ['8000::/1', '::/1']);
  });
  for (const bad of [{ blockedNetworks: ['10.0.0.1/8'] }, { blockedTcpPorts: [0] }, { blockedUdpPorts: [70000] }]) {
    await withLab({ traffic: false }, async ({ guard }) => {
      const error = await driverErrorOf(guard.init(bad));
      assert.equal(error.detail.code, 'PW_ERR_CONFIG_INVALID', JSON.stringify(bad));
    });
  }
});

test('forward (a router): FORWARD jumps to PORTWARDEN(6)-FWD with the allow, ban and static drop rules and no capture; setup without it removes them', async () => {
  const backend: IptablesBackendOptions = { nflogGroup: 5, forward: true, blockedNetworks: ['10.78.2.0/24'], blockedTcpPorts: [22] };
  await withLab({ backend, traffic: false }, async ({ protectedNs: ns, guard }) => {
    await guard.call('setup');
    assert.equal(await guard.call('present'), true);
    for (const family of [4, 6] as const) {
      const chain = family === 4 ? 'PORTWARDEN-FWD' : 'PORTWARDEN6-FWD';
      const rules = rulesOf(await save(ns, family));
      assert.deepEqual(rules.filter((l) => l.startsWith('-A FORWARD')), [`-A FORWARD -j ${chain}`]);
      const fwd = rules.filter((l) => l.startsWith(`-A ${chain} `));
      const input = rules.filter((l) => l.startsWith(`-A ${family === 4 ? 'PORTWARDEN' : 'PORTWARDEN6'} `) && !l.includes('NFLOG'));
      assert.deepEqual(fwd.map((l) => l.slice(l.indexOf(' -', 3))), input.map((l) => l.slice(l.indexOf(' -', 3))), 'the same drops as input');
      assert.ok(fwd.some((l) => l.includes(family === 4 ? 'portwarden-ban4' : 'portwarden-ban6')) && fwd.some((l) => l.includes('--dports 22 ')), fwd.join('\n'));
      assert.ok(!fwd.some((l) => l.includes('NFLOG')));
    }
    // The FORWARD jump removed under us: not present.
    await inNs(ns, 'iptables', ['-D', 'FORWARD', '-j', 'PORTWARDEN-FWD']);
    assert.equal(await guard.call('present'), false);
    await guard.init({ nflogGroup: 5 });
    await guard.call('setup');
    for (const family of [4, 6] as const) {
      const rules = rulesOf(await save(ns, family));
      assert.ok(!rules.some((l) => l.includes('FWD')), rules.join('\n'));
    }
    await guard.init(backend);
    await guard.call('setup');
    await guard.call('teardown');
    assert.deepEqual(rulesOf(await save(ns, 4)), [':INPUT ACCEPT', ':FORWARD ACCEPT', ':OUTPUT ACCEPT']);
  });
});

test('capture interfaces: the NFLOG rules log packets on the named interface only (kernel packet counters)', async () => {
  const counted = async (ns: string) =>
    (await inNs(ns, 'iptables-save', ['-c', '-t', 'filter']))
      .split('\n')
      .filter((l) => l.includes('NFLOG'))
      .map((l) => ({ packets: Number(/^\[(\d+):/.exec(l)?.[1]), rule: l.replace(/^\[\d+:\d+\] /, '') }));
  for (const [name, expectLogged] of [
    ['pw0', true],
    ['pwother', false],
  ] as const) {
    await withLab({ backend: { nflogGroup: 5, interfaces: [name] }, traffic: true }, async (lab) => {
      await lab.guard.call('setup');
      assert.equal(await reach(lab, ATTACKER4[0], PORT), 'open');
      assert.equal(await reach(lab, ATTACKER4[0], PORT + 7), 'refused');
      const rules = await counted(lab.protectedNs);
      assert.equal(rules.length, 6);
      assert.ok(rules.every((r) => r.rule.includes(` -i ${name} `) || r.rule.includes(` -o ${name} `)), rules.map((r) => r.rule).join('\n'));
      const newRule = rules.find((r) => r.rule.includes('first contacts'))!;
      const rstRule = rules.find((r) => r.rule.includes('RST answers'))!;
      if (expectLogged) assert.ok(newRule.packets >= 2 && rstRule.packets >= 1, JSON.stringify(rules));
      else assert.deepEqual(rules.map((r) => r.packets), [0, 0, 0, 0, 0, 0]);
    });
  }
});
