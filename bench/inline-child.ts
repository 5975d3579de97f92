/**
 * Child of the inline benchmark (bench/inline.ts); prints one JSON line.
 *   blocklist N            load N names from a generated file; memory; lookup ns (hit and miss)
 *   filter Q               run the inline filter (DNS, empty list, no query log) on queue Q until SIGTERM
 *   blast ADDR COUNT       send COUNT DNS queries to ADDR:53 as fast as possible
 *   latency ADDR COUNT     COUNT sequential queries to ADDR:53: median and p99 round trip (µs)
 */
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBlocklists } from '../src/dns/blocklist-file.js';
import { InlineFilter } from '../src/inline/inline.js';
import { createLogger } from '../src/observe/log.js';

const [mode, a, b] = process.argv.slice(2);

function query(id: number, name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

if (mode === 'blocklist') {
  const n = Number(a);
  const file = join(tmpdir(), `pw-bench-blocklist-${process.pid}.txt`);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`host${i}.tracker${i % 5000}.example`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  lines.length = 0;
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const { blocklist } = loadBlocklists([file]);
  const loadMs = performance.now() - t0;
  globalThis.gc?.();
  const mem = process.memoryUsage();
  const hits = Array.from({ length: 1000 }, (_, i) => `www.cdn.host${(i * 997) % n}.tracker${((i * 997) % n) % 5000}.example`);
  const misses = Array.from({ length: 1000 }, (_, i) => `www.cdn.other${i}.site${i}.example`);
  const time = (names: string[]) => {
    let found = 0;
    const rounds = 500;
    const t = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) for (const name of names) if (blocklist.match(name) !== null) found++;
    return { ns: Number(process.hrtime.bigint() - t) / (rounds * names.length), found };
  };
  time(hits);
  const hit = time(hits);
  const miss = time(misses);
  process.stdout.write(`${JSON.stringify({ names: blocklist.size, loadMs, tableMiB: blocklist.memoryBytes / 2 ** 20, heapMiB: (mem.heapUsed - heapBefore) / 2 ** 20, externalMiB: mem.external / 2 ** 20, rssMiB: (mem.rss - rssBefore) / 2 ** 20, hitNs: hit.ns, missNs: miss.ns, hitsFound: hit.found > 0, missesFound: miss.found })}\n`);
} else if (mode === 'filter') {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const log = createLogger({ stream: sink, format: 'json', level: 'warn' });
  const f = InlineFilter.start({
    inline: { enabled: true, backend: 'iptables', queue: Number(a), queues: 1, cpuFanout: false, dns: true, tcpPorts: [], forward: false, failOpen: true, maxlen: 65536, copyBytes: 512, rcvbufBytes: 16 << 20, watchdogMs: 1000 },
    dns: { blocklists: [], strictLists: false, action: 'nxdomain', sinkhole4: '0.0.0.0', sinkhole6: '::', answerTtlSeconds: 60, malformed: 'accept', logQueries: 'none', answerMaxPerSecond: 1_000_000, answerBurst: 1_000_000, answerPerSourcePerSecond: 1_000_000, answerPerSourceBurst: 1_000_000, answerMaxSources: 65536 },
    log,
  });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    const c = f.counterValues();
    f.stop();
    process.stdout.write(`${JSON.stringify(c)}\n`);
    process.exit(0);
  });
  setInterval(() => undefined, 1 << 30);
} else if (mode === 'blast') {
  const count = Number(b);
  const s = dgram.createSocket('udp4');
  const q = query(1, 'www.bench.example');
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const burst = () => {
      let pending = 0;
      for (let i = 0; i < 256 && sent < count; i++, sent++) {
        pending++;
        s.send(q, 53, a, () => {
          if (--pending === 0) {
            if (sent < count) setImmediate(burst);
            else resolve();
          }
        });
      }
    };
    burst();
  });
  process.stdout.write(`${JSON.stringify({ sent, seconds: (performance.now() - t0) / 1000 })}\n`);
  s.close();
} else if (mode === 'latency') {
  const count = Number(b);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, r));
  const rtts: number[] = [];
  let lost = 0;
  for (let i = 0; i < count; i++) {
    const q = query(i & 0xffff, `q${i}.lab.test`);
    const t = process.hrtime.bigint();
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => (s.off('message', on), resolve(false)), 1000);
      const on = () => (clearTimeout(timer), s.off('message', on), resolve(true));
      s.on('message', on);
      s.send(q, 53, a);
    });
    if (ok) rtts.push(Number(process.hrtime.bigint() - t) / 1000);
    else lost++;
  }
  rtts.sort((x, y) => x - y);
  process.stdout.write(`${JSON.stringify({ count: rtts.length, lost, medianUs: rtts[Math.floor(rtts.length / 2)], p99Us: rtts[Math.floor(rtts.length * 0.99)] })}\n`);
  s.close();
}
