/**
 * The kernel side of responses: for every mode the table (with the capture-free minimum) loads into a
 * real nftables in a network namespace of our own, the respond chain comes right after the allow sets,
 * before every drop, and a reload's replacement text applies over it in one transaction.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildNftRuleset } from '../enforce/nft-ruleset.js';
import { replaceRulesText, respondContribution } from './kernel-rules.js';
import { RESPOND_PROFILES, RESPONSE_MODES, type RespondSettings } from './settings.js';

const NS = `pwresp-${process.pid}`;

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

function settings(mode: RespondSettings['mode']): RespondSettings {
  return { ...RESPOND_PROFILES.normal, mode, maxPerSecond: 7, burst: 9 };
}

for (const mode of RESPONSE_MODES) {
  test(`${mode}: the table loads, and the respond chain is jumped to after the allow sets, before any drop`, () => {
    const s = settings(mode);
    const text = buildNftRuleset({ fastPath: { answersPerSecond: 5, burst: 5, banSeconds: 60 }, respond: respondContribution(s) });
    const load = nft(['-f', '-'], text);
    assert.equal(load.code, 0, load.out);
    const input = nft(['list', 'chain', 'inet', 'portwarden', 'input']).out.split('\n').map((l) => l.trim());
    const jump = input.indexOf('jump respond');
    assert.ok(jump > input.findIndex((l) => l.startsWith('ip6 saddr @allow6 accept')), input.join('\n'));
    assert.ok(jump < input.findIndex((l) => l.endsWith('drop')), input.join('\n'));
    const chain = nft(['list', 'chain', 'inet', 'portwarden', 'respond']).out;
    if (mode === 'drop') assert.doesNotMatch(chain, /reject|log group/);
    if (mode === 'rst') assert.match(chain, /limit name "respond_cap" counter name "respond_answered" reject with tcp reset/);
    if (mode === 'try-harder' || mode === 'syn-ack') assert.match(chain, new RegExp(`log group ${s.nflogGroup} snaplen 128 drop`));
    assert.match(nft(['list', 'limit', 'inet', 'portwarden', 'respond_cap']).out, /rate 7\/second burst 9 packets/);
  });
}

test('a reload replaces the rules and the cap in place, the answered scanners staying', () => {
  const before = settings('rst');
  assert.equal(nft(['-f', '-'], buildNftRuleset({ respond: respondContribution(before) })).code, 0);
  assert.equal(nft(['add', 'element', 'inet', 'portwarden', 'respond4', '{ 198.51.100.7 timeout 60s }']).code, 0);
  const next = { ...settings('syn-ack'), maxPerSecond: 3, burst: 4 };
  const r = nft(['-f', '-'], replaceRulesText('portwarden', next));
  assert.equal(r.code, 0, r.out);
  const chain = nft(['list', 'chain', 'inet', 'portwarden', 'respond']).out;
  assert.doesNotMatch(chain, /reject/);
  assert.match(chain, /log group/);
  assert.match(nft(['list', 'limit', 'inet', 'portwarden', 'respond_cap']).out, /rate 3\/second burst 4 packets/);
  assert.match(nft(['list', 'set', 'inet', 'portwarden', 'respond4']).out, /198\.51\.100\.7/);
});
