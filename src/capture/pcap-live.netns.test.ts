/**
 * libpcap live capture through portwarden's own addon (native/pcap), as root: failing opens in this
 * process, then the real thing in a pair of network namespaces, with the sources running
 * in a child process inside the protected one (Node cannot enter a namespace itself) and real
 * nmap, hping3 and TCP transfers sent from the attacker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortwardenError } from '../errors.js';
import { LinkType } from '../model/packet.js';
import { PcapLiveSource } from './pcap-live.js';
import { ATTACKER4, JsonLines, NetnsPair, PROTECTED4, PROTECTED6 } from '../../test/support/testkit-netns.js';

const isCaptureError = (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_CAPTURE_LIVE';

describe('PcapLiveSource in this process (opening devices needs root)', () => {
  test('a missing interface: PW_ERR_CAPTURE_LIVE naming it and libpcap\'s reason; stop() after the failed start, twice, and a second start fail cleanly', async () => {
    const name = `pwno${process.pid % 100000}`;
    const s = new PcapLiveSource({ interface: name, onFrame: () => {} });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(s.start(), (e: unknown) => isCaptureError(e) && (e as Error).message.includes(name) && /no such device/i.test((e as Error).message));
      s.stop();
      s.stop();
    }
    assert.equal(s.running, false);
    assert.deepEqual({ delivered: s.stats.delivered, lost: s.stats.lost }, { delivered: 0, lost: 0 });
  });

  test('a filter libpcap cannot compile: PW_ERR_CAPTURE_LIVE naming the interface and the parse error', async () => {
    const s = new PcapLiveSource({ interface: 'lo', filter: 'tcp and and', onFrame: () => {} });
    await assert.rejects(s.start(), (e: unknown) => isCaptureError(e) && /libpcap on lo: .*filter.*syntax error/.test((e as Error).message));
    s.stop();
  });
});

// ---- live, in network namespaces -------------------------------------------------------------

const OTHER_SRC = '10.77.0.50';
const OTHER_DST = '10.77.0.99';
const OTHER_MAC = '02:00:00:00:00:99';
const PORT = 8080;

type Msg = Record<string, unknown>;
interface Frame {
  label: string;
  tsUs: number;
  linkType: number;
  caplen: number;
  wirelen: number;
  hex: string;
}
type Stats = Record<string, { delivered: number; lost: number; received: number; truncated: number; batches: number; running: boolean }>;

const CHILD = `
import { PcapLiveSource } from ${JSON.stringify(fileURLToPath(new URL('./pcap-live.ts', import.meta.url)))};
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
const opts = JSON.parse(process.argv[2]);
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const sources = new Map();
for (const o of opts.sources) {
  const { label, stopAfter, ...rest } = o;
  let seen = 0;
  const s = new PcapLiveSource({ ...rest,
    onFrame(buf, offset, length, tsUs, linkType, wirelen) {
      if (opts.quiet !== true) out({ type: 'frame', label, tsUs, linkType, caplen: length, wirelen, hex: buf.toString('hex', offset, offset + length) });
      if (stopAfter !== undefined && ++seen === stopAfter) { s.stop(); out({ type: 'stopped-inside', label }); }
    },
    onError(e) { out({ type: 'error', label, code: e.code, message: e.message }); } });
  sources.set(label, s);
}
// A server that reads everything and answers with 256 KiB: data segments both ways.
for (const host of opts.listen ?? []) createServer((c) => { c.on('data', () => {}); c.on('error', () => {}); c.end(Buffer.alloc(262144, 7)); }).listen(${PORT}, host);
const snapshot = () => Object.fromEntries([...sources].map(([k, s]) => { const t = s.stats; return [k, { delivered: t.delivered, lost: t.lost, received: t.received, truncated: t.truncated, batches: t.batches, running: s.running }]; }));
createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line);
  if (m.cmd === 'stats') out({ type: 'stats', stats: snapshot() });
  else if (m.cmd === 'stop') { for (const s of sources.values()) { s.stop(); s.stop(); } out({ type: 'stopped', stats: snapshot() }); }
  else if (m.cmd === 'stall') { const end = Date.now() + m.ms; while (Date.now() < end); out({ type: 'stalled' }); }
  else if (m.cmd === 'cycle') {
    const s = sources.get(m.label);
    for (let i = 0; i < m.times; i++) { s.stop(); await s.start(); await new Promise((r) => setTimeout(r, m.ms)); }
    out({ type: 'cycled', stats: snapshot() });
  }
  else if (m.cmd === 'exit') process.exit(0);
});
try {
  for (const s of sources.values()) await s.start();
  out({ type: 'ready', linkTypes: [...sources.values()].map((s) => s.linkType) });
} catch (e) { out({ type: 'start-failed', code: e.code, message: e.message }); process.exit(3); }
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

/** What one Ethernet frame is, read from its bytes: enough to say whether the prefilter must keep it. */
function dissect(hex: string): { ip: 0 | 4 | 6; proto: number; flags: number; payload: number; laterFragment: boolean; src: string; dst: string; sport: number; dport: number } {
  const b = Buffer.from(hex, 'hex');
  const type = b.readUInt16BE(12);
  const none = { ip: 0 as const, proto: -1, flags: 0, payload: 0, laterFragment: false, src: '', dst: '', sport: 0, dport: 0 };
  if (type === 0x0800) {
    const ihl = (b[14] & 0x0f) * 4;
    const proto = b[14 + 9];
    const laterFragment = (b.readUInt16BE(14 + 6) & 0x1fff) !== 0;
    const src = [...b.subarray(26, 30)].join('.');
    const dst = [...b.subarray(30, 34)].join('.');
    const t = 14 + ihl;
    if (proto !== 6 || laterFragment) return { ...none, ip: 4, proto, laterFragment, src, dst, sport: proto === 17 ? b.readUInt16BE(t) : 0, dport: proto === 17 ? b.readUInt16BE(t + 2) : 0 };
    const payload = b.readUInt16BE(16) - ihl - (b[t + 12] >> 4) * 4;
    return { ip: 4, proto, flags: b[t + 13], payload, laterFragment, src, dst, sport: b.readUInt16BE(t), dport: b.readUInt16BE(t + 2) };
  }
  if (type === 0x86dd) {
    const proto = b[14 + 6];
    if (proto !== 6) return { ...none, ip: 6, proto };
    const t = 54;
    return { ...none, ip: 6, proto, flags: b[t + 13], payload: b.readUInt16BE(18) - (b[t + 12] >> 4) * 4, sport: b.readUInt16BE(t), dport: b.readUInt16BE(t + 2) };
  }
  return none;
}

/** The prefilter's promise: everything but non-IP frames and TCP segments that carry data (PSH or payload) with ACK and nothing else that matters. */
function mustKeep(hex: string): boolean {
  const d = dissect(hex);
  // ARP (EtherType 0x0806 after the two MAC addresses): host discovery on the link.
  if (d.ip === 0) return hex.slice(24, 28) === '0806';
  if (d.proto !== 6 || d.laterFragment) return true;
  return (d.flags & 0x27) !== 0 || (d.flags & ACK) === 0 || ((d.flags & PSH) === 0 && d.payload === 0);
}

describe('PcapLiveSource live (namespaces)', () => {
  let pair: NetnsPair;
  let dir = '';
  let childFile = '';
  const children: JsonLines[] = [];

  async function startChild(options: Msg): Promise<JsonLines> {
    const c = new JsonLines(
      pair.spawn(pair.protectedNs, process.execPath, ['--import', 'tsx', childFile, JSON.stringify(options)], { cwd: fileURLToPath(new URL('../..', import.meta.url)) }),
    );
    children.push(c);
    const m = await c.next((x) => x.type === 'ready' || x.type === 'start-failed');
    assert.equal(m.type, 'ready', JSON.stringify(m));
    assert.ok((m.linkTypes as number[]).every((l) => l === LinkType.ETHERNET));
    return c;
  }

  async function stats(c: JsonLines): Promise<Stats> {
    c.send({ cmd: 'stats' });
    return (await c.next((m) => m.type === 'stats')).stats as Stats;
  }

  /** Waits until no source has delivered anything more for three readings in a row (a busy machine stalls the child now and then). */
  async function settle(c: JsonLines): Promise<Stats> {
    let last = '';
    for (let still = 0; ; ) {
      await sleep(250);
      const s = await stats(c);
      const now = JSON.stringify(Object.values(s).map((x) => [x.delivered, x.received]));
      still = now === last ? still + 1 : 0;
      if (still === 3) return s;
      last = now;
    }
  }

  const frames = (c: JsonLines, label?: string) => c.drain((m) => m.type === 'frame' && (label === undefined || m.label === label)) as unknown as Frame[];
  const hping = (...args: string[]) => pair.must(pair.attacker, 'hping3', ['-q', ...args]);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pwpcap-'));
    childFile = join(dir, 'child.mts');
    writeFileSync(childFile, CHILD);
    pair = new NetnsPair();
    pair.must(pair.attacker, 'ip', ['addr', 'add', `${OTHER_SRC}/24`, 'dev', 'veth0']);
    // OTHER_DST "lives" behind the same link under a MAC that is not the protected host's.
    pair.must(pair.attacker, 'ip', ['neigh', 'add', OTHER_DST, 'lladdr', OTHER_MAC, 'dev', 'veth0', 'nud', 'permanent']);
  });

  after(() => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    pair?.destroy();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('nmap SYN scan: the SYNs and the RSTs back as Ethernet frames with the kernel\'s nanosecond timestamps, never going back; stop() ends delivery', async () => {
    const c = await startChild({ sources: [{ label: 'pf', interface: 'veth1' }] });
    const t0 = Date.now() * 1000;
    pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-sS', '-p', '1-50', '--max-retries', '0', PROTECTED4]);
    await settle(c);
    const got = frames(c).map((f) => ({ ...f, d: dissect(f.hex) }));
    const syns = got.filter((f) => f.d.src === ATTACKER4 && f.d.proto === 6 && (f.d.flags & (SYN | ACK)) === SYN);
    const rsts = got.filter((f) => f.d.src === PROTECTED4 && f.d.proto === 6 && (f.d.flags & RST) !== 0);
    assert.deepEqual([...new Set(syns.map((f) => f.d.dport))].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(new Set(rsts.map((f) => f.d.sport)).size, 50);
    for (const f of got) {
      assert.equal(f.linkType, LinkType.ETHERNET);
      assert.ok(f.tsUs >= t0 - 1_000_000 && f.tsUs <= Date.now() * 1000, `tsUs ${f.tsUs} is µs since the epoch`);
      assert.ok(f.caplen <= 128 && f.wirelen >= f.caplen);
    }
    for (let i = 1; i < got.length; i++) assert.ok(got[i].tsUs >= got[i - 1].tsUs, 'timestamps never go backwards');
    // The kernel's stamps, not the read time: within one batch they differ below the millisecond.
    assert.ok(got.some((f) => f.tsUs % 1000 !== 0), 'sub-millisecond stamps');

    c.send({ cmd: 'stop' });
    const stopped = (await c.next((m) => m.type === 'stopped')).stats as Stats;
    assert.equal(stopped.pf.running, false);
    assert.equal(stopped.pf.delivered, got.length);
    pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-sS', '-p', '51-80', '--max-retries', '0', PROTECTED4]);
    await sleep(300);
    assert.equal((await stats(c)).pf.delivered, got.length, 'nothing delivered after stop()');
    assert.equal(frames(c).length, 0);
    c.send({ cmd: 'exit' });
  });

  test('the prefilter keeps probes, answers, handshake ACKs, UDP, ICMP and IPv6 probes, and drops data segments: frame for frame against an unfiltered capture', async () => {
    const c = await startChild({ sources: [{ label: 'pf', interface: 'veth1' }, { label: 'all', interface: 'veth1', filter: '' }], listen: [PROTECTED4, PROTECTED6] });
    for (const flags of [['-S'], ['-F'], ['-F', '-P', '-U'], [], ['-A'], ['-A', '-U'], ['-F', '-A'], ['-A', '-d', '200'], ['-A', '-P', '-d', '200'], ['-A', '-P']]) {
      hping(...flags, '-p', '9', '-c', '2', '-i', 'u20000', PROTECTED4);
    }
    hping('--udp', '-p', '53', '-c', '2', '-i', 'u20000', PROTECTED4);
    hping('--icmp', '-c', '2', '-i', 'u20000', PROTECTED4);
    pair.must(pair.attacker, 'nmap', ['-6', '-Pn', '-n', '-sS', '-p', '1-5', '--max-retries', '0', PROTECTED6]);
    // Real connections with data both ways, IPv4 and IPv6: the handshakes stay, the data goes.
    for (const host of [PROTECTED4, PROTECTED6]) {
      pair.must(pair.attacker, process.execPath, [
        '-e',
        `const s = require('net').connect(${PORT}, '${host}', () => s.end(Buffer.alloc(65536, 1))); let n = 0; s.on('data', (d) => (n += d.length)); s.on('close', () => { if (n !== 262144) { console.error('got ' + n); process.exit(1); } });`,
      ]);
    }
    await settle(c);
    const all = frames(c, 'all');
    const kept = frames(c, 'pf');
    const count = (list: string[]) => {
      const m = new Map<string, number>();
      for (const h of list) m.set(h, (m.get(h) ?? 0) + 1);
      return m;
    };
    const expected = count(all.map((f) => f.hex).filter(mustKeep));
    assert.deepEqual(count(kept.map((f) => f.hex)), expected, 'the filtered capture holds exactly the frames the prefilter promises');
    const keptD = kept.map((f) => dissect(f.hex));
    const dropped = all.filter((f) => !mustKeep(f.hex)).map((f) => dissect(f.hex));
    const tcp4 = (flags: number, payload = 0) => keptD.some((d) => d.ip === 4 && d.proto === 6 && d.flags === flags && d.payload === payload);
    for (const [what, ok] of [
      ['SYN', tcp4(SYN)],
      ['FIN', tcp4(0x01)],
      ['XMAS', tcp4(0x29)],
      ['NULL', tcp4(0)],
      ['ACK probe', tcp4(ACK)],
      ['ACK|URG', tcp4(ACK | 0x20)],
      ['Maimon', tcp4(ACK | 0x01)],
      ['RST answer', tcp4(RST | ACK) || tcp4(RST)],
      ['SYN-ACK', keptD.some((d) => d.proto === 6 && d.flags === (SYN | ACK) && d.sport === PORT)],
      ['handshake ACK', keptD.some((d) => d.ip === 4 && d.proto === 6 && d.flags === ACK && d.dport === PORT)],
      ['UDP', keptD.some((d) => d.proto === 17 && d.dport === 53)],
      ['ICMP', keptD.some((d) => d.proto === 1)],
      ['IPv6 SYN', keptD.some((d) => d.ip === 6 && d.proto === 6 && d.flags === SYN)],
      ['IPv6 handshake ACK', keptD.some((d) => d.ip === 6 && d.proto === 6 && d.flags === ACK && d.dport === PORT)],
    ] as const) {
      assert.ok(ok, `kept: ${what}`);
    }
    assert.ok(dropped.some((d) => d.ip === 4 && d.flags === ACK && d.payload === 200), 'dropped: ACK with data, no PSH');
    assert.ok(dropped.some((d) => d.ip === 4 && d.flags === (ACK | PSH) && d.payload === 0), 'dropped: ACK|PSH');
    for (const v of [4, 6]) assert.ok(dropped.filter((d) => d.ip === v && d.payload > 0 && (d.sport === PORT || d.dport === PORT)).length >= 2, `dropped: IPv${v} data segments`);
    c.send({ cmd: 'exit' });
  });

  test('promiscuous (a mirror port): the interface is switched to it while the source runs, and traffic between two other hosts is captured', async () => {
    const promiscuity = () => Number(/promiscuity (\d+)/.exec(pair.must(pair.protectedNs, 'ip', ['-d', 'link', 'show', 'veth1']))?.[1]);
    const own = await startChild({ sources: [{ label: 'own', interface: 'veth1', filter: 'udp', promiscuous: false }] });
    assert.equal(promiscuity(), 0, 'promiscuous: false leaves the interface as it is');
    own.send({ cmd: 'exit' });
    await new Promise((resolve) => own.child.once('exit', resolve));
    const c = await startChild({ sources: [{ label: 'promisc', interface: 'veth1', filter: 'udp' }] });
    assert.equal(promiscuity(), 1);
    pair.must(pair.attacker, process.execPath, [
      '-e',
      `const s=require('dgram').createSocket('udp4');s.bind(0,'${OTHER_SRC}',()=>{let n=0;const d=()=>{if(++n===2)s.close()};s.send('x',4242,'${OTHER_DST}',d);s.send('y',4242,'${PROTECTED4}',d);});`,
    ]);
    await settle(c);
    const p = frames(c, 'promisc').map((f) => dissect(f.hex));
    assert.ok(p.some((d) => d.src === OTHER_SRC && d.dst === OTHER_DST && d.dport === 4242), JSON.stringify(p));
    assert.ok(p.some((d) => d.dst === PROTECTED4 && d.dport === 4242));
    c.send({ cmd: 'exit' });
    await new Promise((resolve) => c.child.once('exit', resolve));
    assert.equal(promiscuity(), 0, 'given back when the process ends');
  });

  test('stats: 20,000 SYNs all delivered in batches and counted by the kernel; a stalled reader with a small ring loses packets and says how many', async () => {
    const c = await startChild({ quiet: true, sources: [{ label: 'big', interface: 'veth1', filter: `tcp dst port 7` }, { label: 'small', interface: 'veth1', filter: `tcp dst port 7`, bufferBytes: 65536 }] });
    c.send({ cmd: 'stall', ms: 1500 });
    hping('-S', '-p', '7', '-c', '20000', '-i', 'u20', PROTECTED4);
    await c.next((m) => m.type === 'stalled');
    const s = await settle(c);
    assert.equal(s.big.delivered, 20000);
    assert.equal(s.big.lost, 0);
    assert.ok(s.big.batches < 20000, `${s.big.batches} batches for 20,000 frames`);
    assert.ok(s.big.received >= 20000);
    assert.ok(s.small.lost > 0, JSON.stringify(s.small));
    assert.equal(s.small.delivered + s.small.lost, 20000, JSON.stringify(s.small));
    c.send({ cmd: 'exit' });
  });

  test('no crash under load: reopened 30 times during a flood, stopped from inside onFrame, an interface taken away (onError)', async () => {
    const c = await startChild({ quiet: true, sources: [{ label: 'cyc', interface: 'veth1' }, { label: 'inside', interface: 'veth1', stopAfter: 100 }, { label: 'gone', interface: 'veth1' }] });
    const flood = pair.spawn(pair.attacker, 'hping3', ['-q', '-S', '-p', '++1', '-c', '60000', '-i', 'u10', PROTECTED4]);
    const flooded = new Promise((resolve) => flood.once('exit', resolve));
    c.send({ cmd: 'cycle', label: 'cyc', times: 30, ms: 20 });
    const cycled = (await c.next((m) => m.type === 'cycled', 60_000)).stats as Stats;
    assert.equal(cycled.cyc.running, true);
    await c.next((m) => m.type === 'stopped-inside' && m.label === 'inside');
    await flooded;
    const s = await settle(c);
    assert.equal(s.inside.delivered, 100);
    assert.equal(s.inside.running, false);
    assert.ok(s.cyc.delivered > 0 && s.gone.delivered > 0);
    // The interface goes away under a running capture: reported, the source stops, the process lives.
    pair.must(pair.protectedNs, 'ip', ['link', 'del', 'veth1']);
    const err = await c.next((m) => m.type === 'error');
    assert.equal(err.code, 'PW_ERR_CAPTURE_LIVE');
    assert.match(String(err.message), /veth1/);
    const after = await stats(c);
    assert.equal(after.gone.running, false);
    c.send({ cmd: 'exit' });
    assert.equal(await new Promise((resolve) => c.child.once('exit', resolve)), 0);
  });
});
