/**
 * The backend registry: which table each `enforce.backend` builds, and which abilities (fast path,
 * answering scanners, keeping ban sets across a restart) it has; no kernel needed (the tables are only
 * built, never set up).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { backendKind, buildEnforcer, buildTable, type TableOptions } from './backends.js';
import { IptablesBackend } from './iptables.js';
import { NftablesBackend } from './nftables.js';
import { nflogRules } from '../capture/nflog.js';
import { respondContribution } from '../respond/kernel-rules.js';
import { RESPOND_PROFILES } from '../respond/settings.js';
import { geoContribution } from '../intel/geo/geo-fence.js';

const options: TableOptions = {
  forward: false,
  blockedNetworks: ['198.51.100.0/24'],
  blockedTcpPorts: [23],
  blockedUdpPorts: [],
  capture: nflogRules(7, { snaplen: 128 }),
  fastPath: { enabled: true, answersPerSecond: 50, burst: 100, banSeconds: 60 },
  respond: respondContribution({ ...RESPOND_PROFILES.normal, mode: 'rst' }),
};
const silent = pino({ level: 'silent' });

test('nftables: fast path and responder rules go into its table; it can keep its ban sets across a restart', () => {
  const kind = backendKind('nftables', false);
  assert.deepEqual([kind.dryRun, kind.fastPath, kind.answersScanners], [false, true, true]);
  const table = buildTable(kind, options);
  assert.ok(table instanceof NftablesBackend);
  const text = table.rulesetText();
  assert.match(text, /@fastban4 drop/);
  assert.match(text, /jump respond/);
  assert.match(text, /log group 7/);
  assert.equal(typeof table.setupKeepingBans, 'function');
  assert.doesNotMatch((buildTable(kind, { ...options, fastPath: { ...options.fastPath!, enabled: false } }) as NftablesBackend).rulesetText(), /fastban/, 'a disabled fast path stays out');
});

test('a dry run of nftables keeps the capture rules but no fast path and no responder, and bans go to the log', async () => {
  const kind = backendKind('nftables', true);
  assert.deepEqual([kind.dryRun, kind.fastPath, kind.answersScanners], [true, false, false]);
  assert.deepEqual(backendKind('dry-run', false), kind);
  const table = buildTable(kind, options) as NftablesBackend;
  assert.doesNotMatch(table.rulesetText(), /fastban|respond/);
  assert.match(table.rulesetText(), /log group 7/);
  const enforcer = await buildEnforcer(kind, table, silent);
  assert.equal(enforcer.name, 'dry-run');
  assert.equal(await buildEnforcer(backendKind('nftables', false), table, silent), table, 'otherwise the table itself enforces');
});

test('iptables: no fast path, no responder, no keeping of sets across a restart', () => {
  const kind = backendKind('iptables', false);
  assert.deepEqual([kind.dryRun, kind.fastPath, kind.answersScanners], [false, false, false]);
  const table = buildTable(kind, options);
  assert.equal(table.setupKeepingBans, undefined);
  assert.ok(table instanceof IptablesBackend);
  assert.match(table.iptablesSetupText(4), /--nflog-group 7/);
  assert.equal(backendKind('iptables', true).dryRun, true);
});

test('geo rules: in the nftables table after the allow sets, left out of a dry run, refused by iptables', () => {
  const geo = geoContribution({ database: '/x.mmdb', asnDatabase: null, block: ['CN'], allowOnly: { countries: ['DE'], ports: [{ protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 51820 }] } }, false)!;
  const text = (buildTable(backendKind('nftables', false), { ...options, geo }) as NftablesBackend).rulesetText();
  const at = (needle: string): number => text.indexOf(needle);
  for (const rule of ['ip saddr @geoblock4 drop', 'ip6 saddr @geoblock6 drop', 'tcp dport { 22 } ip saddr != @geoallow4 drop', 'udp dport { 51820 } ip6 saddr != @geoallow6 drop']) {
    assert.ok(at(rule) > at('ip saddr @allow4 accept'), `${rule} after the allow sets`);
  }
  assert.match(text, /set geoallow6 \{\s+type ipv6_addr\s+flags interval/);
  assert.doesNotMatch((buildTable(backendKind('nftables', true), { ...options, geo }) as NftablesBackend).rulesetText(), /geoblock|geoallow/);
  assert.throws(() => buildTable(backendKind('iptables', false), { ...options, geo }), (err: Error & { code?: string }) => err.code === 'PW_ERR_CONFIG_INVALID' && /need enforce\.backend nftables/.test(err.message));
  assert.equal(geoContribution({ database: '/x.mmdb', asnDatabase: null, block: [], allowOnly: null }, false), null, 'a database alone only enriches');
});
