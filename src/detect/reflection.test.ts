/**
 * Reflection floods, told as traffic: answers a target never asked for, from many real servers, are one
 * flood incident of class `reflection` against the target, naming the service and the reflectors'
 * number, and never a scan, a distributed scan or a source to ban.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario, summary } from '../../test/support/scenario.js';
import { dnsQuery, dnsResponse, ipPacket, ntpPacket, Proto, udp, icmpUnreachable } from '../../scripts/frames.js';

const VICTIM = '198.51.100.10';
const reflector = (i: number) => `203.0.${113 + ((i >> 8) & 1)}.${i & 255}`;

function dnsAnswer(sc: Scenario, from: string, to: string, toPort: number, id: number): Scenario {
  const payload = dnsResponse(id, 'example.test', 'A', ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  return sc.send(ipPacket({ src: from, dst: to, protocol: Proto.UDP, payload: udp({ src: from, dst: to, srcPort: 53, dstPort: toPort, payload }) }));
}

test('DNS answers from 300 resolvers to one victim that never asked are one reflection flood, not a distributed scan', () => {
  const sc = new Scenario();
  for (let i = 0; i < 3_000; i++) dnsAnswer(sc.at(i / 2), reflector(i % 300), VICTIM, 1024 + ((i * 7919) % 60000), i); // 2,000/s
  const records = sc.finish();
  assert.deepEqual(summary(records), [`flood/reflection  -> ${VICTIM}`]);
  const r = records[0];
  assert.equal(r['source.ip'], undefined, 'no source to ban: the reflectors are innocent servers');
  assert.equal(r.evidence.reflecting_service, 'dns (udp/53)');
  const n = r.evidence.reflectors as number;
  assert.ok(n >= 270 && n <= 330, `reflectors ~300, estimated ${n}`);
  assert.equal(sc.engine.counter('probes.first_contact'), 0, 'no reflector became a prober');
});

test('SYN-ACKs (and RSTs) without a SYN from the victim are a reflection flood; the victim gets no flow per answer', () => {
  const sc = new Scenario();
  for (let i = 0; i < 3_000; i++) sc.at(i / 3).tcp(reflector(i % 250), VICTIM, i % 2 === 0 ? 443 : 80, 1024 + i, 'SA', { seq: i, ack: 7000 + i });
  for (let i = 0; i < 1_000; i++) sc.at(1_000 + i / 2).tcp(reflector(i % 100), VICTIM, 80, 5000 + i, 'RA', { seq: 0, ack: 1 });
  const records = sc.finish();
  assert.deepEqual(summary(records), [`flood/reflection  -> ${VICTIM}`]);
  assert.equal(records[0].evidence.reflecting_service, 'tcp syn-ack');
  assert.deepEqual(Object.keys(records[0].evidence.services as object).sort(), ['tcp rst', 'tcp syn-ack']);
});

test('ICMP errors quoting packets the victim never sent are a reflection flood', () => {
  const sc = new Scenario();
  for (let i = 0; i < 2_000; i++) {
    const r = reflector(i % 200);
    const quoted = ipPacket({ src: VICTIM, dst: r, protocol: Proto.UDP, payload: udp({ src: VICTIM, dst: r, srcPort: 2000 + i, dstPort: 33434, payload: Buffer.alloc(8) }) });
    sc.at(i / 2).send(ipPacket({ src: r, dst: VICTIM, protocol: Proto.ICMP, payload: icmpUnreachable(3, quoted) }));
  }
  const records = sc.finish();
  assert.deepEqual(summary(records), [`flood/reflection  -> ${VICTIM}`]);
  assert.equal(records[0].evidence.reflecting_service, 'icmp error');
});

test('answers to questions the host asked are no reflection, however many (a busy resolver client)', () => {
  const sc = new Scenario();
  for (let i = 0; i < 3_000; i++) {
    const server = reflector(i % 20);
    const port = 1024 + (i % 60000);
    const q = dnsQuery(i, 'example.test', 'A');
    sc.at(i / 3).send(ipPacket({ src: VICTIM, dst: server, protocol: Proto.UDP, payload: udp({ src: VICTIM, dst: server, srcPort: port, dstPort: 53, payload: q }) }));
    dnsAnswer(sc.at(i / 3 + 0.1), server, VICTIM, port, i);
  }
  assert.deepEqual(sc.finish(), []);
  assert.equal(sc.engine.counter('answers.unsolicited'), 0);
});

test('a UDP scan that only borrows source port 53 or 123 (nmap -g) is still a scan: its datagrams are no answers', () => {
  const sc = new Scenario();
  for (let port = 1; port <= 40; port++) {
    sc.at(port * 10).udp('203.0.113.5', VICTIM, 53, port, Buffer.alloc(0));
    sc.at(port * 10 + 1).portUnreachable(VICTIM, '203.0.113.5', 53, port);
  }
  for (let port = 1; port <= 40; port++) {
    sc.at(1_000 + port * 10).udp('203.0.113.6', VICTIM, 123, port, ntpPacket(3, 1e15));
    sc.at(1_000 + port * 10 + 1).portUnreachable(VICTIM, '203.0.113.6', 123, port);
  }
  assert.deepEqual(summary(sc.finish()).sort(), [`scan/udp 203.0.113.5 -> ${VICTIM}`, `scan/udp 203.0.113.6 -> ${VICTIM}`]);
});

test('a trickle of late answers (a capture that began mid-conversation) is no flood', () => {
  const sc = new Scenario();
  for (let i = 0; i < 200; i++) dnsAnswer(sc.at(i * 50), reflector(i % 50), VICTIM, 3000 + i, i); // 20/s for 10 s
  assert.deepEqual(sc.finish(), []);
});

test('IKE answers (a responder SPI set) from thousands of VPN gateways are one reflection flood; IKE requests are not answers', () => {
  const sc = new Scenario();
  const ike = (responderSpi: number) => {
    const b = Buffer.alloc(28);
    b.writeUInt32BE(0x11223344, 0); // initiator SPI
    b.writeUInt32BE(responderSpi, 12);
    b[17] = 0x20; // IKEv2
    b[18] = 34; // IKE_SA_INIT
    b.writeUInt32BE(28, 24);
    return b;
  };
  // 2,767 gateways within 0.4 s, as in the capture issue 11 describes (IKE 500 -> 500).
  for (let i = 0; i < 2_767; i++) {
    const gw = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    sc.at(i * 0.145).send(ipPacket({ src: gw, dst: VICTIM, protocol: Proto.UDP, payload: udp({ src: gw, dst: VICTIM, srcPort: 500, dstPort: 500, payload: ike(0x55667788 + i) }) }));
  }
  const records = sc.finish();
  assert.deepEqual(summary(records), [`flood/reflection  -> ${VICTIM}`]);
  assert.equal(records[0].evidence.reflecting_service, 'ike (udp/500)');
  const n = records[0].evidence.reflectors as number;
  assert.ok(n > 2_500 && n < 3_000, `reflectors ~2,767, estimated ${n}`);
  // An initiator's IKE_SA_INIT (responder SPI zero) is a request: a scan of IKE stays a probe.
  const probes = new Scenario();
  for (let i = 0; i < 5; i++) probes.at(i).send(ipPacket({ src: '203.0.113.7', dst: VICTIM, protocol: Proto.UDP, payload: udp({ src: '203.0.113.7', dst: VICTIM, srcPort: 500, dstPort: 500, payload: ike(0) }) }));
  assert.equal(probes.engine.counter('probes.first_contact'), 1);
  assert.equal(probes.engine.counter('answers.unsolicited'), 0);
});
