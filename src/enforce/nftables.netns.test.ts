/**
 * The nftables backend against a real kernel, inside throw-away network namespaces: each test gets a
 * "protected" namespace running the backend (in a driver process) and an "attacker" namespace
 * joined to it by a veth link. Nothing here touches the host's own firewall or routes.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelBan } from '../model/ban.js';
import type { NftRulesetOptions } from './nft-ruleset.js';
import { destroyAll, Driver, driverErrorOf, leftoverNamespaces, manyAttackersLab, mustIn, NetnsPair, runIn } from '../../test/support/testkit-netns.js';

/** Attacker sources: several per /24 and per /64, so bans of one can be told from the others. */
const ATTACKER4 = ['10.77.1.2', '10.77.1.3', '10.77.1.7', '10.77.1.8', '10.77.2.2', '10.77.3.2'] as const;
const ATTACKER6 = ['2001:db8:77:1::2', '2001:db8:77:1::3', '2001:db8:77:2::2', '2001:db8:77:3::2'] as const;
const LAB = manyAttackersLab('pwnft', 77, ATTACKER4, ATTACKER6);
const { protected4: PROTECTED4, protected6: PROTECTED6 } = LAB;
const PORT = 8080;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

after(() => {
  destroyAll();
  assert.deepEqual(leftoverNamespaces(LAB.tag), [], 'every test namespace is deleted');
});

/** `nft …` inside a namespace. */
const nft = (ns: string, args: readonly string[], input?: string): Promise<string> => mustIn(ns, 'nft', args, input);

interface Lab {
  pair: NetnsPair;
  /** Driver in the protected namespace, backend initialised (not set up). */
  guard: Driver;
  /** Driver in the attacker namespace, or null when the test sends no traffic. */
  attacker: Driver | null;
}

async function withLab(options: { ruleset?: NftRulesetOptions; traffic: boolean }, body: (lab: Lab) => Promise<void>): Promise<void> {
  const pair = new NetnsPair(LAB);
  try {
    const [guard, attacker] = await Promise.all([pair.driver('protected', 'nftables'), options.traffic ? pair.driver('attacker') : null]);
    await guard.init(options.ruleset ?? {});
    if (options.traffic) {
      await guard.listenTcp(PROTECTED4, PORT);
      await guard.listenTcp(PROTECTED6, PORT);
    }
    await body({ pair, guard, attacker });
  } finally {
    pair.destroy();
  }
}

/** Outcome of a TCP connection from `source` to the protected host's address of the same family. */
function reach(lab: Lab, source: string, port = PORT): Promise<string> {
  assert.ok(lab.attacker);
  return lab.attacker.connectTcp(source, source.includes(':') ? PROTECTED6 : PROTECTED4, port);
}

/** Asserts the reachability of each source at once (connections in parallel keep the test fast). */
async function expectReach(lab: Lab, expected: Record<string, 'open' | 'timeout'>, port = PORT): Promise<void> {
  const sources = Object.keys(expected);
  const outcomes = await Promise.all(sources.map((source) => reach(lab, source, port)));
  assert.deepEqual(Object.fromEntries(sources.map((s, i) => [s, outcomes[i]])), expected);
}

const byTarget = (bans: KernelBan[]): Map<string, number | null> => new Map(bans.map((b) => [b.target, b.expiresInSeconds]));

test('setup creates exactly its own table and leaves another table untouched', async () => {
  await withLab({ ruleset: { hooks: { input: true, forward: true } }, traffic: false }, async ({ pair, guard }) => {
    const ns = pair.protectedNs;
    await nft(ns, ['-f', '-'], 'table inet other {\n set s { type ipv4_addr; elements = { 192.0.2.1 }; }\n chain c { type filter hook input priority 0; policy accept; tcp dport 9 counter; }\n}\n');
    const decoyBefore = await nft(ns, ['list', 'table', 'inet', 'other']);

    await guard.setup();
    assert.equal(await nft(ns, ['list', 'table', 'inet', 'other']), decoyBefore);
    assert.deepEqual((await nft(ns, ['list', 'tables'])).trim().split('\n').sort(), ['table inet other', 'table inet portwarden']);

    const doc = JSON.parse(await nft(ns, ['-j', 'list', 'table', 'inet', 'portwarden'])) as { nftables: Record<string, Record<string, unknown>>[] };
    const sets = doc.nftables.filter((o) => o.set).map((o) => [o.set.name, o.set.flags]);
    assert.deepEqual(sets, [
      ['allow4', ['interval']],
      ['allow6', ['interval']],
      ['ban4', ['interval', 'timeout']],
      ['ban6', ['interval', 'timeout']],
    ]);
    const chains = doc.nftables.filter((o) => o.chain).map((o) => [o.chain.name, o.chain.hook, o.chain.prio, o.chain.policy]);
    assert.deepEqual(chains, [
      ['input', 'input', -150, 'accept'],
      ['forward', 'forward', -150, 'accept'],
    ]);
    assert.equal(await guard.present(), true);
  });
});

test('a banned IPv4 address and a banned IPv6 /64 cannot connect; other sources still can', async () => {
  await withLab({ traffic: true }, async (lab) => {
    const [a, b] = ATTACKER4;
    const [v6a, v6b, v6other] = ATTACKER6;
    await lab.guard.setup();
    await expectReach(lab, { [a]: 'open', [b]: 'open', [v6a]: 'open', [v6b]: 'open', [v6other]: 'open' });

    await lab.guard.queue({ action: 'ban', target: a, timeoutSeconds: 60 }, { action: 'ban', target: '2001:db8:77:1::/64', timeoutSeconds: 60 });
    assert.equal((await lab.guard.commit()).applied, 2);
    await expectReach(lab, { [a]: 'timeout', [b]: 'open', [v6a]: 'timeout', [v6b]: 'timeout', [v6other]: 'open' });

    // ICMP from a banned source is dropped too (the ban matches the source, whatever the protocol).
    const ping = (source: string) =>
      runIn(lab.pair.attacker, 'timeout', ['3', 'hping3', '--icmp', '-c', '1', '-a', source, PROTECTED4]);
    const [banned, other] = await Promise.all([ping(a), ping(b)]);
    assert.match(banned.stderr, / 0 packets received/);
    assert.match(other.stderr, / 1 packets received/);
  });
});

test('an allowlisted address inside a banned network still gets through', async () => {
  await withLab({ traffic: true }, async (lab) => {
    await lab.guard.setup();
    await lab.guard.queue(
      { action: 'ban', target: '10.77.1.0/24', timeoutSeconds: 60 },
      { action: 'allow', target: '10.77.1.7' },
      { action: 'ban', target: '2001:db8:77:1::/64', timeoutSeconds: 60 },
      { action: 'allow', target: '2001:db8:77:1::3' },
    );
    await lab.guard.commit();
    await expectReach(lab, {
      '10.77.1.7': 'open',
      '10.77.1.8': 'timeout',
      '10.77.1.2': 'timeout',
      '2001:db8:77:1::3': 'open',
      '2001:db8:77:1::2': 'timeout',
    });

    await lab.guard.queue({ action: 'disallow', target: '10.77.1.7' });
    await lab.guard.commit();
    await expectReach(lab, { '10.77.1.7': 'timeout' });
  });
});

test('a ban with a 2 s timeout lifts by itself, and a re-ban restarts its timer', async () => {
  await withLab({ traffic: true }, async (lab) => {
    const [short, long] = ATTACKER4;
    await lab.guard.setup();
    await lab.guard.queue({ action: 'ban', target: short, timeoutSeconds: 2 }, { action: 'ban', target: long, timeoutSeconds: 100 });
    await lab.guard.commit();
    const committedAt = Date.now();
    const first = byTarget(await lab.guard.bans());
    assert.ok((first.get(short) ?? 99) <= 2, `short ban expires in ${first.get(short)} s`);
    await expectReach(lab, { [short]: 'timeout', [long]: 'timeout' });

    await sleep(Math.max(0, committedAt + 2300 - Date.now()));
    // A plain add would leave the old timer (about 97 s left now); the refresh restarts it at 100 s.
    await lab.guard.queue({ action: 'ban', target: long, timeoutSeconds: 100 });
    await lab.guard.commit();
    const later = byTarget(await lab.guard.bans());
    assert.equal(later.has(short), false, 'the kernel lifted the short ban');
    assert.ok((later.get(long) ?? 0) >= 99, `re-banned, expires in ${later.get(long)} s`);
    await expectReach(lab, { [short]: 'open', [long]: 'timeout' });
  });
});

test('unban lifts a ban at once; unbanning what is not banned is not an error', async () => {
  await withLab({ traffic: true }, async (lab) => {
    const [a] = ATTACKER4;
    const [v6a] = ATTACKER6;
    await lab.guard.setup();
    await lab.guard.queue({ action: 'ban', target: a, timeoutSeconds: 60 }, { action: 'ban', target: v6a, timeoutSeconds: null });
    await lab.guard.commit();
    assert.deepEqual(byTarget(await lab.guard.bans()).get(v6a), null, 'a ban without timeout');
    await expectReach(lab, { [a]: 'timeout', [v6a]: 'timeout' });

    await lab.guard.queue({ action: 'unban', target: a }, { action: 'unban', target: v6a }, { action: 'unban', target: '192.0.2.99' });
    assert.equal((await lab.guard.commit()).applied, 3);
    assert.deepEqual(await lab.guard.bans(), []);
    await expectReach(lab, { [a]: 'open', [v6a]: 'open' });
  });
});

test('blocked networks and ports from the config drop', async () => {
  const ruleset = {
    blockedNetworks: ['10.77.3.0/24', '2001:db8:77:3::/64'],
    blockedTcpPorts: [8081],
    blockedUdpPorts: [5353],
  };
  await withLab({ ruleset, traffic: true }, async (lab) => {
    assert.ok(lab.attacker);
    await lab.guard.listenTcp(PROTECTED4, 8081);
    await lab.guard.listenUdp(PROTECTED4, 5353);
    await lab.guard.listenUdp(PROTECTED4, 5354);
    await lab.guard.setup();
    await expectReach(lab, { '10.77.3.2': 'timeout', '10.77.2.2': 'open', '2001:db8:77:3::2': 'timeout', '2001:db8:77:2::2': 'open' });
    await expectReach(lab, { '10.77.2.2': 'timeout' }, 8081);
    const [blocked, open] = await Promise.all([
      lab.attacker.probeUdp('10.77.2.2', PROTECTED4, 5353),
      lab.attacker.probeUdp('10.77.2.2', PROTECTED4, 5354),
    ]);
    assert.deepEqual([blocked, open], ['timeout', 'reply']);
  });
});

test('setup again replaces the table: no stale ban, allow or rule survives', async () => {
  await withLab({ ruleset: { blockedTcpPorts: [8081] }, traffic: true }, async (lab) => {
    const ns = lab.pair.protectedNs;
    await lab.guard.listenTcp(PROTECTED4, 8081);
    await lab.guard.setup();
    await lab.guard.queue({ action: 'ban', target: '10.77.1.2', timeoutSeconds: 60 }, { action: 'allow', target: '10.77.2.0/24' });
    await lab.guard.commit();
    await expectReach(lab, { '10.77.1.2': 'timeout', '10.77.1.3': 'timeout' }, 8081);

    // A restart with the same config: the table comes back empty.
    await lab.guard.setup();
    assert.deepEqual(await lab.guard.bans(), []);
    assert.doesNotMatch(await nft(ns, ['list', 'set', 'inet', 'portwarden', 'allow4']), /elements/);
    await expectReach(lab, { '10.77.1.2': 'open' });
    // Its memory of the old elements went with it: banning the same address again is a plain add.
    await lab.guard.queue({ action: 'ban', target: '10.77.1.2', timeoutSeconds: 60 });
    assert.equal((await lab.guard.commit()).applied, 1);

    // A restart with a new config (a new backend): the old port rule is gone too.
    await lab.guard.init({});
    await lab.guard.setup();
    await expectReach(lab, { '10.77.1.2': 'open', '10.77.1.3': 'open' }, 8081);
    assert.doesNotMatch(await nft(ns, ['list', 'table', 'inet', 'portwarden']), /8081/);
  });
});

test('a restart keeps the bans in the kernel while the rules and the allow sets are replaced', async () => {
  await withLab({ ruleset: { hooks: { input: true, forward: true }, blockedTcpPorts: [8081] }, traffic: true }, async (lab) => {
    const ns = lab.pair.protectedNs;
    assert.equal(await lab.guard.setupKeepingBans(), 'no table inet portwarden', 'no table yet: nothing to keep');
    await lab.guard.setup();
    await lab.guard.queue({ action: 'ban', target: '10.77.1.2', timeoutSeconds: 600 }, { action: 'ban', target: '2001:db8:77:1::/64', timeoutSeconds: null }, { action: 'allow', target: '10.77.1.3' });
    await lab.guard.commit();

    // The restart: a new backend with another config (no forward chain, no port rule).
    await lab.guard.init({});
    assert.equal(await lab.guard.setupKeepingBans(), null);
    const bans = byTarget(await lab.guard.bans());
    assert.deepEqual([...bans.keys()].sort(), ['10.77.1.2', '2001:db8:77:1::/64']);
    assert.ok((bans.get('10.77.1.2') ?? 0) > 590, 'the ban keeps the time it had');
    await expectReach(lab, { '10.77.1.2': 'timeout', '10.77.1.3': 'open' });
    const table = await nft(ns, ['list', 'table', 'inet', 'portwarden']);
    assert.doesNotMatch(table, /chain forward/, 'a chain the new config has not is gone');
    assert.doesNotMatch(table, /8081/, 'so is the old port rule');
    assert.doesNotMatch(await nft(ns, ['list', 'set', 'inet', 'portwarden', 'allow4']), /10\.77\.1\.3/, 'allow sets are refilled by the daemon, not kept');
    // The same ban again (what the daemon does with its database's bans) is accepted.
    await lab.guard.queue({ action: 'ban', target: '10.77.1.2', timeoutSeconds: 300 });
    assert.equal((await lab.guard.commit()).applied, 1);
    assert.ok((byTarget(await lab.guard.bans()).get('10.77.1.2') ?? 0) <= 300, 'and its timeout is the new one');

    // A set whose definition differs cannot be laid over: refused, so the caller replaces the table.
    await runIn(ns, 'nft', ['-f', '-'], 'flush table inet portwarden\ndelete set inet portwarden allow4\nadd set inet portwarden allow4 { type ipv4_addr; }\n');
    assert.match((await lab.guard.setupKeepingBans()) ?? 'kept', /allow4/, 'refused, naming the set nft would not lay over');
    assert.deepEqual([...byTarget(await lab.guard.bans()).keys()].sort(), ['10.77.1.2', '2001:db8:77:1::/64'], 'a refused attempt changed nothing');
  });
});

test('overlapping bans: the wider network wins and keeps the latest expiry', async () => {
  await withLab({ traffic: false }, async ({ guard }) => {
    await guard.setup();
    await guard.queue({ action: 'ban', target: '10.77.1.2', timeoutSeconds: 100 });
    await guard.commit();
    await guard.queue({ action: 'ban', target: '10.77.1.0/24', timeoutSeconds: 10 });
    await guard.commit();
    let bans = byTarget(await guard.bans());
    assert.deepEqual([...bans.keys()], ['10.77.1.0/24']);
    assert.ok((bans.get('10.77.1.0/24') ?? 0) >= 98, 'the network holds as long as the address ban did');

    // Inside the network and shorter: nothing to do.
    await guard.queue({ action: 'ban', target: '10.77.1.3', timeoutSeconds: 5 });
    assert.equal((await guard.commit()).applied, 1);
    bans = byTarget(await guard.bans());
    assert.deepEqual([...bans.keys()], ['10.77.1.0/24']);

    // All in one batch: address, its network, an address inside, a re-ban of the network.
    await guard.queue(
      { action: 'ban', target: '2001:db8:77:1::2', timeoutSeconds: 50 },
      { action: 'ban', target: '2001:db8:77:1::/64', timeoutSeconds: 20 },
      { action: 'ban', target: '2001:db8:77:1::3', timeoutSeconds: 300 },
      { action: 'ban', target: '2001:db8:77:1::/64', timeoutSeconds: 30 },
    );
    assert.equal((await guard.commit()).applied, 4);
    bans = byTarget(await guard.bans());
    assert.deepEqual([...bans.keys()].sort(), ['10.77.1.0/24', '2001:db8:77:1::/64']);
    assert.ok((bans.get('2001:db8:77:1::/64') ?? 0) >= 298, 'the network holds as long as the longest ban merged into it');

    await guard.queue({ action: 'unban', target: '10.77.1.0/24' });
    await guard.commit();
    assert.deepEqual([...byTarget(await guard.bans()).keys()], ['2001:db8:77:1::/64']);
  });
});

test('commits 1,000 bans in one netlink batch (timings printed, not asserted)', async (t: TestContext) => {
  await withLab({ traffic: false }, async ({ guard }) => {
    await guard.setup();
    const one = async (target: string) => {
      await guard.queue({ action: 'ban', target, timeoutSeconds: 600 });
      return (await guard.commit()).durationMs;
    };
    await one('198.51.100.1'); // first use opens the socket
    const single = await one('198.51.100.2');

    const thousand = Array.from({ length: 1000 }, (_, i) => ({
      action: 'ban' as const,
      target: `10.200.${i >> 8}.${i & 255}`,
      timeoutSeconds: 600,
    }));
    await guard.queue(...thousand);
    const batch = await guard.commit();
    assert.equal(batch.applied, 1000);
    const singleAfter = await one('198.51.100.3');
    t.diagnostic(`commit of 1 ban: ${single.toFixed(3)} ms; of 1,000 bans: ${batch.durationMs.toFixed(3)} ms; of 1 ban with 1,002 in the set: ${singleAfter.toFixed(3)} ms`);
    assert.equal((await guard.bans()).length, 1003);
  });
});

test('kernel refusals surface as PW_ERR_ENFORCE per decision, and the rest is applied', async () => {
  await withLab({ traffic: false }, async ({ pair, guard }) => {
    const ns = pair.protectedNs;
    await guard.setup();

    // Someone else put a network into our set: our ban inside it overlaps, the other ban goes in.
    await nft(ns, ['add', 'element', 'inet', 'portwarden', 'ban4', '{ 10.77.1.0/24 timeout 60s }']);
    await guard.queue({ action: 'ban', target: '10.77.1.2', timeoutSeconds: 60 }, { action: 'ban', target: '10.77.2.2', timeoutSeconds: 60 });
    const overlap = await driverErrorOf(guard.commit());
    assert.equal(overlap.detail.code, 'PW_ERR_ENFORCE');
    assert.deepEqual(
      overlap.detail.failures?.map((f) => [f.action, f.target, f.errno]),
      [['ban', '10.77.1.2', 17]], // EEXIST
    );
    assert.deepEqual([...byTarget(await guard.bans()).keys()].sort(), ['10.77.1.0/24', '10.77.2.2']);

    // The table deleted under us: bans fail with ENOENT.
    await nft(ns, ['delete', 'table', 'inet', 'portwarden']);
    assert.equal(await guard.present(), false);
    await guard.queue({ action: 'ban', target: '10.77.2.3', timeoutSeconds: 60 });
    const missing = await driverErrorOf(guard.commit());
    assert.equal(missing.detail.code, 'PW_ERR_ENFORCE');
    assert.deepEqual(missing.detail.failures?.map((f) => [f.target, f.errno]), [['10.77.2.3', 2]]); // ENOENT

    // Invalid input is refused when queued.
    const invalid = await driverErrorOf(guard.queue({ action: 'ban', target: '10.77.1.2/24', timeoutSeconds: 60 }));
    assert.equal(invalid.detail.code, 'PW_ERR_ENFORCE');
  });
});

test('teardown removes the table and nothing else, and may run twice', async () => {
  await withLab({ traffic: false }, async ({ pair, guard }) => {
    const ns = pair.protectedNs;
    await nft(ns, ['add', 'table', 'inet', 'other']);
    await guard.setup();
    await guard.queue({ action: 'ban', target: '10.77.1.2', timeoutSeconds: 60 });
    await guard.commit();
    await guard.teardown();
    assert.equal((await nft(ns, ['list', 'tables'])).trim(), 'table inet other');
    assert.equal(await guard.present(), false);
    await guard.teardown();
  });
});
