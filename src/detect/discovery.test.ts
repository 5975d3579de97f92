import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario, summary } from '../../test/support/scenario.js';

const PINGER = '198.51.100.7';

/** Host discovery by IP pings of `hosts` absent hosts: echo, SYN 22 and 443, ACK 80, UDP 53 each (nmap -sn -PE -PS22,443 -PA80 -PU53). */
function discover(s: Scenario, hosts: number): Scenario {
  for (let h = 1; h <= hosts; h++) {
    const host = `203.0.113.${h}`;
    s.at(s.nowMs + 10).ping(PINGER, host, 0x4242);
    s.tcp(PINGER, host, 51000, 22, 'S').tcp(PINGER, host, 51000, 443, 'S').tcp(PINGER, host, 51000, 80, 'A').udp(PINGER, host, 51000, 53);
  }
  return s;
}

test('host discovery with several ping methods is one sweep per method, not also a "scan" of every host', () => {
  const records = discover(new Scenario(), 40).finish();
  assert.deepEqual(summary(records).sort(), [
    `sweep/ack ${PINGER} -> tcp/80`,
    `sweep/icmp ${PINGER} -> icmp/echo`,
    `sweep/syn ${PINGER} -> tcp/22`,
    `sweep/syn ${PINGER} -> tcp/443`,
    `sweep/udp ${PINGER} -> udp/53`,
  ]);
});

test('a real port scan of one host by the same source stays a scan beside its sweeps', () => {
  const s = discover(new Scenario(), 40);
  for (let port = 1000; port < 1030; port++) s.at(s.nowMs + 5).synProbe(PINGER, '203.0.113.9', port, 'closed');
  const records = summary(s.finish());
  assert.ok(records.includes(`scan/syn ${PINGER} -> 203.0.113.9`), records.join('\n'));
  assert.equal(records.filter((r) => r.startsWith('scan/')).length, 1, records.join('\n'));
});
