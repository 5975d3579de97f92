/**
 * NFLOG capture: the rule generator and the message parser on built datagrams, then the real
 * thing in a pair of network namespaces (attacker ↔ protected) with the prefilter rules in a table
 * of the protected namespace and the source running there as a child process (Node cannot enter
 * a namespace itself). The live part needs root, nft, nmap and hping3, and is skipped without them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULT_NFLOG_SNAPLEN, NflogSource, nflogPrefilterRules } from './nflog.js';
import { LinkType } from '../model/packet.js';
import { PortwardenError } from '../errors.js';
import {
  ATTACKER4,
  ATTACKER6,
  JsonLines,
  NetnsPair,
  PROTECTED4,
  PROTECTED6,
  liveNamespaces,
  systemNamespaces,
} from '../../test/support/testkit-netns.js';

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

// ---- live, in network namespaces -------------------------------------------------------------

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
const liveSkip =
  process.getuid?.() !== 0 ? 'needs root (network namespaces, nft)' : (['ip', 'nft', 'nmap', 'hping3'].find((c) => !has(c)) ?? '') !== '' ? 'needs ip, nft, nmap and hping3' : false;

const GROUP = 7;
type Msg = Record<string, unknown>;
type Frame = Msg & { v: number; proto: number; src: string; dst: string; sport: number; dport: number; flags: number };
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NflogSource live (namespaces)', { skip: liveSkip }, () => {
  let pair: NetnsPair;
  let child: JsonLines;

  /** The test's own table in the protected namespace: the prefilter lines, each with a counter. */
  function loadTable(): void {
    const rules = nflogPrefilterRules(GROUP);
    const counted = (l: string) => `    ${l.replace(' log group', ' counter log group')}`;
    pair.must(
      pair.protectedNs,
      'nft',
      ['-f', '-'],
      [
        'table inet pwlog_test {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        ...rules.input.map(counted),
        '    tcp dport 8080 counter comment "test: bulk transfer in"',
        '  }',
        '  chain output {',
        '    type filter hook output priority 0; policy accept;',
        ...rules.output.map(counted),
        '    tcp sport 8080 counter comment "test: bulk transfer out"',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  }

  /** Packets counted per rule comment, and the sum over the logging rules (what the kernel logged). */
  function counters(): { byComment: Record<string, number>; logged: number } {
    const j = JSON.parse(pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'table', 'inet', 'pwlog_test'])) as { nftables: { rule?: { comment?: string; expr: Record<string, { packets: number }>[] } }[] };
    const byComment: Record<string, number> = {};
    let logged = 0;
    for (const item of j.nftables) {
      const rule = item.rule;
      if (rule === undefined) continue;
      const counter = rule.expr.find((e) => 'counter' in e)?.counter;
      if (counter === undefined) continue;
      byComment[rule.comment ?? ''] = counter.packets;
      if (rule.expr.some((e) => 'log' in e)) logged += counter.packets;
    }
    return { byComment, logged };
  }

  function startChild(options: Msg = {}): JsonLines {
    const c = pair.spawn(pair.protectedNs, process.execPath, ['--import', 'tsx', 'test/support/nflog-child.ts', JSON.stringify({ group: GROUP, ...options })], {
      cwd: new URL('../..', import.meta.url).pathname,
    });
    return new JsonLines(c);
  }

  async function stats(c: JsonLines): Promise<Msg & { stats: Record<string, number> }> {
    c.send({ cmd: 'stats' });
    return (await c.next((m) => m.type === 'stats')) as Msg & { stats: Record<string, number> };
  }

  /** Waits until the source has delivered everything the kernel logged so far (delivered stops changing). */
  async function settle(c: JsonLines): Promise<Msg & { stats: Record<string, number> }> {
    let last = -1;
    for (;;) {
      await sleep(150);
      const s = await stats(c);
      if (s.stats.delivered + s.stats.lost === last) return s;
      last = s.stats.delivered + s.stats.lost;
    }
  }

  function frames(): Frame[] {
    return child.drain((m) => m.type === 'frame') as Frame[];
  }

  before(async () => {
    pair = new NetnsPair();
    loadTable();
    child = startChild();
    const ready = await child.next((m) => m.type === 'ready' || m.type === 'start-failed');
    assert.equal(ready.type, 'ready', JSON.stringify(ready));
    assert.equal(ready.overrunGuard, true, 'NETLINK_NO_ENOBUFS set on the socket');
  });

  after(() => {
    pair?.destroy();
  });

  test('the group is bound once: a second listener gets PW_ERR_CAPTURE_LIVE', async () => {
    const lines = pair.must(pair.protectedNs, 'cat', ['/proc/net/netfilter/nfnetlink_log']);
    assert.match(lines, new RegExp(`^\\s*${GROUP}\\s`, 'm'));
    const second = startChild();
    const m = await second.next((x) => x.type === 'ready' || x.type === 'start-failed');
    assert.equal(m.type, 'start-failed');
    assert.equal(m.code, 'PW_ERR_CAPTURE_LIVE');
  });

  test('(a) SYN scan of 50 ports: the scanner\'s SYNs in, the protected host\'s RSTs out', async () => {
    frames();
    pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-sS', '-p', '1-50', '--max-retries', '0', PROTECTED4]);
    await settle(child);
    const got = frames();
    assert.ok(got.every((f) => f.valid === true && f.linkType === LinkType.RAW && (f.length as number) <= DEFAULT_NFLOG_SNAPLEN), 'decodable raw IP, snapped');
    const synPorts = new Set(got.filter((f) => f.src === ATTACKER4 && f.dst === PROTECTED4 && f.proto === 6 && (f.flags & (SYN | ACK)) === SYN).map((f) => f.dport));
    const rstPorts = new Set(got.filter((f) => f.src === PROTECTED4 && f.dst === ATTACKER4 && f.proto === 6 && (f.flags & RST) !== 0).map((f) => f.sport));
    const all = Array.from({ length: 50 }, (_, i) => i + 1);
    assert.deepEqual([...synPorts].sort((a, b) => a - b), all);
    assert.deepEqual([...rstPorts].sort((a, b) => a - b), all);
    // Input packets carry the kernel's timestamp (microseconds); none is in the future.
    assert.ok(got.every((f) => (f.tsUs as number) <= Date.now() * 1000 + 1000));
  });

  test('(b) an established transfer (1 MiB over one connection) yields a handful of frames, not one per packet', async (t) => {
    frames();
    const before = counters().byComment;
    const server = pair.spawn(pair.protectedNs, process.execPath, [
      '-e',
      `const net = require('net'); let n = 0;
       net.createServer((s) => { s.on('data', (d) => { n += d.length; }); s.on('end', () => { console.log(n); process.exit(0); }); })
         .listen(8080, '${PROTECTED4}', () => console.log('listening'));`,
    ]);
    await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
    pair.must(pair.attacker, process.execPath, [
      '-e',
      `const net = require('net'); const s = net.connect(8080, '${PROTECTED4}', () => s.end(Buffer.alloc(1 << 20, 7))); s.resume();`,
    ]);
    const received = await new Promise<string>((resolve) => server.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    assert.equal(received, String(1 << 20));
    await settle(child);
    const got = frames().filter((f) => f.proto === 6 && (f.dport === 8080 || f.sport === 8080));
    const after = counters().byComment;
    const onWire = after['test: bulk transfer in'] - (before['test: bulk transfer in'] ?? 0) + after['test: bulk transfer out'] - (before['test: bulk transfer out'] ?? 0);
    t.diagnostic(`1 MiB transfer: ${onWire} packets through the chains, ${got.length} frames delivered`);
    const kinds = got.map((f) => `${f.src}>${f.dst}:${f.flags}`);
    // The SYN (new) and the SYN-ACK (an answer); nothing of the data or the close.
    assert.deepEqual(kinds.sort(), [`${ATTACKER4}>${PROTECTED4}:${SYN}`, `${PROTECTED4}>${ATTACKER4}:${SYN | ACK}`].sort());
    assert.ok(onWire >= 20 * got.length, `${onWire} packets on the wire, ${got.length} frames`);
  });

  test('(c) IPv6 probes are captured too (and neighbour discovery is not)', async () => {
    frames();
    pair.must(pair.attacker, 'nmap', ['-6', '-Pn', '-n', '-sS', '-p', '1-20', '--max-retries', '0', PROTECTED6]);
    await settle(child);
    const got = frames();
    const syn = new Set(got.filter((f) => f.v === 6 && f.src === ATTACKER6 && f.proto === 6 && (f.flags & (SYN | ACK)) === SYN).map((f) => f.dport));
    const rst = new Set(got.filter((f) => f.v === 6 && f.src === PROTECTED6 && f.proto === 6 && (f.flags & RST) !== 0).map((f) => f.sport));
    assert.equal(syn.size, 20);
    assert.equal(rst.size, 20);
    assert.ok(!got.some((f) => f.proto === 58 && (f.icmpType as number) >= 133 && (f.icmpType as number) <= 137), 'no NDP');
  });

  test('(d) ICMP port unreachable from the protected host is captured with its quote (IPv4 and IPv6)', async () => {
    frames();
    pair.must(pair.attacker, 'hping3', ['-q', '--udp', '-s', '5353', '-k', '-p', '33434', '-c', '1', PROTECTED4]);
    pair.must(pair.attacker, 'nmap', ['-6', '-Pn', '-n', '-sU', '-p', '33435', '--max-retries', '0', PROTECTED6]);
    await settle(child);
    const got = frames();
    const u4 = got.find((f) => f.v === 4 && f.proto === 1 && f.icmpType === 3 && f.icmpCode === 3);
    assert.ok(u4, JSON.stringify(got));
    assert.deepEqual([u4.src, u4.dst, u4.qproto, u4.qsrc, u4.qdst, u4.qsport, u4.qdport], [PROTECTED4, ATTACKER4, 17, ATTACKER4, PROTECTED4, 5353, 33434]);
    const u6 = got.find((f) => f.v === 6 && f.proto === 58 && f.icmpType === 1 && f.icmpCode === 4);
    assert.ok(u6, JSON.stringify(got));
    assert.deepEqual([u6.src, u6.dst, u6.qproto, u6.qsrc, u6.qdst, u6.qdport], [PROTECTED6, ATTACKER6, 17, ATTACKER6, PROTECTED6, 33435]);
    // The UDP probes themselves are first contacts.
    assert.ok(got.some((f) => f.v === 4 && f.proto === 17 && f.dport === 33434));
  });

  test('(e) after stop(): the socket is closed, the group unbound, nothing more delivered', async () => {
    const s0 = await settle(child);
    const portId = s0.portId as number;
    assert.ok(portId > 0);
    const netlinkBefore = pair.must(pair.protectedNs, 'cat', ['/proc/net/netlink']);
    assert.ok(netlinkBefore.split('\n').some((l) => l.trim().split(/\s+/)[2] === String(portId)));
    child.send({ cmd: 'stop' });
    const stopped = await child.next((m) => m.type === 'stopped');
    assert.equal(stopped.running, false);
    assert.equal(stopped.portId, 0);
    frames();
    const loggedBefore = counters().logged;
    pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-sS', '-p', '100-120', '--max-retries', '0', PROTECTED4]);
    await sleep(300);
    const s1 = await stats(child);
    assert.ok(counters().logged > loggedBefore, 'the rules still matched');
    assert.equal(s1.stats.delivered, s0.stats.delivered);
    assert.equal(frames().length, 0);
    assert.equal(s1.running, false);
    const netlinkAfter = pair.must(pair.protectedNs, 'cat', ['/proc/net/netlink']);
    assert.ok(!netlinkAfter.split('\n').some((l) => l.trim().split(/\s+/)[2] === String(portId)), 'socket gone');
    const groups = pair.must(pair.protectedNs, 'cat', ['/proc/net/netfilter/nfnetlink_log']);
    assert.doesNotMatch(groups, new RegExp(`^\\s*${GROUP}\\s`, 'm'), 'group unbound');
    child.send({ cmd: 'exit' });
  });

  /** A burst against the protected host; afterwards one more probe, so a loss at the very end shows as a sequence gap too. */
  async function burst(c: JsonLines, hping: string[]): Promise<{ s: Msg & { stats: Record<string, number> }; logged: number; sent: number; ms: number }> {
    const ready = await c.next((m) => m.type === 'ready' || m.type === 'start-failed');
    assert.equal(ready.type, 'ready', JSON.stringify(ready));
    assert.equal(ready.overrunGuard, true);
    c.send({ cmd: 'print', on: false });
    await c.next((m) => m.type === 'print');
    const s0 = await stats(c);
    const logged0 = counters().logged;
    c.send({ cmd: 'mark' });
    await c.next((m) => m.type === 'marked');
    const t0 = performance.now();
    const r = pair.run(pair.attacker, 'hping3', hping);
    const ms = performance.now() - t0;
    const sent = Number(/(\d+) packets transmitted/.exec(r.stdout + r.stderr)?.[1] ?? NaN);
    await settle(c);
    pair.must(pair.attacker, 'hping3', ['-q', '-S', '-p', '9', '-c', '1', PROTECTED4]);
    const s = await settle(c);
    const logged = counters().logged - logged0;
    s.stats = Object.fromEntries(Object.entries(s.stats).map(([k, v]) => [k, k === 'receiveBufferBytes' ? v : v - s0.stats[k]]));
    return { s, logged, sent, ms };
  }

  function report(t: { diagnostic: (m: string) => void }, name: string, r: Awaited<ReturnType<typeof burst>>): void {
    const st = r.s.stats;
    const cpuUs = (r.s.cpuUserUs as number) + (r.s.cpuSystemUs as number);
    t.diagnostic(
      `${name}: ${r.sent} SYNs in ${r.ms.toFixed(0)} ms (${((r.sent / r.ms) * 1000).toFixed(0)}/s); kernel logged ${r.logged} ` +
        `(SYNs + RSTs); delivered ${st.delivered}, lost ${st.lost}, overruns ${st.overruns}, datagrams ${st.datagrams}, ` +
        `batch switches ${st.batchSwitches}; CPU ${(cpuUs / Math.max(1, r.s.deliveredSinceMark as number)).toFixed(2)} µs per frame (decode included)`,
    );
  }

  test('(f) a burst: every packet the kernel logged is delivered or counted as lost', async (t) => {
    const c = startChild();
    const r = await burst(c, ['-q', '-S', '-p', '80', '-i', 'u10', '-c', '20000', PROTECTED4]);
    report(t, 'default settings', r);
    assert.equal(r.sent, 20000);
    assert.equal(r.s.stats.delivered + r.s.stats.lost, r.logged);
    assert.equal(r.s.stats.malformed, 0);
    assert.ok(r.logged >= 2 * 20000, 'every SYN and its RST logged');
    c.send({ cmd: 'stop' });
    await c.next((m) => m.type === 'stopped');
    c.send({ cmd: 'exit' });
  });

  test('(f) an overflowing burst (8 KiB buffer, no batching): loss is counted and the source keeps running', async (t) => {
    const c = startChild({ bufferBytes: 4096, batchPackets: 1 });
    const r = await burst(c, ['-q', '-S', '-p', '80', '-i', 'u1', '-c', '20000', PROTECTED4]);
    report(t, 'tiny buffer', r);
    assert.ok(r.s.stats.lost > 0, 'the kernel dropped some');
    assert.equal(r.s.stats.delivered + r.s.stats.lost, r.logged);
    assert.equal(r.s.running, true);
    // Still delivering after the overflow.
    c.send({ cmd: 'print', on: true });
    await c.next((m) => m.type === 'print');
    pair.must(pair.attacker, 'hping3', ['-q', '-S', '-p', '11', '-c', '1', PROTECTED4]);
    const f = await c.next((m) => m.type === 'frame' && m.dport === 11);
    assert.equal(f.src, ATTACKER4);
    c.send({ cmd: 'exit' });
  });

  test('every namespace is removed at the end', () => {
    pair.destroy();
    assert.deepEqual(liveNamespaces(), []);
    assert.deepEqual(systemNamespaces(`pwlog-${process.pid}-`), []);
  });
});
