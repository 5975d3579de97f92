/**
 * The flood guard without a kernel: its rules as the builder renders them, the settings' refusals,
 * and the engage / extend / release decisions against recorded nft calls and counter values on an
 * injected clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { buildNftRuleset } from './nft-ruleset.js';
import { FloodGuard, type LooseSwitch } from './flood-guard.js';
import { floodGuardContribution, guardRules, rawRules, unsolicitedRules } from './flood-guard-rules.js';
import { FLOOD_GUARD_PROFILES, floodGuardSchema, type FloodGuardSettings } from './flood-guard-settings.js';
import { checkSettings } from '../model/settings-kit.js';
import type { IncidentRecord } from '../model/incident.js';

function settings(over: Partial<FloodGuardSettings> = {}): FloodGuardSettings {
  const base = structuredClone(FLOOD_GUARD_PROFILES.normal) as FloodGuardSettings;
  return { ...base, synproxy: { ...base.synproxy, onFlood: true, minSeconds: 10, quietSeconds: 5, releaseBelowPerSecond: 100 }, unsolicited: { ...base.unsolicited, mode: 'on-flood', minSeconds: 10, quietSeconds: 5 }, ...over };
}

test('the table carries guard_raw at prerouting priority raw and the jump after the allow sets and bans', () => {
  const text = buildNftRuleset({ contributions: [floodGuardContribution(settings())] });
  assert.match(text, /chain guard_raw \{\n\t\ttype filter hook prerouting priority -300; policy accept;\n\t\ttcp dport @guard_syn_ports /);
  const input = text.slice(text.indexOf('chain input'));
  assert.ok(input.indexOf('jump guard') > input.indexOf('ip6 saddr @ban6 drop'), input);
  assert.match(text, /set guard_syn_ports \{\n\t\ttype inet_service\n\t\tflags timeout/);
  // Limits that are off leave no meter, limit or rule behind.
  assert.doesNotMatch(text, /guard_conn4|guard_udp4|guard_udp_cap|guard_icmp_cap/);
  assert.deepEqual(rawRules(), [
    'tcp dport @guard_syn_ports tcp flags & (fin | syn | rst | ack) == syn iif != "lo" ip saddr != @allow4 counter name "guard_syn_seen" notrack',
    'tcp dport @guard_syn_ports tcp flags & (fin | syn | rst | ack) == syn iif != "lo" ip6 saddr != @allow6 counter name "guard_syn_seen" notrack',
  ]);
});

test('limits render per source (meters) and host-wide (named limit, return within it, drop past it)', () => {
  const rules = guardRules(settings({ connLimit: { tcpPorts: [443, 22, 443], perSourcePerSecond: 20, perSourceBurst: 40 }, udp: { perSourcePerSecond: 50, perSourceBurst: 60, globalPerSecond: 1000, globalBurst: 2000 }, icmp: { perSourcePerSecond: 0, perSourceBurst: 1, globalPerSecond: 10, globalBurst: 10 } }));
  assert.ok(rules.includes('tcp dport { 22, 443 } tcp flags & (fin | syn | rst | ack) == syn ct state new add @guard_conn4 { ip saddr limit rate over 20/second burst 40 packets } counter name "guard_conn_dropped" drop'));
  assert.ok(rules.includes('meta l4proto udp ct state new add @guard_udp6 { ip6 saddr limit rate over 50/second burst 60 packets } counter name "guard_udp_source_dropped" drop'));
  const cap = rules.indexOf('meta l4proto udp ct state new limit name "guard_udp_cap" return');
  assert.ok(cap > 0 && rules[cap + 1] === 'meta l4proto udp ct state new counter name "guard_udp_global_dropped" drop');
  assert.ok(rules.includes('icmpv6 type echo-request limit name "guard_icmp_cap" return'));
  assert.ok(!rules.some((r) => r.includes('guard_icmp4')), 'per-source ICMP off: no meter');
  assert.equal(rules[0], 'iif "lo" return');
});

test('unsolicited rules: reply-shaped packets conntrack does not know, and the configured UDP service ports', () => {
  const rules = unsolicitedRules(settings());
  assert.ok(rules.includes('tcp flags & (syn | ack) == syn | ack ct state new,invalid counter name "guard_unsolicited_dropped" drop'));
  assert.ok(rules.includes('udp sport { 19, 53, 123, 161, 389, 500, 1900, 11211 } ct state new,invalid counter name "guard_unsolicited_dropped" drop'));
  assert.ok(rules.every((r) => !r.includes('established')), 'answers conntrack knows never match');
  // `always` puts them in the table from the start; otherwise the chain starts empty.
  assert.match(buildNftRuleset({ contributions: [floodGuardContribution(settings({ unsolicited: { ...settings().unsolicited, mode: 'always' } }))] }), /chain guard_unsolicited \{\n\t\ttcp flags/);
  assert.match(buildNftRuleset({ contributions: [floodGuardContribution(settings())] }), /chain guard_unsolicited \{\n\t\}/);
});

test('the settings refuse bad values with the field named', () => {
  const bad = (over: Record<string, unknown>) => checkSettings(floodGuardSchema, { ...settings(), ...over }, 'floodGuard');
  assert.deepEqual(bad({ checkEveryMs: 5 }), { ok: false, message: 'floodGuard.checkEveryMs: must be a whole number from 100 to 60000 ms, got 5' });
  const r = bad({ synproxy: { ...settings().synproxy, wscale: 15 } });
  assert.ok(!r.ok && r.message.startsWith('floodGuard.synproxy.wscale:'), JSON.stringify(r));
  const m = bad({ unsolicited: { ...settings().unsolicited, mode: 'sometimes' } });
  assert.ok(!m.ok && /off, on-flood or always/.test(m.message), JSON.stringify(m));
  assert.ok(checkSettings(floodGuardSchema, settings(), 'floodGuard').ok);
});

/** A FloodGuard over recorded nft calls and a hand-set kernel counter. */
function rig(s: FloodGuardSettings) {
  const calls: string[] = [];
  const kernel = { guard_syn_seen: 0, guard_syn_completed: 0, guard_unsolicited_dropped: 0 };
  let now = 1_000_000;
  let loose = '1';
  const looseSwitch: LooseSwitch = { read: () => loose, write: (v) => void (loose = v) };
  const logs: { 'event.action'?: string; msg?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { 'event.action'?: string }) });
  const nft = (args: readonly string[], input?: string) => {
    if (args[0] === '-j') return Promise.resolve({ stdout: JSON.stringify({ nftables: Object.entries(kernel).map(([name, packets]) => ({ counter: { name, packets } })) }), stderr: '' });
    calls.push(input ?? args.join(' '));
    return Promise.resolve({ stdout: '', stderr: '' });
  };
  const guard = new FloodGuard({ settings: s, log, nft, loose: looseSwitch, clock: () => now });
  return { guard, calls, kernel, logs, loose: () => loose, advance: (ms: number) => void (now += ms) };
}

function incident(cls: string, port?: string): IncidentRecord {
  return { kind: 'flood', class: cls as IncidentRecord['class'], 'destination.ip': '192.0.2.1', ...(port === undefined ? {} : { 'destination.port': port }), probes: 9000, first_seen: '', last_seen: '', confidence: 1, evidence: {} };
}

test('synproxy: engaged by a SYN flood on one port, held while the kernel still counts unanswered SYNs, released after the quiet time', async () => {
  const r = rig(settings());
  assert.deepEqual(await r.guard.engage('synproxy', 80, 10, 'test'), { ok: true, action: 'engaged' });
  assert.match(r.calls[0], /add element inet portwarden guard_syn_ports \{ 80 timeout 135s \}/);
  assert.equal(r.loose(), '0', 'conntrack loose pickup off while synproxy is on');
  // 12 s of flood: 5,000 unanswered SYNs a second keep it on past its minimum.
  for (let i = 0; i < 12; i++) {
    r.advance(1000);
    r.kernel.guard_syn_seen += 5000;
    r.kernel.guard_syn_completed += 10;
    await r.guard.check();
  }
  assert.equal(r.guard.engaged().length, 1);
  // Quiet: only completed handshakes. Released once 5 s have passed under 100/s.
  for (let i = 0; i < 4; i++) {
    r.advance(1000);
    r.kernel.guard_syn_seen += 20;
    r.kernel.guard_syn_completed += 20;
    await r.guard.check();
  }
  assert.equal(r.guard.engaged().length, 1, 'not before quietSeconds');
  r.advance(1000);
  await r.guard.check();
  assert.equal(r.guard.engaged().length, 0);
  assert.match(r.calls.at(-1)!, /delete element inet portwarden guard_syn_ports \{ 80 \}/);
  assert.equal(r.loose(), '1', 'the old loose setting is back');
  const actions = r.logs.map((l) => l['event.action']);
  assert.deepEqual(actions.filter((a) => a?.startsWith('flood-guard-') && a !== 'flood-guard-conntrack-loose'), ['flood-guard-engaged', 'flood-guard-released']);
  assert.equal(r.guard.table.get('synproxy.engaged'), 1);
  assert.equal(r.guard.table.get('synproxy.released'), 1);
});

test('incidents: a SYN flood on one port engages synproxy there, a reflection flood the unsolicited drops; others and refusals do nothing', async () => {
  const r = rig(settings({ synproxy: { ...settings().synproxy, ports: [443] } }));
  r.guard.onIncident(incident('syn', 'tcp/443'));
  r.guard.onIncident(incident('syn', 'tcp/80')); // not in synproxy.ports: refused, counted
  r.guard.onIncident(incident('syn')); // many ports: nothing to guard
  r.guard.onIncident(incident('udp', 'udp/53'));
  r.guard.onIncident(incident('reflection'));
  assert.deepEqual(await r.guard.release('synproxy', 8443, 'x'), { ok: true, action: 'not-engaged' });
  assert.deepEqual(r.guard.engaged().map((e) => `${e.kind}:${String(e.port)}`).sort(), ['synproxy:443', 'unsolicited:null']);
  assert.equal(r.guard.table.get('refused'), 1);
  assert.ok(r.calls.some((c) => c.includes('add rule inet portwarden guard_unsolicited udp sport')));
  // A second incident extends, it does not engage twice.
  assert.deepEqual(await r.guard.engage('unsolicited', null, 60, 'again'), { ok: true, action: 'extended' });
  assert.equal(r.guard.table.get('unsolicited.engaged'), 1);
  await r.guard.stop();
  assert.equal(r.guard.engaged().length, 0, 'stop releases everything');
  assert.match(r.calls.at(-1)!, /^flush chain inet portwarden guard_unsolicited\n$/);
});

test('a disabled guard contributes nothing and refuses to engage', async () => {
  const r = rig(settings({ enabled: false }));
  assert.equal(r.guard.kernelRuleset(), undefined);
  const out = await r.guard.engage('synproxy', 80, 10, 'test');
  assert.equal(out.ok, false);
  assert.equal(r.calls.length, 0);
});

test('after the table was set up again, restore puts the engaged guards back into the kernel', async () => {
  const r = rig(settings());
  await r.guard.engage('synproxy', 443, 10, 'test');
  await r.guard.engage('unsolicited', null, 10, 'test');
  r.calls.length = 0;
  await r.guard.restore();
  assert.equal(r.calls.length, 2);
  assert.match(r.calls[0], /add element inet portwarden guard_syn_ports \{ 443 timeout \d+s \}/);
  assert.match(r.calls[1], /^flush chain inet portwarden guard_unsolicited\nadd rule inet portwarden guard_unsolicited /);
});
