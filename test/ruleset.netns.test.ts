/**
 * The whole enforcement table with every contributor on (enforce with forward, static drops and the
 * kernel fast path; capture's NFLOG prefilter; respond's answers), rendered once by the one builder
 * (src/kernel/ruleset.ts): it passes `nft -c -f` and loads into a real nftables in a network
 * namespace of our own, and the kernel's own listing has the contributors' rules in the required
 * order: allowlist, then answers to banned scanners, then drops, then logging.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { nflogPrefilterRules, nflogRules } from '../src/capture/nflog.js';
import { IptablesBackend } from '../src/enforce/iptables.js';
import { buildNftRuleset, type NftRulesetOptions } from '../src/enforce/nft-ruleset.js';
import { respondContribution } from '../src/respond/kernel-rules.js';
import { RESPOND_PROFILES } from '../src/respond/settings.js';
import { inlineContribution, nftInlineRuleset, NFT_TABLE } from '../src/inline/rules.js';
import { buildRuleset } from '../src/kernel/ruleset.js';

const NS = `pwruleset-${process.pid}`;
const GROUP = 7;
const respond = { ...RESPOND_PROFILES.normal, mode: 'rst' as const };
const enforce: NftRulesetOptions = {
  hooks: { input: true, forward: true },
  blockedNetworks: ['198.51.100.0/24', '2001:db8:bad::/48'],
  blockedTcpPorts: [23],
  blockedUdpPorts: [161],
  fastPath: { answersPerSecond: 5, burst: 10, banSeconds: 60 },
};
const capture = nflogRules(GROUP, { snaplen: 96 });

function nft(args: string[], input?: string): { code: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', NS, 'nft', ...args], { input, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

before(() => {
  const r = spawnSync('ip', ['netns', 'add', NS], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
after(() => {
  spawnSync('ip', ['netns', 'del', NS]);
});

/** Which contributor and phase a rule of the kernel's listing came from, by what it matches on. */
function classify(line: string): string {
  if (/@allow[46] accept$/.test(line)) return 'exempt:enforce';
  if (line === 'jump respond') return 'answer:respond';
  if (/@(fastban|ban)[46] drop$|dport \{? ?\d.* drop$|saddr \{? ?[0-9a-f:.]+\/\d+.* drop$/.test(line)) return 'drop:enforce';
  if (/add @answered[46]/.test(line)) return 'meter:enforce';
  if (new RegExp(`log group ${GROUP} snaplen 96`).test(line)) return 'log:capture';
  return `unknown: ${line}`;
}

function chainRules(chain: string): string[] {
  const listing = nft(['list', 'chain', 'inet', 'portwarden', chain]);
  assert.equal(listing.code, 0, listing.out);
  return listing.out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(table|chain|type|\})/.test(l));
}

/** Collapses runs: the order of the contributors, each named once per run. */
function runs(items: string[]): string[] {
  return items.filter((item, i) => i === 0 || items[i - 1] !== item);
}

test('every contributor on: the text passes nft -c, loads, and the kernel holds the rules in phase order', () => {
  const text = buildNftRuleset({ ...enforce, contributions: [respondContribution(respond), capture] });
  const check = nft(['-c', '-f', '-'], text);
  assert.equal(check.code, 0, check.out);
  assert.equal(nft(['list', 'tables']).out.trim(), '', 'a check installs nothing');
  const load = nft(['-f', '-'], text);
  assert.equal(load.code, 0, load.out);

  const input = chainRules('input').map(classify);
  assert.deepEqual(runs(input), ['exempt:enforce', 'answer:respond', 'drop:enforce', 'log:capture']);
  assert.equal(input.filter((r) => r === 'log:capture').length, 2);
  assert.deepEqual(runs(chainRules('output').map(classify)), ['meter:enforce', 'log:capture']);
  assert.deepEqual(runs(chainRules('forward').map(classify)), ['exempt:enforce', 'drop:enforce']);
  assert.match(chainRules('respond').join('\n'), /reject with tcp reset/);
});

test('the order is the same whatever order the contributions are wired in', () => {
  const a = buildNftRuleset({ ...enforce, contributions: [respondContribution(respond), capture] });
  const b = buildNftRuleset({ ...enforce, contributions: [capture, respondContribution(respond)] });
  assert.equal(a, b);
});

test('the older options (capture lines as prefilter, respond apart) render the very same table', () => {
  const lines = nflogPrefilterRules(GROUP, { snaplen: 96 });
  const legacy = buildNftRuleset({ ...enforce, prefilter: lines.input, prefilterOutput: lines.output, respond: respondContribution(respond) });
  assert.equal(legacy, buildNftRuleset({ ...enforce, contributions: [respondContribution(respond), capture] }));
});

test('the iptables backend takes capture\'s rules after its drops and refuses what it cannot carry', () => {
  const backend = new IptablesBackend({ contributions: [capture] });
  const text = backend.iptablesSetupText(4);
  const input = text.split('\n').filter((l) => l.startsWith('-A PORTWARDEN '));
  const firstLog = input.findIndex((l) => l.includes('-j NFLOG'));
  assert.ok(firstLog > 0 && input.slice(0, firstLog).every((l) => /-j (RETURN|DROP)$/.test(l)), input.join('\n'));
  assert.ok(input.slice(firstLog).every((l) => l.includes(`--nflog-group ${GROUP} --nflog-size 96`)), input.join('\n'));
  assert.equal(text, new IptablesBackend({ nflogGroup: GROUP, snaplen: 96 }).iptablesSetupText(4));
  assert.throws(() => new IptablesBackend({ contributions: [respondContribution(respond)] }), /iptables backend: respond's set respond4, .* cannot be declared with iptables/);
  const jumpOnly = { owner: 'respond', rules: [{ hook: 'input' as const, phase: 'answer' as const, nft: 'jump respond', iptables: { 4: ['-j RESPOND'], 6: [] } }] };
  assert.throws(() => new IptablesBackend({ contributions: [jumpOnly] }), /respond's input rule in phase answer would have to come before our drops/);
});

test('inline\'s queue rules: their own table at filter - 5, and last in any chain they share', () => {
  const settings = { queue: 100, queues: 2, cpuFanout: true, dns: true, tcpPorts: [22], forward: false };
  const text = nftInlineRuleset(settings);
  assert.match(text, new RegExp(`^table inet ${NFT_TABLE} \\{\n\tchain input \\{\n\t\ttype filter hook input priority -5; policy accept;\n`));
  assert.doesNotMatch(text, /portwarden \{|delete|flush/, 'never names the enforcement table, never deletes');
  assert.match(text, /\toif != "lo" udp dport 53 queue num 100-101 bypass,fanout\n/);
  assert.match(text, /\ttcp dport 22 tcp flags & \(syn \| ack\) == syn queue num 100-101 bypass,fanout\n/);
  // This kernel may lack nft's queue statement (CONFIG_NFT_QUEUE; inline then uses iptables), so the
  // table is not loaded here; test/inline-queues.test.ts runs the queues for real.
  const shared = buildRuleset({ name: 'portwarden', priority: -150 }, [inlineContribution(settings), capture, respondContribution(respond)]);
  assert.deepEqual(runs(shared.hooks.input.map((r) => `${r.phase}:${r.owner}`)), ['answer:respond', 'log:capture', 'queue:inline']);
});

test('capture\'s rules: all in the log phase, each with its iptables form once per watched interface', () => {
  const two = nflogRules(GROUP, { interfaces: ['veth0', 'eth1'] });
  const rules = two.rules ?? [];
  assert.ok(rules.length >= 6 && rules.every((r) => r.phase === 'log' && r.iptables !== undefined));
  for (const r of rules) {
    for (const family of [4, 6] as const) {
      const specs = r.iptables?.[family] ?? [];
      // The ICMP answers exist in one family only; every other rule in both.
      assert.ok(specs.length % 2 === 0, `${r.nft} → ${specs.join(' | ')}`);
      assert.equal(specs.filter((s) => s.startsWith('-i veth0 ') || s.startsWith('-o veth0 ')).length, specs.length / 2);
      for (const s of specs) assert.match(s, new RegExp(`-j NFLOG --nflog-group ${GROUP} --nflog-size 128$`));
    }
    assert.match(r.nft, /^(iifname|oifname) \{ "veth0", "eth1" \} /);
  }
  assert.deepEqual(rules.map((r) => [r.iptables?.[4].length, r.iptables?.[6].length]), [[2, 2], [2, 2], [2, 2], [2, 2], [4, 0], [0, 4]]);
});
