/**
 * Runs an NFLOG packet source (src/capture/live-sources.ts: the reader and the shared decoder, as
 * the daemon uses them) inside a network namespace (`ip netns exec NS node --import tsx` this file)
 * and speaks JSON lines: one line per decoded packet while printing is on, and answers to commands
 * read from stdin (`print`, `mark`, `stats`, `stop`, `exit`). argv[2] is a JSON object of
 * NflogSource options without onFrame, plus `decode: false` to run the raw reader alone (cost of
 * the source without the decoder).
 */
import { LinkType, type Packet } from '../../src/model/packet.js';
import { formatIPv4, formatIPv6 } from '../../src/net/address.js';
import { NflogSource, type NflogSourceOptions } from '../../src/capture/nflog.js';
import { NflogPacketSource } from '../../src/capture/live-sources.js';
import { PortwardenError } from '../../src/errors.js';
import { createInterface } from 'node:readline';

type ChildOptions = Omit<NflogSourceOptions, 'onFrame' | 'onError'> & { decode?: boolean };
const opts = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const decode = opts.decode !== false;
let print = true;
/** Frames by TCP flag combination / ICMP type, for the burst test (no line per frame there). */
const counts: Record<string, number> = {};

function out(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function addr(v: number, n4: number, off6: number, buf: Buffer): string {
  return v === 4 ? formatIPv4(n4) : off6 >= 0 ? formatIPv6(buf, off6) : '';
}

function onPacket(p: Packet): void {
  const buf = p.buf;
  const key = p.protocol === 6 ? `tcp:${p.tcpFlags}` : `${p.protocol}:${p.icmpType}`;
  counts[key] = (counts[key] ?? 0) + 1;
  if (!print) return;
  out({
    type: 'frame',
    tsUs: p.tsUs,
    lagUs: Date.now() * 1000 - p.tsUs,
    // NFLOG hands over IP packets: the decoder read them as RAW, their length on the wire from the IP header.
    linkType: LinkType.RAW,
    length: p.capturedLength,
    originalLength: p.ipLength,
    valid: p.valid,
    v: p.ipVersion,
    proto: p.protocol,
    src: addr(p.ipVersion, p.src4, p.src6Offset, buf),
    dst: addr(p.ipVersion, p.dst4, p.dst6Offset, buf),
    sport: p.srcPort,
    dport: p.dstPort,
    flags: p.tcpFlags,
    icmpType: p.icmpType,
    icmpCode: p.icmpCode,
    qproto: p.quotedProtocol,
    qsrc: addr(p.ipVersion, p.quotedSrc4, p.quotedSrc6Offset, buf),
    qdst: addr(p.ipVersion, p.quotedDst4, p.quotedDst6Offset, buf),
    qsport: p.quotedSrcPort,
    qdport: p.quotedDstPort,
  });
}

function onError(err: Error): void {
  out({ type: 'error', code: err instanceof PortwardenError ? err.code : '', message: err.message });
}

const packets = decode ? new NflogPacketSource({ ...opts, onError }) : null;
const source = packets?.reader ?? new NflogSource({ ...opts, onFrame() {}, onError });
const decodeStats = packets?.decoder.stats ?? { decoded: 0, malformed: 0 };

let cpuMark = process.cpuUsage();
let deliveredMark = 0;

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as { cmd: string; on?: boolean };
  switch (cmd.cmd) {
    case 'print':
      print = cmd.on === true;
      out({ type: 'print', on: print });
      break;
    case 'mark':
      cpuMark = process.cpuUsage();
      deliveredMark = source.stats.delivered;
      out({ type: 'marked' });
      break;
    case 'stats': {
      const cpu = process.cpuUsage(cpuMark);
      out({
        type: 'stats',
        stats: { ...source.stats },
        decoded: decodeStats.decoded,
        malformedFrames: decodeStats.malformed,
        counts,
        running: source.running,
        batchPackets: source.batchPackets,
        portId: source.portId,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        deliveredSinceMark: source.stats.delivered - deliveredMark,
      });
      break;
    }
    case 'stop':
      source.stop();
      source.stop(); // idempotent
      out({ type: 'stopped', running: source.running, portId: source.portId });
      break;
    case 'exit':
      process.exit(0);
  }
});

(packets !== null ? packets.start(onPacket) : source.start()).then(
  () => out({ type: 'ready', portId: source.portId, receiveBufferBytes: source.stats.receiveBufferBytes, overrunGuard: source.overrunGuard }),
  (err: unknown) => {
    out({ type: 'start-failed', code: err instanceof PortwardenError ? err.code : '', message: (err as Error).message });
    process.exit(3);
  },
);
