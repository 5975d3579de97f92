/**
 * The decision policy, as a specification: for each kind of incident what is banned, for how long,
 * what is refused and why, and how the cap on new bans per minute keeps a burst from becoming a
 * mass ban. Incidents are built as records, exactly as detect reports them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncidentRecord } from '../model/incident.js';
import { PortwardenError } from '../errors.js';
import { AddressSet, type Network } from '../net/address-set.js';
import type { Decision } from '../model/decision.js';
import type { Guard, Protection } from './lockout-guard.js';
import { banLengths, DecisionPolicy, POLICY_PROFILES, policySettings, type PolicyOptions, type PolicySettings } from './policy.js';
import { type DecideLogEvent } from '../model/decision.js';

const T0 = Date.parse('2024-05-01T12:00:00Z');
const TARGET = '198.51.100.10';

function record(over: Partial<IncidentRecord> & Pick<IncidentRecord, 'kind'>): IncidentRecord {
  return {
    class: 'syn',
    'destination.ip': TARGET,
    probes: 1000,
    first_seen: new Date(T0 - 5000).toISOString(),
    last_seen: new Date(T0).toISOString(),
    confidence: 0.99,
    evidence: { trigger: 'trw' },
    ...over,
  };
}

const scan = (source: string, over: Partial<IncidentRecord> = {}): IncidentRecord =>
  record({ kind: 'scan', 'source.ip': source, ports: { count: 1000, sample: ['tcp/21', 'tcp/22', 'tcp/23', 'tcp/25'] }, ...over });
const sweep = (source: string): IncidentRecord =>
  record({
    kind: 'sweep',
    class: 'icmp',
    'source.ip': source,
    'destination.ip': undefined,
    'destination.port': 'icmp/echo',
    hosts: { count: 256, sample: ['198.51.100.0', '198.51.100.1'] },
    probes: 256,
    evidence: { trigger: 'distinct in 1m' },
  });
const distributed = (sources: string[]): IncidentRecord =>
  record({
    kind: 'distributed-scan',
    sources,
    ports: { count: 900, sample: ['tcp/1', 'tcp/2'] },
    probes: 900,
    evidence: { trigger: 'disjoint port slices from several sources', members: sources.length },
  });
const decoy = (sources: string[]): IncidentRecord =>
  record({ kind: 'decoy-scan', sources, ports: { count: 100, sample: ['tcp/80'] }, probes: 500, evidence: { trigger: 'identical probes from several sources', candidates: sources.length } });
const flood = (over: { source?: string; distinct: number; spoofed: boolean }): IncidentRecord =>
  record({
    kind: 'flood',
    'source.ip': over.source,
    'destination.port': 'tcp/80',
    probes: 250_000,
    evidence: { trigger: 'rate', peak_packets_per_second: 50_000, distinct_sources: over.distinct, spoofed_sources: over.spoofed, sources_sample: [] },
  });

/** A guard protecting the networks given, each with its reason (what LockoutGuard answers, without a host to discover). */
function guardOf(entries: [string, string][]): Guard {
  const set = new AddressSet();
  for (const [n, r] of entries) set.add(n, r);
  return {
    protects(target: string | Network): Protection | null {
      const m = set.overlapping(target);
      return m === null ? null : { reason: m.reason, network: m.network };
    },
  };
}

const PROTECTED: [string, string][] = [
  ['192.0.2.22', 'ssh peer'],
  ['192.0.2.1', 'default gateway'],
  ['198.51.100.10', 'own address'],
  ['2001:db8:1:2::1', 'own address'],
  ['203.0.113.128/25', 'allowlist: 203.0.113.128/25 (partner)'],
];

function policy(settings: Partial<PolicySettings> = {}, options: Partial<PolicyOptions> = {}): { policy: DecisionPolicy; events: DecideLogEvent[] } {
  const events: DecideLogEvent[] = [];
  const p = DecisionPolicy.forProfile('normal', { guard: guardOf(PROTECTED), log: (e) => events.push(e), ...options }, settings);
  return { policy: p, events };
}

function brief(d: Decision): Pick<Decision, 'action' | 'targets' | 'durationSeconds' | 'refused'> {
  return { action: d.action, targets: d.targets, durationSeconds: d.durationSeconds, refused: d.refused };
}

// ---------------------------------------------------------------------------------------------------
// Every kind of incident

const KINDS: { name: string; incident: IncidentRecord; want: ReturnType<typeof brief>; says: RegExp[] }[] = [
  {
    name: 'a scan bans its source',
    incident: scan('203.0.113.9'),
    want: { action: 'ban', targets: ['203.0.113.9'], durationSeconds: 3600, refused: [] },
    says: [/^SYN port scan from 203\.0\.113\.9 against 198\.51\.100\.10: 1000 ports \(tcp\/21, tcp\/22, tcp\/23, …\), 1000 probes, trigger: trw\. /, /Banned 203\.0\.113\.9 for 1h \(until 2024-05-01 13:00 UTC\)\.$/],
  },
  {
    name: 'a sweep bans its source',
    incident: sweep('203.0.113.9'),
    want: { action: 'ban', targets: ['203.0.113.9'], durationSeconds: 3600, refused: [] },
    says: [/^ICMP sweep from 203\.0\.113\.9 of icmp\/echo: 256 hosts \(198\.51\.100\.0, 198\.51\.100\.1, …\), 256 probes, trigger: distinct in 1m\./],
  },
  {
    name: 'a distributed scan bans each member',
    incident: distributed(['203.0.113.1', '203.0.113.2', '2001:db8:9::7']),
    want: { action: 'ban', targets: ['203.0.113.1', '203.0.113.2', '2001:db8:9::7'], durationSeconds: 3600, refused: [] },
    says: [/^Distributed SYN scan against 198\.51\.100\.10 by 3 sources/, /Banned 203\.0\.113\.1, 203\.0\.113\.2, 2001:db8:9::7 for 1h \(until 2024-05-01 13:00 UTC\)/],
  },
  {
    name: 'a decoy scan is an alert naming every candidate, none banned',
    incident: decoy(['203.0.113.1', '203.0.113.2', '203.0.113.3', '10.9.9.9', '2001:db8:9::7']),
    want: { action: 'alert', targets: [], durationSeconds: null, refused: [] },
    says: [/^Decoy SYN scan against 198\.51\.100\.10 from 5 candidate sources/, /Alert only: one of the 5 candidates is the real scanner and the others are spoofed decoys, so none is banned \(candidates: 203\.0\.113\.1, 203\.0\.113\.2, 203\.0\.113\.3, 10\.9\.9\.9, 2001:db8:9::7\)\.$/],
  },
  {
    name: 'a flood from one named source bans it, briefly',
    incident: flood({ source: '203.0.113.9', distinct: 1, spoofed: false }),
    want: { action: 'ban', targets: ['203.0.113.9'], durationSeconds: 600, refused: [] },
    says: [/^SYN flood against 198\.51\.100\.10 tcp\/80 from 203\.0\.113\.9: 250000 packets, peak 50000\/s, trigger: rate\. Banned 203\.0\.113\.9 for 10m \(until 2024-05-01 12:10 UTC\)\.$/],
  },
  {
    name: 'a flood from spoofed sources is an alert, never bans',
    incident: flood({ distinct: 40_000, spoofed: true }),
    want: { action: 'alert', targets: [], durationSeconds: null, refused: [] },
    says: [/from 40000 sources \(spoofed\)/, /Alert only: the sources are spoofed/],
  },
  {
    name: 'a flood from a few unnamed sources is an alert',
    incident: flood({ distinct: 3, spoofed: false }),
    want: { action: 'alert', targets: [], durationSeconds: null, refused: [] },
    says: [/Alert only: the flood names no single source to ban\.$/],
  },
  {
    name: 'an idle scan is an alert: its zombie lent its address and is never banned',
    incident: scan('192.0.2.20', { 'source.ip': undefined, evidence: { trigger: 'trw', idle_scan: true, zombie: '192.0.2.20' } }),
    want: { action: 'alert', targets: [], durationSeconds: null, refused: [] },
    says: [/Alert only: an idle scan: 192\.0\.2\.20 is a zombie whose address the real scanner put on its probes, so it is not banned\.$/],
  },
  {
    name: 'a reflection flood is an alert, never bans of its reflectors, even one named as a source',
    incident: { ...flood({ source: '203.0.113.53', distinct: 1, spoofed: false }), class: 'reflection' },
    want: { action: 'alert', targets: [], durationSeconds: null, refused: [] },
    says: [/^Reflection flood against 198\.51\.100\.10/, /Alert only: the reflectors are real servers answering requests forged in the target's name, so none is banned\.$/],
  },
  {
    name: 'an IPv6 scanner is banned by its address (ipv6Prefix 128)',
    incident: scan('2001:db8:5:6::99'),
    want: { action: 'ban', targets: ['2001:db8:5:6::99'], durationSeconds: 3600, refused: [] },
    says: [/Banned 2001:db8:5:6::99 for 1h \(until/],
  },
  {
    name: 'an IPv4-mapped source is banned as IPv4',
    incident: scan('::ffff:203.0.113.9'),
    want: { action: 'ban', targets: ['203.0.113.9'], durationSeconds: 3600, refused: [] },
    says: [],
  },
];

for (const row of KINDS) {
  test(`normal profile: ${row.name}`, () => {
    const { policy: p } = policy();
    const d = p.decide(row.incident, T0);
    assert.deepEqual(brief(d), row.want);
    assert.equal(d.incident, row.incident);
    assert.deepEqual(d.bans, row.want.targets.map((t) => ({ target: t, timeoutSeconds: row.want.durationSeconds })));
    for (const re of row.says) assert.match(d.reason, re);
  });
}

test('ban durations per profile and kind (seconds; 0 alerts only)', () => {
  const want = {
    normal: { scan: 3600, sweep: 3600, 'distributed-scan': 3600, 'decoy-scan': 0, flood: 600 },
    aggressive: { scan: 21600, sweep: 21600, 'distributed-scan': 21600, 'decoy-scan': 0, flood: 1800 },
    paranoid: { scan: 86400, sweep: 86400, 'distributed-scan': 86400, 'decoy-scan': 0, flood: 3600 },
  };
  for (const profile of ['normal', 'aggressive', 'paranoid'] as const) {
    assert.deepEqual(POLICY_PROFILES[profile].banSeconds, want[profile], profile);
    const p = DecisionPolicy.forProfile(profile, { guard: guardOf([]), log: () => {} });
    const d = p.decide(scan('203.0.113.9'), T0);
    assert.equal(d.durationSeconds, want[profile].scan);
    assert.equal(p.decide(flood({ source: '203.0.113.10', distinct: 1, spoofed: false }), T0).durationSeconds, want[profile].flood);
  }
  // A kind set to 0 alerts only.
  const { policy: p } = policy({ banSeconds: { ...POLICY_PROFILES.normal.banSeconds, sweep: 0 } });
  const d = p.decide(sweep('203.0.113.9'), T0);
  assert.equal(d.action, 'alert');
  assert.match(d.reason, /Alert only: the normal profile only alerts on sweep incidents\.$/);
});

// ---------------------------------------------------------------------------------------------------
// The lockout guard

test('the guard refuses protected sources, each listed and logged with why', () => {
  const { policy: p, events } = policy();
  const d = p.decide(scan('192.0.2.22'), T0);
  assert.deepEqual(brief(d), { action: 'alert', targets: [], durationSeconds: null, refused: [{ target: '192.0.2.22', why: 'ssh peer' }] });
  assert.match(d.reason, /Alert only; not banned: 192\.0\.2\.22 \(ssh peer\)\.$/);

  const members = ['203.0.113.1', '192.0.2.1', '203.0.113.130', '198.51.100.10', '203.0.113.2', 'not-an-ip'];
  const d2 = p.decide(distributed(members), T0);
  assert.equal(d2.action, 'ban');
  assert.deepEqual(d2.targets, ['203.0.113.1', '203.0.113.2']);
  assert.deepEqual(
    d2.refused.map((r) => [r.target, r.why.replace(/ \(.*/, '')]),
    [
      ['192.0.2.1', 'default gateway'],
      ['203.0.113.130', 'allowlist: 203.0.113.128/25'],
      ['198.51.100.10', 'own address'],
      ['not-an-ip', 'not an IP address'],
    ],
  );
  assert.match(d2.reason, /Banned 203\.0\.113\.1, 203\.0\.113\.2 for 1h \(until 2024-05-01 13:00 UTC\); not banned: 192\.0\.2\.1 \(default gateway\); 203\.0\.113\.130 \(allowlist: 203\.0\.113\.128\/25 \(partner\)\); 198\.51\.100\.10 \(own address\); not-an-ip/);
  assert.deepEqual(
    events.map((e) => [e['event.action'], e['source.ip'], e['rule.name']]),
    [
      ['ban-refused', '192.0.2.22', 'scan'],
      ['ban-refused', '192.0.2.1', 'distributed-scan'],
      ['ban-refused', '203.0.113.130', 'distributed-scan'],
      ['ban-refused', '198.51.100.10', 'distributed-scan'],
      ['bad-source', 'not-an-ip', 'distributed-scan'],
    ],
  );
  assert.equal(p.stats.refused, 4);
});

test('IPv6 by prefix: ipv6Prefix 64 bans the /64; a /64 holding a protected address falls back to the address alone', () => {
  const { policy: p } = policy({ ipv6Prefix: 64 });
  assert.deepEqual(brief(p.decide(scan('2001:db8:5:6::99'), T0)), { action: 'ban', targets: ['2001:db8:5:6::/64'], durationSeconds: 3600, refused: [] });
  // Two members of one /64 are one ban.
  assert.deepEqual(p.decide(distributed(['2001:db8:7:7::1', '2001:db8:7:7::2', '2001:db8:7:8::1']), T0).targets, ['2001:db8:7:7::/64', '2001:db8:7:8::/64']);
  const d = p.decide(scan('2001:db8:1:2::66'), T0);
  assert.deepEqual(brief(d), {
    action: 'ban',
    targets: ['2001:db8:1:2::66'],
    durationSeconds: 3600,
    refused: [{ target: '2001:db8:1:2::/64', why: 'own address 2001:db8:1:2::1' }],
  });
  // The escalation hook may widen a repeat offender to its /64 while others stay single addresses.
  const { policy: q } = policy({}, { ipv6PrefixFor: (a) => (a === '2001:db8:5:6::99' ? 64 : 128) });
  assert.deepEqual(q.decide(scan('2001:db8:5:6::99'), T0).targets, ['2001:db8:5:6::/64']);
  assert.deepEqual(q.decide(scan('2001:db8:5:6::98'), T0).targets, ['2001:db8:5:6::98']);
});

test('the escalation hook sets each target\'s ban length; the decision keeps the profile\'s', () => {
  const repeat = new Set(['203.0.113.1']);
  const { policy: p } = policy({}, { durationFor: (t, base) => (repeat.has(t) ? (base ?? 0) * 4 : base) });
  const d = p.decide(distributed(['203.0.113.1', '203.0.113.2']), T0);
  assert.equal(d.durationSeconds, 3600);
  assert.deepEqual(d.bans, [
    { target: '203.0.113.1', timeoutSeconds: 14400 },
    { target: '203.0.113.2', timeoutSeconds: 3600 },
  ]);
  const { policy: q } = policy({}, { durationFor: () => null });
  assert.deepEqual(q.decide(scan('203.0.113.5'), T0).bans, [{ target: '203.0.113.5', timeoutSeconds: null }]);
});

// ---------------------------------------------------------------------------------------------------
// The cap on new bans per minute: never mass bans

function burst(p: DecisionPolicy, sources: string[], spreadMs = 30_000): Decision[] {
  return sources.map((s, i) => p.decide(scan(s), T0 + Math.floor((i * spreadMs) / sources.length)));
}

function kernelEntries(decisions: Decision[]): Set<string> {
  const out = new Set<string>();
  for (const d of decisions) for (const b of d.bans) out.add(b.target);
  return out;
}

function count(decisions: Decision[]): Record<string, number> {
  const c: Record<string, number> = { ban: 0, alert: 0, ignore: 0 };
  for (const d of decisions) c[d.action]++;
  return c;
}

test('200 scans from one /24 within a minute: 60 bans, then the /24 as one prefix ban, then nothing new', () => {
  const { policy: p, events } = policy();
  const decisions = burst(p, Array.from({ length: 200 }, (_, i) => `10.20.30.${i + 1}`));
  const entries = kernelEntries(decisions);
  assert.equal(entries.size, 61, 'kernel entries');
  assert.ok(entries.has('10.20.30.0/24'));
  assert.deepEqual(count(decisions), { ban: 61, alert: 0, ignore: 139 });
  assert.deepEqual(decisions[60].targets, ['10.20.30.0/24']);
  assert.match(decisions[60].reason, /Banned 10\.20\.30\.0\/24 for 1h \(until 2024-05-01 13:00 UTC\); 10\.20\.30\.61 widened to 10\.20\.30\.0\/24 \(new-ban cap of 60 per minute reached\)\.$/);
  assert.match(decisions[61].reason, /Nothing new; already covered: 10\.20\.30\.62 by the ban of 10\.20\.30\.0\/24\.$/);
  assert.deepEqual(p.bansInWindow(T0 + 30_000), { newBans: 60, widened: 1 });
  assert.equal(events.filter((e) => e['event.action'] === 'ban-widened').length, 1);
  assert.deepEqual(p.stats, { decisions: 200, newBans: 60, widenedBans: 1, capped: 0, refused: 0 });
  const registered: Record<string, number> = {};
  p.counterGroup.forEach((name, value) => (registered[name] = value));
  assert.deepEqual(registered, { 'decide.decisions': 200, 'decide.new_bans': 60, 'decide.widened_bans': 1, 'decide.capped': 0, 'decide.refused': 0 }, 'the same counts, as the registry reads them');
});

test('200 scans from 200 different /24s within a minute: 60 bans, 140 alerts saying the cap was reached', () => {
  const { policy: p, events } = policy();
  const decisions = burst(p, Array.from({ length: 200 }, (_, i) => `10.${i}.${(i * 7) % 256}.9`));
  assert.equal(kernelEntries(decisions).size, 60, 'kernel entries');
  assert.deepEqual(count(decisions), { ban: 60, alert: 140, ignore: 0 });
  const capped = decisions[60];
  assert.deepEqual(capped.refused, [{ target: '10.60.164.9', why: 'new-ban cap reached (60 new bans in the last 60 s)' }]);
  assert.match(capped.reason, /Alert only; 10\.60\.164\.9 not banned: new-ban cap of 60 per minute reached\.$/);
  assert.equal(events.filter((e) => e['event.action'] === 'ban-capped').length, 140);
  assert.equal(p.stats.capped, 140);
});

test('past the cap, a second source of a new /24 widens it; widened bans have their own cap', () => {
  const { policy: p } = policy({ maxNewBansPerMinute: 5, maxWidenedBansPerMinute: 2 });
  burst(p, ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5'], 1000);
  const step = (source: string, atMs: number) => p.decide(scan(source), T0 + atMs);
  assert.equal(step('10.2.0.1', 2000).action, 'alert', 'first of a new /24: no ban');
  assert.deepEqual(step('10.2.0.2', 2100).targets, ['10.2.0.0/24'], 'second of it: one prefix ban');
  assert.equal(step('10.2.0.3', 2200).action, 'ignore', 'covered');
  assert.deepEqual(step('10.1.0.9', 2300).targets, ['10.1.0.0/24'], 'a /24 with bans in the window widens at once');
  step('10.3.0.1', 2400);
  const d = step('10.3.0.2', 2500);
  assert.equal(d.action, 'alert', 'widened-ban cap reached');
  assert.match(d.refused[0].why, /and the widened-ban cap too \(2 in the last 60 s\)/);
  // The window slides: a minute later bans are new again, and widened prefixes still cover their sources.
  assert.deepEqual(step('10.9.0.1', 62_500).targets, ['10.9.0.1']);
  assert.equal(step('10.2.0.77', 62_600).action, 'ignore');
  p.forget('10.2.0.0/24');
  assert.deepEqual(step('10.2.0.77', 62_700).targets, ['10.2.0.77']);
});

test('widening never covers a protected address: the source is capped instead, and says why', () => {
  const { policy: p } = policy({ maxNewBansPerMinute: 1 });
  p.decide(scan('192.0.2.200'), T0);
  const d = p.decide(scan('192.0.2.201'), T0 + 1);
  assert.equal(d.action, 'alert');
  assert.deepEqual(d.refused, [
    { target: '192.0.2.201', why: 'new-ban cap reached (1 new bans in the last 60 s); widening to 192.0.2.0/24 refused: ssh peer 192.0.2.22' },
  ]);
});

test('a distributed scan with 100 members past nothing: 60 banned, 40 capped, one decision', () => {
  const { policy: p } = policy();
  const d = p.decide(distributed(Array.from({ length: 100 }, (_, i) => `10.${100 + i}.0.1`)), T0);
  assert.equal(d.action, 'ban');
  assert.equal(d.targets.length, 60);
  assert.equal(d.refused.length, 40);
  assert.match(d.reason, /; 10\.160\.0\.1, 10\.161\.0\.1, .*, … \(40 in all\) not banned: new-ban cap of 60 per minute reached\.$/);
});

test('banning the same source again within the minute is no new ban', () => {
  const { policy: p } = policy({ maxNewBansPerMinute: 2 });
  for (let i = 0; i < 10; i++) assert.deepEqual(p.decide(scan('203.0.113.9'), T0 + i).targets, ['203.0.113.9']);
  assert.deepEqual(p.bansInWindow(T0 + 10), { newBans: 1, widened: 0 });
  assert.deepEqual(p.decide(scan('203.0.113.77'), T0 + 11).targets, ['203.0.113.77']);
});

test('a spoofed flood storm never bans: 1,000 flood incidents, 0 kernel entries', () => {
  const { policy: p } = policy();
  const decisions = Array.from({ length: 1000 }, (_, i) => p.decide(flood({ distinct: 10_000 + i, spoofed: true }), T0 + i));
  assert.equal(kernelEntries(decisions).size, 0);
  assert.deepEqual(count(decisions), { ban: 0, alert: 1000, ignore: 0 });
});

// ---------------------------------------------------------------------------------------------------
// Settings

test('settings out of range are refused with PW_ERR_DECIDE_INPUT naming the field', () => {
  const bad: [Partial<PolicySettings>, RegExp][] = [
    [{ banSeconds: { ...POLICY_PROFILES.normal.banSeconds, 'decoy-scan': 60 } }, /decide\.banSeconds\.decoy-scan: must be 0/],
    [{ banSeconds: { ...POLICY_PROFILES.normal.banSeconds, scan: -1 } }, /decide\.banSeconds\.scan: must be a whole number from 0/],
    [{ ipv6Prefix: 32 }, /decide\.ipv6Prefix: must be a whole number from 48 to 128, got 32/],
    [{ maxNewBansPerMinute: 0 }, /decide\.maxNewBansPerMinute/],
    [{ widenPrefix4: 8 }, /decide\.widenPrefix4/],
    [{ widenPrefix6: 129 }, /decide\.widenPrefix6/],
    [{ maxWidenedBansPerMinute: 1.5 }, /decide\.maxWidenedBansPerMinute/],
  ];
  for (const [over, re] of bad) {
    assert.throws(() => policySettings('normal', over), (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_DECIDE_INPUT' && re.test(err.message));
  }
  assert.ok(Object.isFrozen(policySettings('paranoid', { ipv6Prefix: 64 })));
  assert.equal(policySettings('paranoid', { ipv6Prefix: 64 }).banSeconds.scan, 86400);
});

test('a ban states its real length and end: an escalated 365,574 s is 4d 5h, not "1 d"', () => {
  assert.equal(banLengths([{ target: '203.0.113.9', timeoutSeconds: 365_574 }], 0), '203.0.113.9 for 4d 5h (until 1970-01-05 05:32 UTC)');
  assert.equal(
    banLengths([{ target: 'a', timeoutSeconds: 3600 }, { target: 'b', timeoutSeconds: null }, { target: 'c', timeoutSeconds: 3600 }], 0),
    'a, c for 1h (until 1970-01-01 01:00 UTC); b permanently',
  );
});
