/**
 * The iptables + ipset backend's text without a kernel: ipset lines and the NFLOG prefilter rules.
 * The backend against a real kernel, in network namespaces, is iptables.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { iptablesPrefilterRules, ipsetLine } from './iptables.js';
import { queuedBan } from './decisions.js';

test('ipset lines and prefilter rules', () => {
  assert.equal(ipsetLine(queuedBan({ target: '192.0.2.7', timeoutSeconds: 1.2 })), 'add portwarden-ban4 192.0.2.7 timeout 2');
  assert.equal(ipsetLine(queuedBan({ target: '2001:db8::/64', timeoutSeconds: null })), 'add portwarden-ban6 2001:db8::/64 timeout 0');
  assert.equal(ipsetLine(queuedBan({ target: '192.0.2.0/24', timeoutSeconds: 1e9 })), 'add portwarden-ban4 192.0.2.0/24 timeout 2147483');
  const rules = iptablesPrefilterRules(7, 96);
  assert.match(rules.input4[0], /--ctstate NEW,INVALID .*-j NFLOG --nflog-group 7 --nflog-size 96$/);
  assert.equal(rules.output6.length, 4);
  assert.throws(() => iptablesPrefilterRules(70000), /PW_ERR_CAPTURE_LIVE|out of range/);
});
