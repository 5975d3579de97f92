/**
 * NFLOG capture without a kernel: the rule generator and the message parser on built datagrams.
 * The real thing, in network namespaces, is nflog.netns.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_NFLOG_SNAPLEN, NflogSource, nflogPrefilterRules } from './nflog.js';
import { LinkType } from '../model/packet.js';
import { PortwardenError } from '../errors.js';

// ---- building NFLOG datagrams ----------------------------------------------------------------

interface BuiltPacket {
  payload: Buffer;
  /** [seconds, microseconds], or absent (as the kernel does on output). */
  ts?: [number, number];
  seq?: number;
}

function nla(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** One NFULNL_MSG_PACKET message as nfnetlink_log lays it out (header, hook, timestamp, payload, seq). */
function packetMessage(p: BuiltPacket, group = 7): Buffer {
  const parts: Buffer[] = [];
  const hdr = Buffer.alloc(4);
  hdr.writeUInt16BE(p.payload[0] >>> 4 === 6 ? 0x86dd : 0x0800, 0);
  hdr[2] = 1; // NF_INET_LOCAL_IN
  parts.push(nla(1, hdr));
  if (p.ts !== undefined) {
    const ts = Buffer.alloc(16);
    ts.writeBigUInt64BE(BigInt(p.ts[0]), 0);
    ts.writeBigUInt64BE(BigInt(p.ts[1]), 8);
    parts.push(nla(3, ts));
  }
  parts.push(nla(4, be32(2))); // NFULA_IFINDEX_INDEV
  parts.push(nla(10, Buffer.from('pw\0'))); // NFULA_PREFIX, ignored
  parts.push(nla(9, p.payload));
  if (p.seq !== undefined) parts.push(nla(12, be32(p.seq)));
  const body = Buffer.concat(parts);
  const msg = Buffer.alloc(16 + 4 + body.length);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(0x0400, 4);
  msg[16] = p.payload[0] >>> 4 === 6 ? 10 : 2;
  msg.writeUInt16BE(group, 18);
  body.copy(msg, 20);
  return msg;
}

function datagram(...msgs: Buffer[]): Buffer {
  return Buffer.concat(msgs.map((m) => Buffer.concat([m, Buffer.alloc(((m.length + 3) & ~3) - m.length)])));
}

/** A minimal IPv4 TCP SYN (checksums are not checked by anyone here). */
function ipv4Syn(dport: number, totalLength = 40): Buffer {
  const b = Buffer.alloc(40);
  b[0] = 0x45;
  b.writeUInt16BE(totalLength, 2);
  b[8] = 64;
  b[9] = 6;
  Buffer.from([10, 77, 0, 1, 10, 77, 0, 2]).copy(b, 12);
  b.writeUInt16BE(40000, 20);
  b.writeUInt16BE(dport, 22);
  b[32] = 0x50;
  b[33] = 0x02;
  return b;
}

function ipv6Rst(sport: number): Buffer {
  const b = Buffer.alloc(60);
  b[0] = 0x60;
  b.writeUInt16BE(20, 4);
  b[6] = 6;
  b[7] = 64;
  b[8] = 0x20;
  b[9] = 0x01;
  b[10] = 0x0d;
  b[11] = 0xb8;
  b[23] = 2;
  b[24] = 0x20;
  b[25] = 0x01;
  b[26] = 0x0d;
  b[27] = 0xb8;
  b[39] = 1;
  b.writeUInt16BE(sport, 40);
  b.writeUInt16BE(40000, 42);
  b[52] = 0x50;
  b[53] = 0x14;
  return b;
}

interface Delivered {
  bytes: Buffer;
  tsUs: number;
  linkType: number;
  originalLength: number;
}

function collector(): { frames: Delivered[]; source: NflogSource } {
  const frames: Delivered[] = [];
  const source = new NflogSource({
    group: 7,
    onFrame(buf, offset, length, tsUs, linkType, originalLength) {
      frames.push({ bytes: Buffer.from(buf.subarray(offset, offset + length)), tsUs, linkType, originalLength });
    },
  });
  return { frames, source };
}

// ---- rules -----------------------------------------------------------------------------------

describe('nflogPrefilterRules', () => {
  test('logs to the group with a small snaplen, first contacts on input and answers on output', () => {
    const r = nflogPrefilterRules(7);
    assert.ok(r.input.length >= 2 && r.output.length >= 4);
    for (const line of [...r.input, ...r.output]) {
      assert.match(line, new RegExp(`log group 7 snaplen ${DEFAULT_NFLOG_SNAPLEN}\\b`));
      assert.ok(DEFAULT_NFLOG_SNAPLEN >= 80 && DEFAULT_NFLOG_SNAPLEN <= 128);
      assert.doesNotMatch(line, /\b(accept|drop|reject|return|jump|goto)\b/, 'a log line never decides a verdict');
    }
    assert.match(r.input[0], /ct state new,invalid/);
    assert.ok(r.input.some((l) => /ct state related .*icmp/.test(l)));
    const out = r.output.join('\n');
    for (const needle of ['syn | ack', 'rst', 'icmp type { destination-unreachable, echo-reply }', 'icmpv6 type { destination-unreachable, echo-reply }']) {
      assert.ok(out.includes(needle), needle);
    }
    for (const line of r.input) assert.match(line, /^iif != "lo" /);
    for (const line of r.output) assert.match(line, /^oif != "lo" /);
  });

  test('options: snaplen, interfaces', () => {
    const r = nflogPrefilterRules(65535, { snaplen: 96, interfaces: ['eth0', 'wg0'] });
    for (const line of r.input) assert.match(line, /^iifname \{ "eth0", "wg0" \} .*log group 65535 snaplen 96 /);
    for (const line of r.output) assert.match(line, /^oifname \{ "eth0", "wg0" \} .*log group 65535 snaplen 96 /);
  });

  test('bad arguments are PW_ERR_CAPTURE_LIVE', () => {
    const bad: [number, Parameters<typeof nflogPrefilterRules>[1]][] = [
      [-1, {}],
      [65536, {}],
      [1.5, {}],
      [7, { snaplen: 20 }],
      [7, { snaplen: 70000 }],
      [7, { interfaces: [] }],
      [7, { interfaces: ['eth0"; flush ruleset; "'] }],
      [7, { interfaces: ['a-name-longer-than-15'] }],
    ];
    for (const [group, opts] of bad) {
      assert.throws(() => nflogPrefilterRules(group, opts), (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_CAPTURE_LIVE', JSON.stringify([group, opts]));
    }
  });
});

// ---- parsing ---------------------------------------------------------------------------------

describe('NflogSource.ingest', () => {
  test('delivers each packet of a datagram: payload as raw IP, kernel timestamp, length from the IP header', () => {
    const { frames, source } = collector();
    const syn = ipv4Syn(22, 60); // snapped: 40 bytes copied of a 60-byte packet
    const before = Date.now() * 1000;
    source.ingest(datagram(packetMessage({ payload: syn, ts: [1_700_000_000, 123_456], seq: 0 }), packetMessage({ payload: ipv6Rst(22), seq: 1 })));
    const afterUs = Date.now() * 1000;
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[0].bytes, syn);
    assert.equal(frames[0].tsUs, 1_700_000_000_123_456);
    assert.equal(frames[0].linkType, LinkType.RAW);
    assert.equal(frames[0].originalLength, 60);
    assert.deepEqual(frames[1].bytes, ipv6Rst(22));
    assert.equal(frames[1].originalLength, 60);
    // No timestamp (output hook): the read time, never earlier than the packet before.
    assert.ok(frames[1].tsUs >= before - 1000 && frames[1].tsUs <= afterUs, String(frames[1].tsUs));
    assert.deepEqual({ ...source.stats }, { ...source.stats, datagrams: 1, received: 2, delivered: 2, malformed: 0, lost: 0 });
  });

  test('a fallback timestamp never precedes the packet delivered before it', () => {
    const { frames, source } = collector();
    const future = Math.floor(Date.now() / 1000) + 3600;
    source.ingest(datagram(packetMessage({ payload: ipv4Syn(1), ts: [future, 5], seq: 0 }), packetMessage({ payload: ipv4Syn(2), seq: 1 })));
    assert.equal(frames[1].tsUs, frames[0].tsUs);
  });

  test('gaps in the sequence numbers count as lost packets', () => {
    const { frames, source } = collector();
    source.ingest(datagram(packetMessage({ payload: ipv4Syn(1), seq: 10 })));
    source.ingest(datagram(packetMessage({ payload: ipv4Syn(2), seq: 11 }), packetMessage({ payload: ipv4Syn(3), seq: 15 })));
    source.ingest(datagram(packetMessage({ payload: ipv4Syn(4), seq: 16 })));
    assert.equal(frames.length, 4);
    assert.equal(source.stats.lost, 3);
    // Wrap-around at 2^32.
    const w = collector();
    w.source.ingest(datagram(packetMessage({ payload: ipv4Syn(1), seq: 0xfffffffe }), packetMessage({ payload: ipv4Syn(2), seq: 1 })));
    assert.equal(w.source.stats.lost, 2);
  });

  test('malformed input is counted, never thrown, and what is valid before it is delivered', () => {
    const good = packetMessage({ payload: ipv4Syn(1), seq: 0 });
    const noPayload = packetMessage({ payload: ipv4Syn(1), seq: 1 }).subarray(0, 20); // header + nfgenmsg only
    noPayload.writeUInt32LE(20, 0);
    const overlong = Buffer.from(good);
    overlong.writeUInt32LE(good.length + 100, 0);
    const badAttr = Buffer.from(good);
    badAttr.writeUInt16LE(2000, 20); // first attribute claims more than the message
    const badLastAttr = Buffer.from(good);
    badLastAttr.writeUInt16LE(2000, good.length - 8); // the sequence number attribute, after the payload
    const cases: [string, Buffer, number, number][] = [
      ['shorter than a netlink header', Buffer.alloc(10), 0, 1],
      ['message length beyond the datagram', datagram(good, overlong), 1, 1],
      ['message length below the header', Buffer.concat([good, Buffer.alloc(16)]), 1, 1],
      ['packet without payload', datagram(good, noPayload), 1, 1],
      ['attribute longer than its message', datagram(badAttr), 0, 1],
      ['broken attribute after the payload', datagram(badLastAttr, good), 1, 1],
      ['unknown message type', datagram(Buffer.from([16, 0, 0, 0, 0x99, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), 0, 1],
    ];
    for (const [name, buf, delivered, malformed] of cases) {
      const { frames, source } = collector();
      assert.doesNotThrow(() => source.ingest(buf), name);
      assert.equal(frames.length, delivered, name);
      assert.equal(source.stats.malformed, malformed, name);
    }
    // Random bytes, and every truncation of a valid datagram: never a throw.
    const { source } = collector();
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(Array.from({ length: 16 + (i % 200) }, rnd));
      if (i % 2 === 0) b.writeUInt32LE(Math.min(b.length, 16 + (i % 64)), 0);
      b.writeUInt16LE(i % 3 === 0 ? 0x0400 : b.readUInt16LE(4), 4);
      assert.doesNotThrow(() => source.ingest(b));
    }
    const full = datagram(good, packetMessage({ payload: ipv6Rst(1), ts: [1, 2], seq: 1 }));
    for (let n = 0; n <= full.length; n++) assert.doesNotThrow(() => collector().source.ingest(full.subarray(0, n)));
  });

  test('stop() inside onFrame ends delivery at once; stop() is idempotent', () => {
    let n = 0;
    const source: NflogSource = new NflogSource({
      group: 7,
      onFrame() {
        n++;
        source.stop();
      },
    });
    source.ingest(datagram(packetMessage({ payload: ipv4Syn(1), seq: 0 }), packetMessage({ payload: ipv4Syn(2), seq: 1 })));
    assert.equal(n, 1);
    source.ingest(datagram(packetMessage({ payload: ipv4Syn(3), seq: 2 })));
    assert.equal(n, 1);
    source.stop();
    source.stop();
    assert.equal(source.running, false);
    assert.equal(source.portId, 0);
  });

  test('bad options are PW_ERR_CAPTURE_LIVE', () => {
    const onFrame = () => {};
    for (const opts of [{ group: -1 }, { group: 7, bufferBytes: 10 }, { group: 7, batchPackets: 0 }, { group: 7, batchBytes: 1000 }, { group: 7, flushTimeoutMs: -5 }]) {
      assert.throws(() => new NflogSource({ onFrame, ...opts }), (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_CAPTURE_LIVE', JSON.stringify(opts));
    }
  });
});
