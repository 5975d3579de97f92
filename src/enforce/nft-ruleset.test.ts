import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortwardenError } from '../errors.js';
import { buildNftRuleset, resolveNftRuleset, type NftRulesetOptions } from './nft-ruleset.js';

test('the full ruleset: replaces only its own table, allowlist first, then bans and static drops, then the capture prefilter', () => {
  const text = buildNftRuleset({
    hooks: { input: true, forward: true },
    blockedNetworks: ['198.51.100.0/24', '2001:db8:bad::/48', '198.51.100.7', '192.0.2.1'],
    blockedTcpPorts: [445, 23, 23],
    blockedUdpPorts: [161],
    prefilter: ['tcp flags & (syn | ack) == syn log group 7'],
  });
  assert.equal(
    text,
    `# portwarden enforcement table: generated, replaced as a whole at every start
table inet portwarden {}
delete table inet portwarden
table inet portwarden {
	set allow4 {
		type ipv4_addr
		flags interval
	}
	set allow6 {
		type ipv6_addr
		flags interval
	}
	set ban4 {
		type ipv4_addr
		flags interval,timeout
	}
	set ban6 {
		type ipv6_addr
		flags interval,timeout
	}
	chain input {
		type filter hook input priority -150; policy accept;
		ip saddr @allow4 accept
		ip6 saddr @allow6 accept
		ip saddr @ban4 drop
		ip6 saddr @ban6 drop
		ip saddr { 192.0.2.1, 198.51.100.0/24 } drop
		ip6 saddr { 2001:db8:bad::/48 } drop
		tcp dport { 23, 445 } drop
		udp dport { 161 } drop
		tcp flags & (syn | ack) == syn log group 7
	}
	chain forward {
		type filter hook forward priority -150; policy accept;
		ip saddr @allow4 accept
		ip6 saddr @allow6 accept
		ip saddr @ban4 drop
		ip6 saddr @ban6 drop
		ip saddr { 192.0.2.1, 198.51.100.0/24 } drop
		ip6 saddr { 2001:db8:bad::/48 } drop
		tcp dport { 23, 445 } drop
		udp dport { 161 } drop
	}
}
`,
  );
});

test('defaults: table portwarden, input only, priority -150, no static rules; never another table', () => {
  const text = buildNftRuleset();
  assert.match(text, /chain input \{\n\t\ttype filter hook input priority -150; policy accept;/);
  assert.doesNotMatch(text, /forward|dport|log/);
  const tables = [...text.matchAll(/table (\w+) (\w+)/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual([...new Set(tables)], ['inet portwarden']);
  assert.doesNotMatch(text, /flush ruleset/);
  assert.match(buildNftRuleset({ tableName: 'pw_test', priority: -10 }), /delete table inet pw_test\n[^]*priority -10;/);
});

test('bad options are refused with PW_ERR_CONFIG_INVALID naming the entry', () => {
  const cases: [NftRulesetOptions, RegExp][] = [
    [{ blockedNetworks: ['192.0.2.0/24', 'example.com'] }, /blockedNetworks\[1\] "example.com": not an IPv4 or IPv6 address/],
    [{ blockedNetworks: ['192.0.2.1/24'] }, /blockedNetworks\[0\] "192.0.2.1\/24": host bits are set/],
    [{ blockedTcpPorts: [22, 0] }, /blockedTcpPorts\[1\] 0 is not a port/],
    [{ blockedUdpPorts: [65536] }, /blockedUdpPorts\[0\] 65536/],
    [{ blockedTcpPorts: [22.5] }, /blockedTcpPorts\[0\] 22.5/],
    [{ tableName: 'port warden' }, /tableName "port warden"/],
    [{ tableName: 'x; flush ruleset' }, /tableName/],
    [{ priority: 1.5 }, /priority 1.5/],
    [{ prefilter: ['log group 1\nflush ruleset'] }, /prefilter\[0\]/],
    [{ prefilter: ['log group 1 } table ip evil {'] }, /prefilter\[0\]/],
    [{ prefilter: [''] }, /prefilter\[0\]/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => resolveNftRuleset(options),
      (error: unknown) => error instanceof PortwardenError && error.code === 'PW_ERR_CONFIG_INVALID' && message.test(error.message),
      JSON.stringify(options),
    );
  }
});

test('resolved options are frozen', () => {
  const resolved = resolveNftRuleset({ blockedTcpPorts: [22] });
  assert.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.blockedTcpPorts));
});

test('prefilterOutput adds an output chain with only those lines: it logs the host\'s answers and never drops', () => {
  const text = buildNftRuleset({ prefilterOutput: ['tcp flags & (syn | rst) == rst log group 9'] });
  const output = text.slice(text.indexOf('\tchain output {'));
  assert.match(output, /^\tchain output \{\n\t\ttype filter hook output priority -150; policy accept;\n\t\ttcp flags & \(syn \| rst\) == rst log group 9\n\t\}/);
  assert.doesNotMatch(output, /drop/);
  assert.doesNotMatch(buildNftRuleset({}), /chain output/);
});
