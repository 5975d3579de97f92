/**
 * The libpcap packet source against the kernel: capturing on loopback (read-only: no rule, no
 * route, nothing changed on the host) with a filter for one UDP port of our own, the datagrams we
 * send arrive decoded, with kernel timestamps, and its counters are the registry's. NFLOG's packet
 * source runs in a namespace in nflog.test.ts (test/support/nflog-child.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { CounterRegistry } from '../model/counters.js';
import { formatIPv4 } from '../net/address.js';
import { PcapPacketSource } from './live-sources.js';

const PORT = 40000 + (process.pid % 20000);

test('libpcap on loopback: our datagrams arrive decoded, in order, with kernel timestamps; counters in the registry', async () => {
  const source = new PcapPacketSource({ interface: 'lo', filter: `udp and dst port ${PORT}`, promiscuous: false });
  const got: { src: string; dport: number; ts: number; payload: number }[] = [];
  const before = Date.now() * 1000;
  await source.start((p) => got.push({ src: formatIPv4(p.src4), dport: p.dstPort, ts: p.tsUs, payload: p.payloadLength }));
  const registry = new CounterRegistry();
  registry.add(source.counters);
  registry.add(source.decoder.counters);
  try {
    assert.equal(source.running, true);
    const tx = dgram.createSocket('udp4');
    for (let i = 1; i <= 5; i++) await new Promise<void>((r) => tx.send(Buffer.alloc(i), PORT, '127.0.0.1', () => r()));
    tx.close();
    const deadline = Date.now() + 5000;
    while (got.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  } finally {
    source.close();
  }
  assert.equal(source.running, false);
  assert.deepEqual(got.map((g) => [g.src, g.dport, g.payload]), [1, 2, 3, 4, 5].map((n) => ['127.0.0.1', PORT, n]));
  const after = Date.now() * 1000;
  for (let i = 0; i < got.length; i++) {
    assert.ok(got[i].ts >= before - 1_000_000 && got[i].ts <= after, 'a kernel timestamp of this run');
    if (i > 0) assert.ok(got[i].ts >= got[i - 1].ts, 'in order');
  }
  const v = registry.values();
  assert.equal(v['capture.delivered'], 5);
  assert.equal(v['decode.frames'], 5);
  assert.equal(v['decode.decoded'], 5);
  assert.equal(v['capture.lost'], 0);
});
