import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortwardenError } from '../errors.js';
import { LinkType } from '../decode/packet.js';
import { DEFAULT_PCAP_FILTER, PcapLiveSource, wireLength } from './pcap-live.js';
import { JsonLines } from '../../test/support/nflog-netns.js';

describe('PcapLiveSource (no capture)', () => {
  test('bad options are PW_ERR_CAPTURE_LIVE', () => {
    const onFrame = () => {};
    for (const o of [
      { interface: 'bad name!' },
      { interface: 'x'.repeat(16) },
      { interface: 'eth0', snaplen: 10 },
      { interface: 'eth0', snaplen: 70000 },
      { interface: 'eth0', bufferBytes: 1.5 },
    ]) {
      assert.throws(() => new PcapLiveSource({ onFrame, ...o }), (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_CAPTURE_LIVE', JSON.stringify(o));
    }
    const s = new PcapLiveSource({ interface: 'eth0', onFrame });
    assert.equal(s.filter, DEFAULT_PCAP_FILTER);
    assert.equal(s.snaplen, 128);
    assert.equal(s.bufferBytes, 64 * 1024 * 1024);
    assert.equal(s.promiscuous, true);
    s.stop();
    s.stop();
    assert.equal(s.running, false);
  });

  test('wireLength: from the IP header when cut, never below what was captured', () => {
    const eth = Buffer.alloc(128);
    eth.writeUInt16BE(0x0800, 12);
    eth.writeUInt16BE(1500, 16);
    assert.equal(wireLength(eth, 128, LinkType.ETHERNET), 1514);
    const vlan = Buffer.alloc(128);
    vlan.writeUInt16BE(0x8100, 12);
    vlan.writeUInt16BE(0x86dd, 16);
    vlan.writeUInt16BE(1000, 18 + 4);
    assert.equal(wireLength(vlan, 128, LinkType.ETHERNET), 18 + 40 + 1000);
    const raw = Buffer.alloc(64);
    raw[0] = 0x45;
    raw.writeUInt16BE(20, 2);
    assert.equal(wireLength(raw, 64, LinkType.RAW), 64);
    assert.equal(wireLength(eth, 10, LinkType.ETHERNET), 10);
  });
});

// ---- live, in network namespaces -------------------------------------------------------------

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
function capBuilt(): boolean {
  return spawnSync(process.execPath, ['-e', 'require("cap")'], { stdio: 'ignore', cwd: fileURLToPath(new URL('../..', import.meta.url)) }).status === 0;
}
const liveSkip =
  process.getuid?.() !== 0 ? 'needs root (network namespaces)' : !has('ip') || !has('nmap') ? 'needs ip and nmap' : !capBuilt() ? 'needs the cap package built (libpcap-dev)' : false;

const ATTACKER = '10.78.0.1';
const PROTECTED = '10.78.0.2';
/** Two addresses that are not the protected host's: a mirror port sees such traffic. */
const OTHER_SRC = '10.78.0.50';
const OTHER_DST = '10.78.0.99';
const OTHER_MAC = '02:00:00:00:00:99';
const SYN = 0x02;
const RST = 0x04;

const live = new Set<string>();
const children = new Set<ChildProcess>();
let counter = 0;
function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.clear();
  for (const ns of live) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  live.clear();
}
process.once('exit', cleanup);

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

type Msg = Record<string, unknown>;
type Frame = Msg & { src: string; dst: string; sport: number; dport: number; flags: number; proto: number; linkType: number; tsUs: number };

const CHILD = `
import { PcapLiveSource } from ${JSON.stringify(fileURLToPath(new URL('./pcap-live.ts', import.meta.url)))};
import { decodeFrame } from ${JSON.stringify(fileURLToPath(new URL('../decode/decoder.ts', import.meta.url)))};
import { DecodeStats } from ${JSON.stringify(fileURLToPath(new URL('../decode/events.ts', import.meta.url)))};
import { Packet } from ${JSON.stringify(fileURLToPath(new URL('../decode/packet.ts', import.meta.url)))};
import { formatIPv4 } from ${JSON.stringify(fileURLToPath(new URL('../decode/address.ts', import.meta.url)))};
import { createInterface } from 'node:readline';
const opts = JSON.parse(process.argv[2]);
const decode = opts.decode !== false;
delete opts.decode;
const packet = new Packet();
const ds = new DecodeStats();
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
let cpuMark = process.cpuUsage();
const source = new PcapLiveSource({ ...opts, onFrame(buf, offset, length, tsUs, linkType, originalLength) {
  if (!decode) return;
  decodeFrame(packet, buf, offset, length, linkType, tsUs, ds);
  const p = packet;
  if (p.ipVersion !== 4) return;
  out({ type: 'frame', tsUs, linkType, length, originalLength, proto: p.protocol, src: formatIPv4(p.src4), dst: formatIPv4(p.dst4), sport: p.srcPort, dport: p.dstPort, flags: p.tcpFlags });
} });
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line).cmd;
  if (cmd === 'stop') { source.stop(); source.stop(); out({ type: 'stopped', running: source.running }); }
  else if (cmd === 'mark') { cpuMark = process.cpuUsage(); out({ type: 'marked' }); }
  else if (cmd === 'stats') { const c = process.cpuUsage(cpuMark); out({ type: 'stats', stats: { ...source.stats }, running: source.running, cpuUs: c.user + c.system }); }
  else if (cmd === 'exit') process.exit(0);
});
source.start().then(() => out({ type: 'ready', linkType: source.linkType, filter: source.effectiveFilter() }),
  (e) => { out({ type: 'start-failed', code: e.code, message: e.message }); process.exit(3); });
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PcapLiveSource live (namespaces)', { skip: liveSkip }, () => {
  const base = `pwpcap-${process.pid}-${counter++}`;
  const attacker = `${base}-a`;
  const prot = `${base}-p`;
  let dir = '';
  let childFile = '';

  function exec(ns: string, cmd: string, args: string[]): string {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns} failed (${String(r.status)}): ${r.stderr}`);
    return r.stdout;
  }

  function startChild(options: Msg): JsonLines {
    const c = spawn('ip', ['netns', 'exec', prot, process.execPath, '--import', 'tsx', childFile, JSON.stringify(options)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    children.add(c);
    c.once('exit', () => children.delete(c));
    return new JsonLines(c);
  }

  async function ready(options: Msg): Promise<JsonLines> {
    const c = startChild(options);
    const m = await c.next((x) => x.type === 'ready' || x.type === 'start-failed');
    assert.equal(m.type, 'ready', JSON.stringify(m));
    assert.equal(m.linkType, LinkType.ETHERNET);
    return c;
  }

  async function stats(c: JsonLines): Promise<Msg & { stats: Record<string, number>; cpuUs: number; running: boolean }> {
    c.send({ cmd: 'stats' });
    return (await c.next((m) => m.type === 'stats')) as Msg & { stats: Record<string, number>; cpuUs: number; running: boolean };
  }

  /** Waits until delivered stops changing. */
  async function settle(c: JsonLines): Promise<void> {
    let last = -1;
    for (;;) {
      await sleep(200);
      const s = await stats(c);
      if (s.stats.delivered === last) return;
      last = s.stats.delivered;
    }
  }

  /** UDP datagrams from OTHER_SRC to OTHER_DST (a foreign MAC), and one to the protected host. */
  function sendOther(port: number): void {
    exec(attacker, process.execPath, [
      '-e',
      `const s=require('dgram').createSocket('udp4');s.bind(0,'${OTHER_SRC}',()=>{let n=0;const d=()=>{if(++n===2)s.close()};s.send('x',${port},'${OTHER_DST}',d);s.send('y',${port},'${PROTECTED}',d);});`,
    ]);
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pwpcap-'));
    childFile = join(dir, 'child.ts');
    writeFileSync(childFile, CHILD);
    try {
      for (const ns of [attacker, prot]) {
        ip('netns', 'add', ns);
        live.add(ns);
        ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
      ip('-n', attacker, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', prot);
      ip('-n', attacker, 'addr', 'add', `${ATTACKER}/24`, 'dev', 'veth0');
      ip('-n', attacker, 'addr', 'add', `${OTHER_SRC}/24`, 'dev', 'veth0');
      ip('-n', prot, 'addr', 'add', `${PROTECTED}/24`, 'dev', 'veth1');
      ip('-n', attacker, 'link', 'set', 'veth0', 'up');
      ip('-n', prot, 'link', 'set', 'veth1', 'up');
      // OTHER_DST "lives" behind the same link under a MAC that is not the protected host's.
      ip('-n', attacker, 'neigh', 'add', OTHER_DST, 'lladdr', OTHER_MAC, 'dev', 'veth0', 'nud', 'permanent');
    } catch (err) {
      cleanup();
      throw err;
    }
  });

  after(() => {
    cleanup();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('a bad interface name: PW_ERR_CAPTURE_LIVE naming it', async () => {
    const c = startChild({ interface: 'pwnosuch0' });
    const m = await c.next((x) => x.type === 'ready' || x.type === 'start-failed');
    assert.equal(m.type, 'start-failed');
    assert.equal(m.code, 'PW_ERR_CAPTURE_LIVE');
    assert.match(String(m.message), /pwnosuch0/);
    assert.match(String(m.message), /no such device/);
  });

  test('a filter libpcap cannot compile: PW_ERR_CAPTURE_LIVE naming the interface', async () => {
    const c = startChild({ interface: 'veth1', filter: 'tcp and and' });
    const m = await c.next((x) => x.type === 'ready' || x.type === 'start-failed');
    assert.equal(m.type, 'start-failed');
    assert.equal(m.code, 'PW_ERR_CAPTURE_LIVE');
    assert.match(String(m.message), /veth1/);
  });

  test('SYN scan of 50 ports: the scanner\'s SYNs and the RSTs back, Ethernet frames, µs timestamps; stop() ends delivery', async () => {
    const c = await ready({ interface: 'veth1' });
    const t0 = Date.now() * 1000;
    exec(attacker, 'nmap', ['-Pn', '-n', '-sS', '-p', '1-50', '--max-retries', '0', PROTECTED]);
    await settle(c);
    const frames = c.drain((m) => m.type === 'frame') as Frame[];
    const syns = frames.filter((f) => f.proto === 6 && f.src === ATTACKER && f.dst === PROTECTED && (f.flags & 0x12) === SYN);
    const rsts = frames.filter((f) => f.proto === 6 && f.src === PROTECTED && f.dst === ATTACKER && (f.flags & RST) !== 0);
    assert.equal(new Set(syns.map((f) => f.dport)).size, 50, 'SYN to 50 distinct ports');
    assert.ok(syns.every((f) => f.dport >= 1 && f.dport <= 50));
    assert.equal(new Set(rsts.map((f) => f.sport)).size, 50, 'RST from 50 closed ports');
    for (const f of frames) {
      assert.equal(f.linkType, LinkType.ETHERNET);
      assert.ok(f.tsUs >= t0 - 1_000_000 && f.tsUs <= Date.now() * 1000 + 1000, `tsUs ${f.tsUs} is µs since the epoch`);
    }
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i].tsUs >= frames[i - 1].tsUs, 'timestamps never go backwards');

    c.send({ cmd: 'stop' });
    const stopped = await c.next((m) => m.type === 'stopped');
    assert.equal(stopped.running, false);
    const before = await stats(c);
    exec(attacker, 'nmap', ['-Pn', '-n', '-sS', '-p', '51-80', '--max-retries', '0', PROTECTED]);
    await sleep(300);
    const afterStop = await stats(c);
    assert.equal(afterStop.stats.delivered, before.stats.delivered, 'nothing delivered after stop()');
    assert.equal(c.drain((m) => m.type === 'frame').length, 0);
    c.send({ cmd: 'exit' });
  });

  test('mirror-like: traffic between two other addresses is captured in promiscuous mode (and not without it)', async () => {
    const promisc = await ready({ interface: 'veth1', filter: 'udp' });
    const own = await ready({ interface: 'veth1', filter: 'udp', promiscuous: false });
    sendOther(4242);
    await settle(promisc);
    await settle(own);
    const p = promisc.drain((m) => m.type === 'frame') as Frame[];
    const o = own.drain((m) => m.type === 'frame') as Frame[];
    assert.ok(p.some((f) => f.src === OTHER_SRC && f.dst === OTHER_DST && f.dport === 4242), `promiscuous: ${JSON.stringify(p)}`);
    assert.ok(p.some((f) => f.dst === PROTECTED && f.dport === 4242));
    assert.ok(!o.some((f) => f.dst === OTHER_DST), `not promiscuous: ${JSON.stringify(o)}`);
    assert.ok(o.some((f) => f.dst === PROTECTED && f.dport === 4242), 'own traffic still seen');
    promisc.send({ cmd: 'exit' });
    own.send({ cmd: 'exit' });
  });

  test('every namespace is removed at the end', () => {
    cleanup();
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith(base));
    assert.deepEqual(left, []);
  });
});
