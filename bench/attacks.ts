/**
 * Benchmark inputs shaped like what the product meets beyond a generated mix (issue 11):
 * - a spoofed SYN flood scattered over a /16: every frame from a new source to another host, so no
 *   single target ever sees a flood rate;
 * - a sparse month: ordinary HTTPS sessions spread over 30 days of packet time, where the cost of
 *   detection must follow the traffic, not the span of time.
 * Seeded and reproducible, correct checksums (the frame writers of generate.ts).
 *
 *   npx tsx bench/attacks.ts scattered /tmp/scattered.pcap [SOURCES=1000000]
 *   npx tsx bench/attacks.ts month /tmp/month.pcap [SESSIONS=10000]
 */
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../scripts/frames.js';
import {
  FrameSink,
  OPT_LINUX_SYN,
  OPT_NONE,
  OPT_TS,
  PayloadBlock,
  T0,
  fold,
  ip4,
  mix32,
  pseudo,
  put16,
  put32,
  tcpFrame,
  unusableSource,
  words,
  type GenerateResult,
} from './generate.js';

const FIN = 0x01;
const SYN = 0x02;
const PSH = 0x08;
const ACK = 0x10;
const MAX_FRAME = 14 + 20 + 60 + 1500;

/**
 * `sources` SYNs, each from a source never seen before (a bijective mix of a counter; 0/8, 10/8, 127/8
 * and 224/3 skipped) to a pseudo-random host of 172.16.0.0/16 (so consecutive SYNs hit different hosts,
 * and each host gets about sources / 65,536 SYNs in all), port 80, about 50,000 frames per second of
 * packet time: what a router or a mirror port sees during a spoofed flood against a network.
 */
export function writeScatteredFlood(path: string, sources: number, seed = 1): GenerateResult {
  const r = mulberry32(seed);
  const key = r();
  const sink = new FrameSink(path);
  const b = sink.buf;
  const net = ip4(172, 16, 0, 0);
  const LEN = 54;
  const tpl = Buffer.alloc(LEN);
  tcpFrame(tpl, 0, new PayloadBlock(1), 0, 0, 0, 80, 0, 0, SYN, 512, OPT_NONE, 0, 0, 0, 64, 0, false);
  tpl.fill(0, 14 + 10, 14 + 12); // IP checksum
  tpl.fill(0, 34 + 16, 34 + 18); // TCP checksum
  const ipBase = words(tpl, 14, 20); // all but id, src, dst (zero in the template)
  const tcpBase = pseudo(0, 0, 6, 20) + words(tpl, 34, 20);
  let ts = T0;
  let counter = 0;
  for (let n = 0; n < sources; n++) {
    let src: number;
    do src = mix32((counter++ ^ key) >>> 0);
    while (unusableSource(src, 0) || src >>> 16 === net >>> 16);
    const dst = (net | (mix32((n ^ 0x51ed) >>> 0) & 0xffff)) >>> 0;
    const id = r() & 0xffff;
    const sport = 1024 + (r() % 64512);
    const seq = r();
    const o = sink.begin(LEN);
    tpl.copy(b, o);
    put32(b, o + 2, dst); // MACs follow the addresses, as in generate.ts
    put32(b, o + 8, src);
    put16(b, o + 18, id);
    put32(b, o + 26, src);
    put32(b, o + 30, dst);
    const addr = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
    put16(b, o + 24, fold(ipBase + id + addr));
    put16(b, o + 34, sport);
    put32(b, o + 38, seq);
    put16(b, o + 50, fold(tcpBase + addr + sport + (seq >>> 16) + (seq & 0xffff)));
    ts += 10 + (r() % 21); // 20 µs on average
    sink.commit(ts, LEN);
  }
  sink.close();
  return { frames: sink.frames, bytes: sink.bytes };
}

/**
 * `sessions` HTTPS sessions between 2,000 clients (10.1.0.0/16) and 50 servers (198.51.100.1-50:443),
 * starting at random moments of 30 days of packet time: handshake with Linux options, a request,
 * 1-6 response segments with ACKs, FIN both ways (about 10 frames a session). Each session lasts a few
 * hundred milliseconds; between sessions nothing happens, often for minutes.
 */
export function writeSparseMonth(path: string, sessions: number, seed = 1): GenerateResult {
  const r = mulberry32(seed);
  const rand = (n: number): number => r() % n;
  const pay = new PayloadBlock(seed ^ 0x3c3c3c3c);
  const sink = new FrameSink(path);
  const b = sink.buf;
  const spanUs = 30 * 86_400 * 1e6;
  const starts = Array.from({ length: sessions }, () => T0 + Math.floor((r() / 4294967296) * spanUs)).sort((x, y) => x - y);
  let ts = T0;
  const frame = (len: number): void => sink.commit(ts, len);
  for (const start of starts) {
    if (start > ts) ts = start;
    const c = (ip4(10, 1, 0, 0) + 1 + rand(2000)) >>> 0;
    const v = ip4(198, 51, 100, 1 + rand(50));
    const cport = 32768 + rand(28232);
    let cseq = r() >>> 0;
    let sseq = r() >>> 0;
    const tsC = r() >>> 0;
    const tsS = r() >>> 0;
    let cid = rand(65536);
    let sid = rand(65536);
    const rtt = 2_000 + rand(60_000);
    const step = (us: number): void => {
      ts += us;
    };
    frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, c, v, cport, 443, cseq, 0, SYN, 64240, OPT_LINUX_SYN, tsC, 0, 0, 64, cid++ & 0xffff, true));
    cseq = (cseq + 1) >>> 0;
    step(rtt);
    frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, v, c, 443, cport, sseq, cseq, SYN | ACK, 65160, OPT_LINUX_SYN, tsS, tsC, 0, 64, 0, true));
    sseq = (sseq + 1) >>> 0;
    step(100);
    frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, c, v, cport, 443, cseq, sseq, ACK, 502, OPT_TS, tsC, tsS, 0, 64, cid++ & 0xffff, true));
    const req = 200 + rand(400);
    frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, c, v, cport, 443, cseq, sseq, PSH | ACK, 502, OPT_TS, tsC, tsS, req, 64, cid++ & 0xffff, true));
    cseq = (cseq + req) >>> 0;
    step(rtt);
    const segments = 1 + rand(6);
    for (let i = 0; i < segments; i++) {
      const n = i === segments - 1 ? 100 + rand(1300) : 1448;
      frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, v, c, 443, cport, sseq, cseq, i === segments - 1 ? PSH | ACK : ACK, 509, OPT_TS, tsS, tsC, n, 64, sid++ & 0xffff, true));
      sseq = (sseq + n) >>> 0;
      step(50);
      if (i % 2 === 1 || i === segments - 1) {
        frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, c, v, cport, 443, cseq, sseq, ACK, 502, OPT_TS, tsC, tsS, 0, 64, cid++ & 0xffff, true));
      }
    }
    step(1_000 + rand(2_000_000));
    frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, c, v, cport, 443, cseq, sseq, FIN | ACK, 502, OPT_TS, tsC, tsS, 0, 64, cid++ & 0xffff, true));
    cseq = (cseq + 1) >>> 0;
    step(rtt);
    frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, v, c, 443, cport, sseq, cseq, FIN | ACK, 509, OPT_TS, tsS, tsC, 0, 64, sid++ & 0xffff, true));
    sseq = (sseq + 1) >>> 0;
    step(100);
    frame(tcpFrame(b, sink.begin(MAX_FRAME), pay, c, v, cport, 443, cseq, sseq, ACK, 502, OPT_TS, tsC, tsS, 0, 64, cid++ & 0xffff, true));
  }
  sink.close();
  return { frames: sink.frames, bytes: sink.bytes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [kind, path, countText] = process.argv.slice(2);
  if ((kind !== 'scattered' && kind !== 'month') || !path) {
    console.error('usage: npx tsx bench/attacks.ts scattered|month FILE [COUNT]');
    process.exit(2);
  }
  const res = kind === 'scattered' ? writeScatteredFlood(path, Number(countText ?? 1_000_000)) : writeSparseMonth(path, Number(countText ?? 10_000));
  console.log(`${path}: ${res.frames} frames, ${(res.bytes / 1e6).toFixed(1)} MB`);
}
