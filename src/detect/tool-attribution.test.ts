/**
 * Scanner attribution told as traffic: probes with a tool's own fixed traits make an incident that
 * names the tool (threat.software.name) with the evidence; an OS stack's probes and a benign client
 * never get a name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario } from '../../test/support/scenario.js';
import { ipPacket, Proto, tcp, parseIpv4 } from '../../scripts/frames.js';
import type { TcpOptionSet } from '../../scripts/frames.js';

const SCANNER = '203.0.113.5';
const TARGET = '198.51.100.10';
const TARGET_INT = parseIpv4(TARGET).readUInt32BE(0);

interface Probe { window: number; options: TcpOptionSet; ttl: number; id: (port: number, seq: number) => number; srcPort: (port: number) => number; seq: (port: number) => number }

function scan(probe: Probe, answer = true): ReturnType<Scenario['finish']> {
  const sc = new Scenario();
  for (let port = 1; port <= 60; port++) {
    const seq = probe.seq(port) >>> 0;
    const srcPort = probe.srcPort(port);
    const seg = tcp({ src: SCANNER, dst: TARGET, srcPort, dstPort: port, flags: 'S', seq, window: probe.window, options: probe.options, mss: 1460 });
    sc.at(port * 5).send(ipPacket({ src: SCANNER, dst: TARGET, protocol: Proto.TCP, payload: seg, ttl: probe.ttl, id: probe.id(port, seq) }));
    if (answer) sc.at(port * 5 + 1).tcp(TARGET, SCANNER, port, srcPort, 'RA', { seq: 0, ack: seq + 1 });
  }
  return sc.finish();
}

const cases: { tool: string | undefined; probe: Probe }[] = [
  { tool: 'nmap', probe: { window: 1024, options: 'mss', ttl: 47, id: (p) => (p * 7919) & 0xffff, srcPort: () => 41220, seq: () => 3239552997 } },
  // nmap before 5: the window from the TTL, 1024 × (ttl % 4 + 1)
  { tool: 'nmap', probe: { window: 3072, options: 'mss', ttl: 50, id: (p) => (p * 7919) & 0xffff, srcPort: () => 41220, seq: () => 1 } },
  { tool: 'masscan', probe: { window: 1024, options: 'none', ttl: 255, id: (p, seq) => (TARGET_INT ^ p ^ seq) & 0xffff, srcPort: () => 61000, seq: (p) => p * 2654435761 } },
  { tool: 'zmap', probe: { window: 65535, options: 'none', ttl: 255, id: () => 54321, srcPort: (p) => 32768 + p * 13, seq: (p) => p * 40503 } },
  { tool: 'unicornscan', probe: { window: 4128, options: 'none', ttl: 64, id: (p) => p, srcPort: () => 5555, seq: (p) => p } },
  { tool: 'hping3', probe: { window: 512, options: 'none', ttl: 64, id: (p) => (p * 31337) & 0xffff, srcPort: () => 1688, seq: (p) => p * 99991 } },
  // An OS connect() scan: the kernel's SYNs carry SACK and timestamps, whatever their window.
  { tool: undefined, probe: { window: 1024, options: 'linux', ttl: 64, id: () => 0, srcPort: (p) => 40000 + p, seq: (p) => p * 7 } },
  // A raw tool with none of the known traits.
  { tool: undefined, probe: { window: 29200, options: 'none', ttl: 64, id: (p) => p, srcPort: (p) => 40000 + p, seq: (p) => p * 7 } },
];

for (const { tool, probe } of cases) {
  test(`SYN probes with window ${probe.window}, options ${String(probe.options)}, TTL ${probe.ttl} name ${tool ?? 'no tool'}`, () => {
    const records = scan(probe);
    assert.equal(records.length, 1);
    assert.equal(records[0].kind, 'scan');
    assert.equal(records[0]['threat.software.name'], tool);
    if (tool !== undefined) {
      const a = records[0].evidence.attribution as { tool: string; probes_with_trait: number; probes_judged: number };
      assert.equal(a.tool, tool);
      assert.ok(a.probes_with_trait >= 0.8 * a.probes_judged && a.probes_with_trait > 50, JSON.stringify(a));
    } else assert.equal(records[0].evidence.attribution, undefined);
  });
}

test('a zmap sweep sent before any answer could come still names zmap (the counted record keeps its trait)', () => {
  const sc = new Scenario();
  for (let i = 0; i < 200; i++) {
    const dst = `10.20.${i >> 8}.${i & 255}`;
    const seg = tcp({ src: SCANNER, dst, srcPort: 40000 + i, dstPort: 80, flags: 'S', seq: i * 40503, window: 65535, options: 'none' });
    sc.at(i * 0.1).send(ipPacket({ src: SCANNER, dst, protocol: Proto.TCP, payload: seg, ttl: 255, id: 54321 }));
  }
  const records = sc.finish();
  assert.deepEqual(records.map((r) => [r.kind, r['threat.software.name']]), [['sweep', 'zmap']]);
});

test('a benign client of many services never gets a tool name (nor an incident)', () => {
  const sc = new Scenario();
  for (let i = 0; i < 60; i++) sc.at(i).session('192.0.2.10', TARGET, 40000 + i, 20000 + i);
  assert.deepEqual(sc.finish(), []);
});
