/**
 * NFLOG capture for real, in a pair of network namespaces (attacker ↔ protected) with the prefilter
 * rules in a table of the protected namespace and the source running there as a child process (Node
 * cannot enter a namespace itself). Needs root, nft, nmap and hping3. The rule generator and the
 * parser on built datagrams are in nflog.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_NFLOG_SNAPLEN, nflogPrefilterRules } from './nflog.js';
import { LinkType } from '../model/packet.js';
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

// ---- live, in network namespaces -------------------------------------------------------------

const GROUP = 7;
type Msg = Record<string, unknown>;
type Frame = Msg & { v: number; proto: number; src: string; dst: string; sport: number; dport: number; flags: number };
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NflogSource live (namespaces)', () => {
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
