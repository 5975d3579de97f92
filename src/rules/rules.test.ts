import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors.js';
import { parseConfigText } from '../config/load.js';
import { Packet } from '../model/packet.js';
import { PortFamily, type IncidentRecord } from '../model/incident.js';
import { ProbeClass } from '../model/probe.js';
import { compileFilter, FilterError } from './cel.js';
import { compileRules, RuleEngine } from './engine.js';
import { compileProbePredicate } from './probe-filter.js';
import { ProbeView } from './probe-view.js';
import { parseRuleText } from './rule-file.js';
import { DEFAULT_RULE_LIMITS } from './settings.js';
import { LeakyBuckets } from './bucket.js';
import { incidentContext } from './fields.js';

const L = DEFAULT_RULE_LIMITS;

function ruleError(text: string): ConfigError {
  try {
    parseRuleText(text, 'r.yaml', L);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'PW_ERR_RULE');
    return err;
  }
  assert.fail('the rule file was accepted');
}

function refused(expression: string, on: 'incident' | 'probe' = 'incident'): FilterError {
  try {
    compileFilter(expression, on, L);
  } catch (err) {
    assert.ok(err instanceof FilterError, `not a FilterError: ${String(err)}`);
    return err;
  }
  assert.fail(`accepted: ${expression.slice(0, 80)}`);
}

function scan(over: Partial<IncidentRecord> = {}): IncidentRecord {
  return {
    kind: 'scan',
    class: 'syn',
    'source.ip': '203.0.113.5',
    'destination.ip': '198.51.100.2',
    ports: { count: 40, sample: ['tcp/22', 'tcp/80', 'tcp/443'] },
    probes: 40,
    first_seen: '2026-12-06T10:00:00.000Z',
    last_seen: '2026-12-06T10:00:05.000Z',
    confidence: 0.99,
    evidence: {},
    ...over,
  };
}

test('a bad expression is refused at file:line:column of the character, with the reason', () => {
  const err = ruleError(['- name: a', '  filter: kind == "scan" &&', '  action: ignore', '- name: b', "  filter: 'counts.probes + \"x\" > 1'", '  action: ignore', '- name: c', '  filter: |', '    kind == "scan" &&', '      nosuch > 2', '  action: ignore'].join('\n'));
  const p = err.problems;
  assert.equal(p.length, 3);
  // 'kind == "scan" &&' ends at column 27 of line 2: the parser wants more there.
  assert.deepEqual([p[0].line, p[0].column, p[0].field], [2, 28, '[0].filter']);
  assert.match(p[0].message, /expression column 18: Unexpected token: EOF/);
  assert.equal(p[1].line, 5);
  assert.equal(p[1].column, 12, 'inside the quotes, at the start of the expression');
  assert.match(p[1].message, /no such overload/);
  assert.deepEqual([p[2].line, p[2].column], [10, 7], 'in a block scalar: the line and column of the unknown name');
  assert.match(p[2].message, /nosuch/);
  assert.match(err.message, /^r\.yaml:2:28: \[0\]\.filter: expression column 18/);
});

test('structure problems are named: unknown keys, a bucket without capacity, a field probe rules lack, a bad action, a duplicate name', () => {
  const err = ruleError(
    [
      '- name: a',
      '  filter: kind == "scan"',
      '  groupby: source',
      '  leakspeed: 10s',
      '  action: { ban: { duration: forever } }',
      '- name: a',
      '  on: probe',
      '  filter: port == 22',
      '  groupby: country',
      '  capacity: 3',
      '  leakspeed: 1m',
      '  action: { explode: {} }',
      '  colour: red',
    ].join('\n'),
  );
  const text = err.message;
  assert.match(text, /r\.yaml:1:\d+: \[0\]\.capacity: a leaky bucket .* needs a capacity/);
  assert.match(text, /r\.yaml:5:\d+: \[0\]\.action\.ban\.duration: must be a duration/);
  assert.match(text, /r\.yaml:9:\d+: \[1\]\.groupby: country is not a field of probe rules/);
  assert.match(text, /unknown action "explode"/);
  assert.match(text, /unknown key "colour"/);
});

test('CEL abuse is refused cleanly: prototype access, huge and deep expressions, regular expressions, nested macros, non-boolean filters', () => {
  assert.match(refused('kind.__proto__ == ""').message, /Cannot index type 'string'/);
  assert.match(refused('kind.constructor == ""').message, /Cannot index type 'string'/);
  assert.match(refused('counts.__proto__ == 1 || constructor == 1').message, /constructor|Unknown variable|undeclared/i);
  const huge = Array.from({ length: 5000 }, (_, i) => `counts.probes == ${i}`).join(' || ');
  const e1 = refused(huge);
  assert.match(e1.message, /at most 4000 are allowed/);
  // Under the length cap, the node cap still stops a wide tree before the parser recurses deeply.
  const wide = compileWith({ ...L, maxExpressionLength: 1_000_000 }, huge);
  assert.match(wide.message, /maxAstNodes/);
  const deep = `${'('.repeat(2000)}true${')'.repeat(2000)}`;
  assert.match(refused(deep).message, /maxDepth|at most/);
  assert.match(compileWith({ ...L, maxExpressionLength: 1_000_000 }, `${'!'.repeat(5000)}true`).message, /maxDepth|maxAstNodes/);
  assert.match(refused('tool.matches("(a+)+$")').message, /regular expressions are not allowed/);
  assert.match(refused('ports.all(a, ports.all(b, ports.all(c, a + b + c > 0)))').message, /macros nested 3 deep/);
  assert.match(refused('counts.probes').message, /must be true or false/);
  assert.match(refused('sources.size() > 1', 'probe').message, /sources/, 'incident-only fields are unknown to probe rules');
  // The two nested macros allowed run in bounded time over the bounded lists a record has.
  const ok = compileFilter('ports.exists(a, ports.exists(b, a != b && a + b == 102))', 'incident', L);
  assert.equal(ok.evaluate(incidentContext(scan())), true);
});

function compileWith(limits: typeof L, expression: string): FilterError {
  try {
    compileFilter(expression, 'incident', limits);
  } catch (err) {
    assert.ok(err instanceof FilterError, String(err));
    return err;
  }
  assert.fail('accepted');
}

test('incident fields: ports, country, asn, feeds, tool and counts from the record', () => {
  const r = scan({ 'source.geo.country_iso_code': 'NL', 'source.as.number': 64500, 'threat.feeds': ['spamhaus-drop'], 'threat.software.name': 'nmap' });
  const yes = (e: string) => assert.equal(compileFilter(e, 'incident', L).evaluate(incidentContext(r)), true, e);
  yes('22 in ports && "tcp/443" in services && counts.ports == 40 && counts.sources == 1');
  yes('country == "NL" && asn == 64500 && "spamhaus-drop" in feeds && tool == "nmap"');
  yes('source == "203.0.113.5" && destination.startsWith("198.51.100.") && confidence > 0.9 && kind == "scan" && class == "syn"');
});

test('incident rules: the first that fires rules; a bucket fires on overflow; a rule-made incident keeps its maker', () => {
  const placed = parseRuleText(
    [
      '- name: quiet-lab',
      '  filter: source == "203.0.113.9"',
      '  action: ignore',
      '- name: third-scan-bans',
      '  filter: kind == "scan"',
      '  groupby: source',
      '  capacity: 2',
      '  leakspeed: 1h',
      '  action: { ban: { duration: 1d } }',
      '- name: scans-alert',
      '  filter: kind == "scan"',
      '  action: { alert: { channels: [ops] } }',
      '- name: fan',
      '  on: probe',
      '  filter: port == 22',
      '  action: respond',
    ].join('\n'),
    'r.yaml',
    L,
  );
  const engine = new RuleEngine(compileRules(placed, L), L);
  assert.deepEqual(engine.rule(scan({ 'source.ip': '203.0.113.9' })), { rule: 'quiet-lab', action: { type: 'ignore' } });
  assert.equal(engine.rule(scan())?.rule, 'scans-alert');
  assert.equal(engine.rule(scan())?.rule, 'scans-alert');
  assert.deepEqual(engine.rule(scan()), { rule: 'third-scan-bans', action: { type: 'ban', durationSeconds: 86_400, escalate: false } });
  assert.equal(engine.rule(scan({ kind: 'sweep' })), null);
  const made = { ...scan({ kind: 'rule' }), evidence: { rule: 'fan' } };
  assert.deepEqual(engine.rule(made), { rule: 'fan', action: { type: 'respond' } });
  assert.equal(engine.stats.get('third-scan-bans')?.fired, 1);
});

function probePacket(src: string, dst: number, port: number): Packet {
  const p = new Packet();
  p.ipVersion = 4;
  const [a, b, c, d] = src.split('.').map(Number);
  p.src4 = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  p.dst4 = dst;
  p.dstPort = port;
  return p;
}

test('the fast path agrees with CEL on every probe, and probe buckets make one incident per overflow, then stay silent', () => {
  const filters = [
    'port == 22 && class == "syn"',
    'port in [22, 80, 443] || protocol == "udp"',
    '!(class == "syn") && port >= 1024',
    'source == "203.0.113.5" && destination != "198.51.100.2"',
    '1024 > port && kind == "probe"',
    'class == "nonsense" || source == "not-an-address"',
  ];
  const view = new ProbeView();
  const probes: [string, number, number, number][] = [
    ['203.0.113.5', 0xc6336402, 22, ProbeClass.syn],
    ['203.0.113.5', 0xc6336403, 80, ProbeClass.connect],
    ['192.0.2.1', 0xc6336402, 53, ProbeClass.udp],
    ['192.0.2.1', 0xc6336402, 8080, ProbeClass.fin],
  ];
  for (const f of filters) {
    const compiled = compileFilter(f, 'probe', L);
    const fast = compileProbePredicate(compiled.ast);
    assert.ok(fast !== null, `${f} has a fast form`);
    for (const [src, dst, port, cls] of probes) {
      const family = cls === ProbeClass.udp ? PortFamily.udp : PortFamily.tcp;
      view.set(probePacket(src, dst, port), cls, family + port, 0);
      assert.equal(fast(view), compiled.evaluate(view.context()), `${f} on ${src}->${port}`);
    }
  }
  assert.equal(compileProbePredicate(compileFilter('source.startsWith("203.")', 'probe', L).ast), null, 'anything else goes to CEL');

  const placed = parseRuleText(['- name: fan', '  on: probe', '  filter: class == "syn"', '  groupby: source', '  distinct: port', '  capacity: 3', '  leakspeed: 10s', '  action: ban'].join('\n'), 'r.yaml', L);
  const engine = new RuleEngine(compileRules(placed, L), L, { keepMade: true });
  let t = 1_000_000;
  for (const port of [1, 2, 2, 2, 3, 4, 5, 6, 7, 8]) engine.onProbe(probePacket('203.0.113.5', 0xc6336402, port), ProbeClass.syn, PortFamily.tcp + port, (t += 10));
  assert.equal(engine.made.length, 1, 'distinct ports 1..4 overflow capacity 3 once; then the blackhole (3 × 10 s) keeps it quiet');
  const r = engine.made[0];
  assert.equal(r.kind, 'rule');
  assert.equal(r['source.ip'], '203.0.113.5');
  assert.deepEqual(r.ports, { count: 4, sample: ['tcp/1', 'tcp/2', 'tcp/3', 'tcp/4'] });
  assert.equal(r.evidence.rule, 'fan');
  t += 31_000;
  for (const port of [11, 12, 13, 14]) engine.onProbe(probePacket('203.0.113.5', 0xc6336402, port), ProbeClass.syn, PortFamily.tcp + port, (t += 10));
  assert.equal(engine.made.length, 2, 'after the blackhole the group can overflow again');
});

test('leaky buckets leak in packet time and stay within maxBuckets', () => {
  const b = new LeakyBuckets(2);
  assert.equal(b.pour('a', 1, 1000, 0, null, null)?.overflowed, false);
  assert.equal(b.pour('a', 1, 1000, 5000, null, null)?.overflowed, false, 'the first unit leaked away');
  assert.equal(b.pour('a', 1, 1000, 5100, null, null)?.overflowed, true);
  b.pour('b', 5, 1000, 0, null, null);
  b.pour('c', 5, 1000, 0, null, null);
  b.pour('d', 5, 1000, 0, null, null);
  assert.equal(b.size, 2, "'a' overflowed and is gone; 'd' dropped 'b', the oldest");
  assert.equal(b.dropped, 1);
});

test('inline rules in the config: a bad filter is refused at its file line with the expression column', () => {
  const text = ['rules:', '  inline:', '    - name: a', '      filter: kind == ', '      action: ignore'].join('\n');
  assert.throws(
    () => parseConfigText(text, 'pw.yaml'),
    (err: unknown) => err instanceof ConfigError && /pw\.yaml:4:\d+: rules\.inline\[0\]\.filter: expression column 8: Unexpected token: EOF/.test(err.message),
  );
  const ok = parseConfigText(['rules:', '  inline:', '    - { name: a, filter: kind == "scan", action: { ban: { duration: 90m } } }'].join('\n'), 'pw.yaml');
  assert.deepEqual(ok.rules.inline[0].action, { type: 'ban', durationSeconds: 5400, escalate: false });
});
