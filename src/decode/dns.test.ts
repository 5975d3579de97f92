import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpProtocol, TcpFlag } from '../model/packet.js';
import { DecodeEvent } from './events.js';
import { dnsQuestion } from './dns.js';
import { EtherType, be16, concat, decodeOne, dnsMessage, dnsName, ethernet, ipv4, ipv6, tcp, udp } from '../../test/support/frames.js';

const A = 1;
const AAAA = 28;
const TXT = 16;

function overUdp(message: Buffer, toServer = true): Buffer {
  const ports = toServer ? { srcPort: 41000, dstPort: 53 } : { srcPort: 53, dstPort: 41000 };
  return ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp(ports, message)));
}

function question(frame: Buffer) {
  const { packet, stats } = decodeOne(frame);
  assert.equal(packet.valid, true, 'the frame itself decodes');
  return { q: dnsQuestion(packet, stats), notices: stats.counts[DecodeEvent['dns.malformed']] };
}

test('dns: a query gives the lower-cased name without trailing dot and its type', () => {
  const { q, notices } = question(overUdp(dnsMessage({ name: 'WWW.Example.COM.', type: AAAA })));
  assert.deepEqual(q, { name: 'www.example.com', type: AAAA, isResponse: false, rcode: 0 });
  assert.equal(notices, 0);
});

test('dns: a response gives the question it answers, QR and RCODE', () => {
  // Answer: pointer to the question name (offset 12), type A, class IN, TTL, 4 bytes of address.
  const answer = [0xc0, 12, ...be16(A), ...be16(1), 0, 0, 0x0e, 0x10, ...be16(4), 93, 184, 216, 34];
  const { q } = question(overUdp(dnsMessage({ name: 'example.com', type: A, response: true, tail: answer }), false));
  assert.deepEqual(q, { name: 'example.com', type: A, isResponse: true, rcode: 0 });
  const nx = question(overUdp(dnsMessage({ name: 'nope.example', type: A, response: true, rcode: 3 }), false));
  assert.deepEqual(nx.q, { name: 'nope.example', type: A, isResponse: true, rcode: 3 });
});

test('dns: over IPv6', () => {
  const frame = ethernet(EtherType.IPV6, ipv6({ nextHeader: IpProtocol.UDP }, udp({ srcPort: 5000, dstPort: 53 }, dnsMessage({ name: 'ipv6.example', type: AAAA }))));
  assert.equal(question(frame).q?.name, 'ipv6.example');
});

test('dns: over TCP the 2-byte length prefix is skipped', () => {
  const message = dnsMessage({ name: 'axfr.example.org', type: 252 });
  const frame = ethernet(
    EtherType.IPV4,
    ipv4({ protocol: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: 53, flags: TcpFlag.PSH | TcpFlag.ACK }, concat(be16(message.length), message))),
  );
  assert.deepEqual(question(frame).q, { name: 'axfr.example.org', type: 252, isResponse: false, rcode: 0 });
});

test('dns: a question name may itself use a compression pointer', () => {
  // Header 12 bytes, name "a" + pointer at 12..15, qtype/qclass 16..19, then "example.net" at 20.
  const message = dnsMessage({ name: [1, 0x61, 0xc0, 20], type: TXT, tail: dnsName('example.net') });
  const { q } = question(overUdp(message));
  assert.deepEqual(q, { name: 'a.example.net', type: TXT, isResponse: false, rcode: 0 });
});

test('dns: labels are escaped so a dot inside a label cannot pose as two labels', () => {
  const name = [8, ...Buffer.from('evil.com'), 2, 0x41, 0x20, 0];
  const { q } = question(overUdp(dnsMessage({ name, type: A })));
  assert.equal(q?.name, 'evil\\.com.a\\032');
});

test('dns: the root name is the empty string', () => {
  const { q } = question(overUdp(dnsMessage({ name: [0], type: 2 })));
  assert.deepEqual(q, { name: '', type: 2, isResponse: false, rcode: 0 });
});

const absent: [string, Buffer][] = [
  ['not port 53', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP }, udp({ srcPort: 5353, dstPort: 5353 }, dnsMessage({ name: 'x.local', type: A }))))],
  ['no questions', overUdp(dnsMessage({ name: [], type: A, questions: 0 }).subarray(0, 12))],
  ['a SYN to port 53 (no payload)', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: 53, flags: TcpFlag.SYN })))],
  ['ICMP', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.ICMP }, [8, 0, 0, 0, 0, 0, 0, 0]))],
  ['a later fragment', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.UDP, fragmentOffset: 3 }, new Array<number>(40).fill(0)))],
];

for (const [name, frame] of absent) {
  test(`dns: ${name} → null without an event`, () => {
    const { q, notices } = question(frame);
    assert.equal(q, null);
    assert.equal(notices, 0);
  });
}

/** A header claiming one question, then the given name bytes and a type. */
function withName(nameBytes: number[]): Buffer {
  return overUdp(dnsMessage({ name: nameBytes, type: A }));
}

const malformed: [string, Buffer][] = [
  ['shorter than the 12-byte header', overUdp(Buffer.from([0xbe, 0xef, 1, 0, 0, 1, 0, 0]))],
  ['name runs off the end', overUdp(dnsMessage({ name: 'example.com', type: A }).subarray(0, 20))],
  ['question without its type', overUdp(dnsMessage({ name: 'example.com', type: A }).subarray(0, 12 + 13 + 2))],
  ['pointer to itself', withName([0xc0, 12])],
  ['two pointers pointing at each other', overUdp(dnsMessage({ name: [0xc0, 14, 0xc0, 12], type: A }))],
  ['pointer loop through a label', overUdp(dnsMessage({ name: [3, 0x61, 0x62, 0x63, 0xc0, 12], type: A }))],
  ['pointer past the message', withName([0xc1, 0x00])],
  ['pointer cut after its first byte', overUdp(dnsMessage({ name: [0xc0], type: A }).subarray(0, 13))],
  ['extended label type 0x40', withName([0x41, 0x61, 0])],
  ['name longer than 255 octets', withName([...dnsName(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`)])],
  ['TCP payload of one byte', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, tcp({ srcPort: 53, dstPort: 40000, flags: TcpFlag.ACK }, [0])))],
  ['TCP length prefix shorter than the header', ethernet(EtherType.IPV4, ipv4({ protocol: IpProtocol.TCP }, tcp({ srcPort: 53, dstPort: 40000, flags: TcpFlag.ACK }, concat(be16(4), dnsMessage({ name: 'x', type: A })))))],
];

for (const [name, frame] of malformed) {
  test(`dns: ${name} → null and dns.malformed counted`, () => {
    const { q, notices } = question(frame);
    assert.equal(q, null);
    assert.equal(notices, 1);
  });
}

test('dns: the stats argument is optional', () => {
  const { packet } = decodeOne(withName([0xc0, 12]));
  assert.equal(dnsQuestion(packet), null);
});

test('dns: a name of exactly 255 octets is accepted', () => {
  // 3 × 63-byte labels + one 61-byte label: 4 length bytes + 250 + root = 255.
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  assert.equal(question(withName(dnsName(long))).q?.name, long);
});
