/**
 * Rules against the capture corpus: a rule file with one rule of every action (test/fixtures/rules/
 * every-action.yaml), through `analyze` (the config's rules.directory) and `portwarden rules test`,
 * on captures of the attacks each rule is written for, and on benign captures where none may fire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const RULES = join(FIXTURES, 'rules');

async function cli(args: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), errIsTerminal: false });
  return { status, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'pw-rules-'));
const config = join(dir, 'portwarden.yaml');
writeFileSync(config, `rules:\n  directory: ${RULES}\n`);
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** capture → the rulings analyze must print for it: [kind, class, rule, what it would do]. */
const CASES: [string, [string, string, string, RegExp][]][] = [
  ['lab/nmap_sA.pcap', [['scan', 'ack', 'ignore-ack-scans', /^ignore/]]],
  [
    'lab/nmap_sS.pcap',
    [
      ['scan', 'syn', 'ban-big-syn-scans', /^ban 10\.66\.0\.10 for 2h$/],
      ['rule', 'syn', 'low-port-fan-out', /^ban 10\.66\.0\.10 for 10m$/],
    ],
  ],
  ['lab/nmap_sF.pcap', [['scan', 'fin', 'escalate-fin-scans', /^ban 10\.66\.0\.10 for 1h \(longer for repeat offenders\)$/]]],
  ['lab/hping3_udp_flood.pcap', [['flood', 'udp', 'alert-udp-floods', /^alert ops, no ban$/]]],
  ['lab/nmap_sX.pcap', [['scan', 'xmas', 'respond-xmas', /^answer 10\.66\.0\.10/]]],
  ['lab/nmap_sN.pcap', [['scan', 'null', 'rate-limit-null-scans', /^rate-limit 10\.66\.0\.10 to 5 new connections\/s for 10m$/]]],
  ['public/scan_syn_small_29ports.pcap', [['scan', 'syn', '', /^$/]]],
  ['lab/benign_lab.pcap', []],
  ['public/benign_wikipedia_browse_dns.pcap', []],
];

for (const [capture, want] of CASES) {
  test(`analyze with every-action rules: ${capture} → ${want.length === 0 ? 'no incident' : want.map((w) => w[2] || `${w[0]} without a rule`).join(', ')}`, async () => {
    const r = await cli(['analyze', '--json', '--config', config, join(FIXTURES, capture)]);
    assert.equal(r.status, want.length === 0 ? 0 : 1, r.err.join('\n'));
    const records = r.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    const got = records.map((x) => [x.kind, x.class, x['rule.name'] ?? '', x['rule.action'] ?? '']);
    assert.equal(got.length, want.length, JSON.stringify(got));
    for (const [kind, cls, rule, action] of want) {
      const hit = got.find((g) => g[0] === kind && g[1] === cls && g[2] === rule && action.test(String(g[3])));
      assert.ok(hit, `${kind}/${cls} ruled by ${rule || 'no rule'} (${action}); got ${JSON.stringify(got)}`);
    }
  });
}

test('analyze: the decoy capture goes to the playbook rule, and the probe rule names the decoys it saw', async () => {
  const r = await cli(['analyze', '--json', '--config', config, join(FIXTURES, 'lab/nmap_decoy.pcap')]);
  const records = r.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  const decoy = records.find((x) => x.kind === 'decoy-scan');
  assert.equal(decoy?.['rule.name'], 'decoys-to-playbook');
  assert.equal(decoy?.['rule.action'], 'run playbook decoy-response');
  assert.ok(records.filter((x) => x.kind === 'rule').every((x) => x['rule.name'] === 'low-port-fan-out'));
});

test('rules test: per rule what matched and what it would have done, as text and JSON, on a lab and a public capture', async () => {
  const file = join(RULES, 'every-action.yaml');
  const text = await cli(['rules', 'test', file, '--pcap', join(FIXTURES, 'lab/nmap_sA.pcap')]);
  assert.equal(text.status, 1);
  assert.match(text.out.join('\n'), /rule ignore-ack-scans \(incident, .*every-action\.yaml:2\): ignore; matched 1 incidents, fired 1\n {2}would ignore: no ban, no alert: scan +ack +10\.66\.0\.10 -> 10\.66\.0\.2/);
  assert.match(text.out.join('\n'), /rule ban-big-syn-scans .*matched 0 incidents, fired 0/);

  const json = await cli(['rules', 'test', file, '--json', '--pcap', join(FIXTURES, 'public/scan_masscan_tcp_0-1000.pcap')]);
  const rows = json.out.map((l) => JSON.parse(l) as { rule: string; matched: number; fired: number; ruled: { would: string; incident: { kind: string } }[] });
  assert.equal(rows.length, 8, 'one row per rule');
  const fan = rows.find((x) => x.rule === 'low-port-fan-out')!;
  assert.ok(fan.matched > 50 && fan.fired >= 1, JSON.stringify(fan));
  assert.match(fan.ruled[0].would, /^ban .* for 10m$/);
  assert.equal(fan.ruled[0].incident.kind, 'rule');

  const benign = await cli(['rules', 'test', file, '--pcap', join(FIXTURES, 'lab/benign_lab.pcap')]);
  assert.equal(benign.status, 0, 'no rule fires on benign traffic');
  assert.match(benign.out.join('\n'), /0 incidents/);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, '- name: x\n  filter: kind ==\n  action: ignore\n');
  const refused = await cli(['rules', 'test', bad, '--pcap', join(FIXTURES, 'lab/benign_lab.pcap')]);
  assert.equal(refused.status, 2);
  assert.match(refused.err.join('\n'), /PW_ERR_RULE: .*bad\.yaml:2:18: \[0\]\.filter: expression column 8: Unexpected token: EOF/);
});

test('config check reads rules.directory as start does: a bad rule file is refused at file:line:column', async () => {
  const rulesDir = join(dir, 'rules.d');
  mkdirSync(rulesDir);
  writeFileSync(join(rulesDir, '10-good.yaml'), '- { name: ok, filter: kind == "scan", action: alert }\n');
  writeFileSync(join(rulesDir, '20-bad.yaml'), '- name: deep\n  filter: ports.all(a, ports.all(b, ports.all(c, a > 0)))\n  action: ignore\n');
  const cfg = join(dir, 'check.yaml');
  writeFileSync(cfg, `rules:\n  directory: ${rulesDir}\n`);
  const r = await cli(['config', 'check', cfg]);
  assert.equal(r.status, 2);
  assert.match(r.err.join('\n'), /PW_ERR_RULE: .*20-bad\.yaml:2:37: \[0\]\.filter: expression column 27: list macros nested 3 deep/);
});
