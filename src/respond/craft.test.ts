/**
 * Replies crafted for scanners: decoded back with our own decoder (fields, flags, payload) and their
 * checksums verified (IPv4 header, TCP over the pseudo-header), then once more by tcpdump reading
 * them from a pcap file, which checks checksums independently of our code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../capture/pcap-writer.js';
import { formatIPv4, formatIPv6 } from '../net/address.js';
import { decodeFrame } from '../decode/decoder.js';
import { DecodeStats } from '../decode/events.js';
import { IpProtocol, LinkType, Packet, TcpFlag } from '../model/packet.js';
import { ipv4, ipv6, tcp } from '../../test/support/frames.js';
import { checksum, pseudoHeaderSum } from '../decode/checksum.js';
import { craftReply, type ReplyKind } from './craft.js';

const SCANNER4 = '198.51.100.7';
const HOST4 = '192.0.2.10';
const SCANNER6 = '2001:db8:5::7';
const HOST6 = '2001:db8:6::10';

function decode(frame: Buffer): Packet {
  const p = new Packet();
  decodeFrame(p, frame, 0, frame.length, LinkType.RAW, 0, new DecodeStats());
  assert.equal(p.valid, true, `event ${p.event}`);
  return p;
}

function syn(version: 4 | 6, flags: number = TcpFlag.SYN): Packet {
  const segment = tcp({ srcPort: 51234, dstPort: 8080, seq: 0xfffffffe, flags, window: 1024, options: [2, 4, 0x05, 0xb4] });
  return decode(version === 4 ? ipv4({ src: SCANNER4, dst: HOST4, protocol: IpProtocol.TCP }, segment) : ipv6({ src: SCANNER6, dst: HOST6, nextHeader: IpProtocol.TCP }, segment));
}

function checksumsHold(reply: Buffer, version: 4 | 6): void {
  const ipHeader = version === 4 ? 20 : 40;
  if (version === 4) assert.equal(checksum(reply, 0, 20, 0), 0, 'IPv4 header checksum');
  const tcpLength = reply.length - ipHeader;
  assert.equal(checksum(reply, ipHeader, tcpLength, pseudoHeaderSum(reply, version, 6, tcpLength)), 0, 'TCP checksum');
}

const TEXT = Buffer.from('Try Harder\n');

for (const version of [4, 6] as const) {
  for (const kind of ['syn-ack', 'try-harder'] as ReplyKind[]) {
    test(`IPv${version} ${kind}: from the probed port back to the scanner's port, acknowledging its SYN, checksums right`, () => {
      const probe = syn(version);
      const reply = craftReply(probe, kind, { isn: 0x01020304, payload: TEXT });
      assert.ok(reply !== null);
      checksumsHold(reply, version);
      const r = decode(reply);
      assert.equal(r.ipVersion, version);
      if (version === 4) {
        assert.equal(formatIPv4(r.src4), HOST4);
        assert.equal(formatIPv4(r.dst4), SCANNER4);
      } else {
        assert.equal(formatIPv6(r.buf, r.src6Offset), HOST6);
        assert.equal(formatIPv6(r.buf, r.dst6Offset), SCANNER6);
      }
      assert.equal(r.protocol, IpProtocol.TCP);
      assert.deepEqual([r.srcPort, r.dstPort], [8080, 51234]);
      assert.equal(r.seq, 0x01020304);
      // seq + 1 wraps around 2^32.
      assert.equal(r.ack, 0xffffffff);
      if (kind === 'syn-ack') {
        assert.equal(r.tcpFlags, TcpFlag.SYN | TcpFlag.ACK);
        assert.equal(r.tcpMss, 1460);
        assert.equal(r.payloadLength, 0);
      } else {
        assert.equal(r.tcpFlags, TcpFlag.PSH | TcpFlag.ACK);
        assert.deepEqual(r.buf.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength), TEXT);
      }
    });
  }
}

test('anything but a SYN without ACK gets no reply', () => {
  for (const flags of [TcpFlag.SYN | TcpFlag.ACK, TcpFlag.ACK, TcpFlag.RST, TcpFlag.FIN, TcpFlag.SYN | TcpFlag.RST]) {
    assert.equal(craftReply(syn(4, flags), 'syn-ack', { isn: 1 }), null, `flags ${flags}`);
  }
  const udp = decode(ipv4({ src: SCANNER4, dst: HOST4, protocol: IpProtocol.UDP }, [0, 53, 0, 53, 0, 8, 0, 0]));
  assert.equal(craftReply(udp, 'try-harder', { isn: 1, payload: TEXT }), null);
});

test('an odd-length payload is checksummed with its last byte padded', () => {
  const reply = craftReply(syn(4), 'try-harder', { isn: 7, payload: Buffer.from('odd') });
  assert.ok(reply !== null);
  checksumsHold(reply, 4);
});

test('tcpdump, reading the replies from a pcap file, finds every checksum correct', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-craft-'));
  try {
    const path = join(dir, 'replies.pcap');
    const writer = new PcapWriter(path, LinkType.RAW);
    let n = 0;
    for (const version of [4, 6] as const) {
      for (const kind of ['syn-ack', 'try-harder'] as ReplyKind[]) {
        const reply = craftReply(syn(version), kind, { isn: 0x89abcdef, payload: Buffer.from('Try Harder!') });
        assert.ok(reply !== null);
        writer.write(1_700_000_000_000_000 + n++, reply);
      }
    }
    writer.close();
    const r = spawnSync('tcpdump', ['-nn', '-vv', '-r', path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => /Flags \[/.test(l));
    assert.equal(lines.length, 4, r.stdout);
    for (const line of lines) assert.match(line, /cksum 0x[0-9a-f]+ \(correct\)/, line);
    assert.equal((r.stdout.match(/\(incorrect/g) ?? []).length, 0, r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
