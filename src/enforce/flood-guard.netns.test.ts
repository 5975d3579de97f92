/**
 * The flood guard in a real nftables, in namespaces, with real hping3 and a Node TCP client:
 * per-source limits drop one source's flood while another source and an allowlisted one pass;
 * synproxy engages on a SYN flood incident, keeps spoofed SYNs out of conntrack while a benign client
 * gets through, and is released once the flood ends (IPv6 too); unsolicited answers (UDP from 53/123, SYN-ACKs)
 * are dropped while the guard is on and not without, and the host's own DNS query still gets its answer.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectsFrom, GuardLab, HTTP_PORT, labSettings, serveOk } from '../../test/support/guard-lab.js';
import { runIn } from '../../test/support/testkit-netns.js';
import { waitUntil } from '../../test/support/daemon-process.js';
import type { IncidentRecord } from '../model/incident.js';

const labs: GuardLab[] = [];
after(async () => {
  for (const lab of labs) await lab.destroy();
});

function lab(net: number): GuardLab {
  const l = new GuardLab('pwguard', net);
  labs.push(l);
  return l;
}

function flood(cls: string, victim: string, port?: string): IncidentRecord {
  return { kind: 'flood', class: cls as IncidentRecord['class'], 'destination.ip': victim, ...(port === undefined ? {} : { 'destination.port': port }), probes: 5000, first_seen: '2026-01-01T00:00:00Z', last_seen: '2026-01-01T00:00:01Z', confidence: 0.9, evidence: {} };
}

test('the guard chain comes after the allow sets and the bans; guard_raw runs at prerouting before conntrack', () => {
  const l = lab(71);
  l.load(labSettings({ connLimit: { tcpPorts: [HTTP_PORT], perSourcePerSecond: 20, perSourceBurst: 40 }, udp: { perSourcePerSecond: 50, perSourceBurst: 50, globalPerSecond: 500, globalBurst: 500 }, icmp: { perSourcePerSecond: 10, perSourceBurst: 10, globalPerSecond: 50, globalBurst: 50 } }));
  const input = l.pair.must(l.ns, 'nft', ['list', 'chain', 'inet', 'portwarden', 'input']).split('\n').map((s) => s.trim());
  const jump = input.findIndex((s) => s.startsWith('jump guard'));
  assert.ok(jump > input.findIndex((s) => s.startsWith('ip6 saddr @allow6 accept')), input.join('\n'));
  assert.ok(jump > input.findIndex((s) => s.startsWith('ip6 saddr @ban6 drop')), input.join('\n'));
  const raw = l.pair.must(l.ns, 'nft', ['list', 'chain', 'inet', 'portwarden', 'guard_raw']);
  assert.match(raw, /hook prerouting priority raw/);
  assert.match(raw, /iif != "lo" ip saddr != @allow4 counter name "guard_syn_seen" notrack/);
});

test('rate limits: one source\'s SYN, UDP and ICMP floods are dropped, another source and an allowlisted one pass', async () => {
  const l = lab(72);
  const [flooder, benign, allowed] = l.sources;
  l.load(labSettings({ connLimit: { tcpPorts: [HTTP_PORT], perSourcePerSecond: 20, perSourceBurst: 40 }, udp: { perSourcePerSecond: 50, perSourceBurst: 50, globalPerSecond: 0, globalBurst: 1 }, icmp: { perSourcePerSecond: 0, perSourceBurst: 1, globalPerSecond: 50, globalBurst: 50 } }), [allowed]);
  await l.serve();

  // 3,000 SYNs at about 5,000/s from one source, a benign client connecting meanwhile.
  const [, ok] = await Promise.all([l.hping(['-S', '-p', String(HTTP_PORT), '-a', flooder, '-i', 'u200', '-c', '3000', l.victim]), l.connects(benign, 20)]);
  const c1 = l.counters();
  assert.equal(ok, 20, 'every benign connection succeeds during the flood');
  assert.ok(c1.guard_conn_dropped >= 2000, `the flood's SYNs over 20/s were dropped: ${c1.guard_conn_dropped}`);

  // The allowlisted source floods as much and loses nothing.
  await l.hping(['-S', '-p', String(HTTP_PORT), '-a', allowed, '-i', 'u200', '-c', '3000', l.victim]);
  assert.equal(l.counters().guard_conn_dropped, c1.guard_conn_dropped, 'an allowlisted source is never limited');

  await l.hping(['--udp', '-p', '9999', '-a', flooder, '-i', 'u200', '-c', '2000', l.victim]);
  await l.hping(['--icmp', '-a', flooder, '-i', 'u500', '-c', '1000', l.victim]);
  const c2 = l.counters();
  assert.ok(c2.guard_udp_source_dropped >= 1000, `UDP over 50/s from one source dropped: ${c2.guard_udp_source_dropped}`);
  assert.ok(c2.guard_icmp_global_dropped >= 400, `echo requests over the host-wide 50/s dropped: ${c2.guard_icmp_global_dropped}`);
  assert.equal(await l.connects(benign, 5), 5, 'the benign client still connects');
});

test('SYN flood: synproxy engages on the flood incident, spoofed SYNs leave no conntrack state, a benign client gets through, released when the flood ends', async () => {
  const l = lab(73);
  const [, benign, allowed] = l.sources;
  const s = labSettings();
  // Engaged for at least 8 s (the checks before the flood take a few), released 2 s after the flood.
  l.load({ ...s, synproxy: { ...s.synproxy, minSeconds: 8 } }, [allowed]);
  await l.serve();
  const guard = l.guard!;
  guard.start();
  const looseBefore = l.pair.must(l.ns, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_loose']).trim();

  guard.onIncident(flood('syn', l.victim, `tcp/${HTTP_PORT}`));
  await waitUntil('synproxy to engage', () => l.actions().includes('flood-guard-engaged'), 10_000, l.logs);
  assert.match(l.pair.must(l.ns, 'nft', ['list', 'set', 'inet', 'portwarden', 'guard_syn_ports']), new RegExp(`${HTTP_PORT} timeout`));
  assert.equal(l.pair.must(l.ns, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_loose']).trim(), '0');

  // Before the flood: an allowlisted client is not synproxied; a benign one is, and gets through.
  const c0 = l.counters();
  assert.equal(await l.connects(allowed, 5), 5);
  assert.equal(l.counters().guard_syn_seen, c0.guard_syn_seen, 'an allowlisted source never goes through the guard');
  assert.equal(await l.connects(benign, 5), 5);
  const c1 = l.counters();
  assert.equal(c1.guard_syn_seen - c0.guard_syn_seen, 5);
  assert.equal(c1.guard_syn_completed - c0.guard_syn_completed, 5, 'synproxy completed the benign handshakes');

  // A spoofed flood, bounded: 200,000 SYNs, 10 s at most.
  const tracked0 = l.conntrackCount();
  const [, ok] = await Promise.all([l.hping(['-S', '-p', String(HTTP_PORT), '--rand-source', '-i', 'u1', '-c', '200000', l.victim]), l.connects(benign, 20)]);
  const c2 = l.counters();
  assert.ok(c2.guard_syn_seen - c1.guard_syn_seen >= 50_000, `the flood reached synproxy: ${c2.guard_syn_seen - c1.guard_syn_seen} SYNs`);
  assert.ok(l.conntrackCount() - tracked0 < 500, `spoofed SYNs left no conntrack state: ${l.conntrackCount()} entries`);
  assert.equal(ok, 20, 'every benign connection succeeds during the flood');

  await waitUntil('synproxy to be released', () => l.actions().includes('flood-guard-released'), 20_000, l.logs);
  assert.doesNotMatch(l.pair.must(l.ns, 'nft', ['list', 'set', 'inet', 'portwarden', 'guard_syn_ports']), new RegExp(String(HTTP_PORT)));
  assert.equal(l.pair.must(l.ns, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_loose']).trim(), looseBefore);
  assert.equal(await l.connects(benign, 3), 3, 'the port works after release');
  const released = l.logs.find((x) => x['event.action'] === 'flood-guard-released')!;
  assert.equal(released['destination.port'], String(HTTP_PORT));
  assert.match(String(released.msg), /synproxy on tcp\/8080 OFF \(the flood ended/);
});

test('unsolicited answers: UDP from 53/123 and SYN-ACKs are dropped with the guard on and not without; the host\'s own DNS query gets its answer', async () => {
  const l = lab(74);
  const [reflector] = l.sources;
  const s = labSettings();
  // On long enough for the reflections and the query below, released 2 s after the drops stop.
  l.load({ ...s, unsolicited: { ...s.unsolicited, minSeconds: 15 } });
  const guard = l.guard!;
  guard.start();
  // The test's own table, after ours (priority 0): counts what got past the guard.
  l.pair.must(l.ns, 'nft', ['-f', '-'], ['table inet pwtest {', '  counter passed_udp {}', '  counter passed_synack {}', '  chain input {', '    type filter hook input priority 0; policy accept;', '    udp sport { 53, 123 } udp dport 40000 counter name "passed_udp"', '    tcp flags & (syn | ack) == syn | ack tcp dport 40001 counter name "passed_synack"', '  }', '}', ''].join('\n'));
  const passed = () => {
    const out = l.pair.must(l.ns, 'nft', ['list', 'counters', 'table', 'inet', 'pwtest']);
    const get = (name: string) => Number(new RegExp(`counter ${name} \\{\\s*packets (\\d+)`).exec(out)?.[1] ?? NaN);
    return { udp: get('passed_udp'), synack: get('passed_synack') };
  };
  const reflect = async () => {
    await l.hping(['--udp', '-s', '53', '-k', '-p', '40000', '-i', 'u1000', '-c', '200', l.victim]);
    await l.hping(['--udp', '-s', '123', '-k', '-p', '40000', '-i', 'u1000', '-c', '200', l.victim]);
    await l.hping(['-S', '-A', '-s', '443', '-k', '-p', '40001', '-i', 'u1000', '-c', '200', l.victim]);
  };

  await reflect();
  const off = passed();
  assert.ok(off.udp >= 400 && off.synack >= 200, `without the guard the answers get through: ${JSON.stringify(off)}`);
  assert.equal(l.counters().guard_unsolicited_dropped, 0);

  // A resolver in the lab answers the host's own query: conntrack knows it, the guard lets it in.
  const server = l.pair.spawn(l.pair.attacker, process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(53,'${reflector}',()=>console.log('up'))`]);
  let up = '';
  server.stdout?.on('data', (b: Buffer) => (up += b.toString()));
  await waitUntil('the lab resolver', () => up.includes('up'), 10_000, l.logs);
  guard.onIncident(flood('reflection', l.victim));
  await waitUntil('the unsolicited drops to engage', () => l.actions().includes('flood-guard-engaged'), 10_000, l.logs);
  await reflect();
  assert.deepEqual(passed(), off, 'with the guard on nothing more got through');
  assert.ok(l.counters().guard_unsolicited_dropped >= 600, `dropped: ${l.counters().guard_unsolicited_dropped}`);

  const query = await runIn(l.ns, process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');const t=setTimeout(()=>{console.log('timeout');process.exit(1)},3000);s.on('message',m=>{clearTimeout(t);console.log('answer '+m.length);s.close()});s.send(Buffer.from('0001010000010000000000000377777706676f6f676c6503636f6d0000010001','hex'),53,'${reflector}')`]);
  assert.match(query.stdout, /answer 32/, `the host's own DNS query got its answer: ${query.stdout}${query.stderr}`);
  assert.ok(l.actions().includes('flood-guard-engaged') && !l.actions().includes('flood-guard-released'), 'the guard was on during the query');

  await waitUntil('the unsolicited drops to be released', () => l.actions().includes('flood-guard-released'), 20_000, l.logs);
  await reflect();
  assert.ok(passed().udp >= off.udp + 400, 'after release answers get through again');
});

test('IPv6: synproxy completes a benign client\'s handshakes to a guarded port, and releases', async () => {
  const l = lab(77);
  const victim6 = l.pair.plan.protected6;
  const client6 = l.pair.plan.attacker6[0];
  l.load(labSettings());
  await serveOk(l.pair, l.ns, victim6, HTTP_PORT, 64, l.logs);
  assert.deepEqual(await l.guard!.engage('synproxy', HTTP_PORT, 60, 'test'), { ok: true, action: 'engaged' });
  const c0 = l.counters();
  assert.equal(await connectsFrom(l.pair.attacker, { host: victim6, port: HTTP_PORT, from: client6, firstPort: 30000, count: 5, timeoutMs: 2000 }), 5);
  const c1 = l.counters();
  assert.equal(c1.guard_syn_seen - c0.guard_syn_seen, 5, 'the IPv6 SYNs went untracked to synproxy');
  assert.equal(c1.guard_syn_completed - c0.guard_syn_completed, 5);
  assert.deepEqual(await l.guard!.release('synproxy', HTTP_PORT, 'test'), { ok: true, action: 'released' });
  assert.equal(await connectsFrom(l.pair.attacker, { host: victim6, port: HTTP_PORT, from: client6, firstPort: 30010, count: 2, timeoutMs: 2000 }), 2);
  assert.equal(l.counters().guard_syn_seen, c1.guard_syn_seen, 'released: no SYN goes through synproxy');
});
