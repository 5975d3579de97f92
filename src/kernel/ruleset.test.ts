/**
 * The ruleset builder on its own: the phases fix the order whatever order the stages are wired in,
 * names are claimed once, and nothing that is not one rule line reaches the text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortwardenError } from '../errors.js';
import { addDeclarationText, buildRuleset, iptablesHookRules, keepElementsText, replaceTableText, tableBlock, type RuleContribution } from './ruleset.js';

const TABLE = { name: 'pw_t', priority: -150 };

const logger: RuleContribution = {
  owner: 'capture',
  rules: [
    { hook: 'input', phase: 'log', nft: 'ct state new log group 1', comment: 'first contacts', iptables: { 4: ['-m conntrack --ctstate NEW -j NFLOG'], 6: ['-m conntrack --ctstate NEW -j NFLOG'] } },
    { hook: 'output', phase: 'log', nft: 'tcp flags rst log group 1' },
  ],
};
const guard: RuleContribution = {
  owner: 'enforce',
  declarations: [
    { kind: 'set', name: 'allow4', type: 'ipv4_addr', flags: ['interval'] },
    { kind: 'set', name: 'ban4', type: 'ipv4_addr', flags: ['interval', 'timeout'], keepElements: true },
  ],
  rules: [
    { hook: 'input', phase: 'drop', nft: 'ip saddr @ban4 drop' },
    { hook: 'input', phase: 'exempt', nft: 'ip saddr @allow4 accept' },
  ],
};
const answers: RuleContribution = {
  owner: 'respond',
  declarations: [
    { kind: 'limit', name: 'cap', perSecond: 5, burstPackets: 7 },
    { kind: 'counter', name: 'answered' },
  ],
  chains: [{ name: 'respond', rules: ['limit name "cap" counter name "answered" reject with tcp reset'] }],
  rules: [{ hook: 'input', phase: 'answer', nft: 'jump respond' }],
};

test('hook rules run in phase order, whatever order the contributions come in', () => {
  for (const order of [
    [guard, answers, logger],
    [logger, answers, guard],
    [answers, logger, guard],
  ]) {
    const m = buildRuleset(TABLE, order);
    assert.deepEqual(
      m.hooks.input.map((r) => `${r.phase}:${r.owner}:${r.nft}`),
      ['exempt:enforce:ip saddr @allow4 accept', 'answer:respond:jump respond', 'drop:enforce:ip saddr @ban4 drop', 'log:capture:ct state new log group 1'],
    );
    assert.deepEqual(m.hooks.forward, []);
    assert.equal(m.hooks.output.length, 1);
  }
});

test('the text: declarations, then regular chains, then the hook chains that have rules; comments quoted', () => {
  const text = tableBlock(buildRuleset(TABLE, [guard, answers, logger])).join('\n');
  assert.equal(
    text,
    `table inet pw_t {
	set allow4 {
		type ipv4_addr
		flags interval
	}
	set ban4 {
		type ipv4_addr
		flags interval,timeout
	}
	limit cap {
		rate 5/second burst 7 packets
	}
	counter answered {
	}
	chain respond {
		limit name "cap" counter name "answered" reject with tcp reset
	}
	chain input {
		type filter hook input priority -150; policy accept;
		ip saddr @allow4 accept
		jump respond
		ip saddr @ban4 drop
		ct state new log group 1 comment "first contacts"
	}
	chain output {
		type filter hook output priority -150; policy accept;
		tcp flags rst log group 1
	}
}
`,
  );
  const replace = replaceTableText(buildRuleset(TABLE, [guard]), 'title');
  assert.match(replace, /^# title\ntable inet pw_t \{\}\ndelete table inet pw_t\ntable inet pw_t \{\n/);
});

test('a restart keeping the table empties every set but the kept ones and deletes the chains there are', () => {
  const text = keepElementsText(buildRuleset(TABLE, [guard, answers]), ['input', 'respond'], 'keep');
  assert.match(text, /^# keep\ntable inet pw_t \{\}\nflush table inet pw_t\ndelete chain inet pw_t input\ndelete chain inet pw_t respond\ntable inet pw_t \{\n/);
  assert.match(text, /flush set inet pw_t allow4\n/);
  assert.doesNotMatch(text, /flush set inet pw_t ban4/);
  assert.doesNotMatch(text, /delete table/);
});

test('one-line declarations for an existing table', () => {
  assert.equal(addDeclarationText('pw_t', { kind: 'limit', name: 'cap', perSecond: 3, burstPackets: 4 }), 'add limit inet pw_t cap { rate 3/second burst 4 packets; }');
});

test('iptables forms in phase order; a rule without one is refused, not left out', () => {
  const m = buildRuleset(TABLE, [logger]);
  assert.deepEqual(iptablesHookRules(m, 'input', 4), ['-m conntrack --ctstate NEW -j NFLOG']);
  assert.throws(() => iptablesHookRules(m, 'output', 4), /capture's output rule "tcp flags rst log group 1" has no iptables form/);
});

test('bad contributions are refused with PW_ERR_CONFIG_INVALID naming the owner and entry', () => {
  const cases: [RuleContribution[], RegExp][] = [
    [[guard, { owner: 'feeds', declarations: [{ kind: 'set', name: 'ban4', type: 'ipv4_addr' }] }], /feeds declares set ban4, which enforce declares too/],
    [[{ owner: 'x', chains: [{ name: 'input', rules: [] }] }], /x declares chain input, which the table \(a hook chain\) declares too/],
    [[{ owner: 'x', rules: [{ hook: 'input', phase: 'log', nft: 'log\nflush ruleset' }] }], /x\.rules\[0\] .* is not one rule line/],
    [[{ owner: 'x', rules: [{ hook: 'input', phase: 'log', nft: 'log } table ip evil {' }] }], /x\.rules\[0\]/],
    [[{ owner: 'x', rules: [{ hook: 'input', phase: 'log', nft: 'log', comment: 'a "quote"' }] }], /x\.rules\[0\] comment/],
    [[{ owner: 'x', rules: [{ hook: 'prerouting' as 'input', phase: 'log', nft: 'log' }] }], /hook "prerouting"/],
    [[{ owner: 'x', rules: [{ hook: 'input', phase: 'first' as 'log', nft: 'log' }] }], /phase "first"/],
    [[{ owner: 'x', declarations: [{ kind: 'set', name: 'a b', type: 'ipv4_addr' }] }], /name "a b" is not an nft identifier/],
    [[{ owner: 'x', declarations: [{ kind: 'limit', name: 'l', perSecond: 0, burstPackets: 1 }] }], /perSecond 0/],
    [[{ owner: 'x', chains: [{ name: 'c', rules: [''] }] }], /x\.chains\[0\]\.rules\[0\]/],
  ];
  for (const [contributions, message] of cases) {
    assert.throws(
      () => buildRuleset(TABLE, contributions),
      (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_CONFIG_INVALID' && message.test(e.message),
      message.source,
    );
  }
  assert.throws(() => buildRuleset({ name: 'x; flush ruleset', priority: 0 }, []), /tableName/);
  assert.throws(() => buildRuleset({ name: 't', priority: 1.5 }, []), /priority 1.5/);
});

test('the model is frozen', () => {
  const m = buildRuleset(TABLE, [guard, answers, logger]);
  assert.ok(Object.isFrozen(m) && Object.isFrozen(m.hooks) && Object.isFrozen(m.hooks.input) && Object.isFrozen(m.hooks.input[0]) && Object.isFrozen(m.declarations[0]));
});
