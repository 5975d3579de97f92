/**
 * `npm run bench -- guard`: what the flood guard buys a service under a spoofed SYN flood. In a lab of
 * two network namespaces, hping3 sends a bounded spoofed SYN flood (at most FLOOD_PACKETS SYNs and
 * 10 s, random sources) to a TCP service with a listen backlog of BACKLOG, while a benign client opens
 * connections one after another (each must be answered within ANSWER_MS). The same run measures, each on a
 * fresh listener:
 *   - without the guard, SYN cookies off: the backlog fills with the flood's half-open connections;
 *   - without the guard, SYN cookies on (Linux's default): the kernel's own defence;
 *   - with the guard: synproxy engaged on the port (what the daemon does on a SYN flood incident).
 * Printed per phase: the benign client's success rate, its completed connections per second (one
 * after another, so slow ones cost), median and p95 connect-and-answer time, the SYNs
 * the victim received, the wall time, and the machine's CPU-seconds (user+sys+softirq, /proc/stat:
 * the kernel's packet work is softirq time no process is charged for).
 *
 * Nothing touches the initial namespace: the veth pair is made inside the victim's namespace, the
 * victim's default route points at the attacker's namespace (which does not forward, so SYN-ACKs to
 * spoofed sources end there), both namespaces are deleted at the end, also on failure.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildNftRuleset } from '../src/enforce/nft-ruleset.js';
import { floodGuardContribution, synPortText } from '../src/enforce/flood-guard-rules.js';
import { FLOOD_GUARD_PROFILES, type FloodGuardSettings } from '../src/enforce/flood-guard-settings.js';

const VICTIM = '10.98.0.1';
const GATEWAY = '10.98.0.2';
const BENIGN = '10.98.0.3';
const FLOOD_PACKETS = 200_000;
const BACKLOG = 128;
/** A connection counts when its answer arrives within this (one SYN retransmission, 1 s, fits). */
const ANSWER_MS = 3000;

interface Phase {
  name: string;
  syncookies: 0 | 1;
  guard: boolean;
  port: number;
}

const PHASES: readonly Phase[] = [
  { name: 'no guard, SYN cookies off', syncookies: 0, guard: false, port: 8081 },
  { name: 'no guard, SYN cookies on (default)', syncookies: 1, guard: false, port: 8082 },
  { name: 'guard: synproxy on the port', syncookies: 0, guard: true, port: 8083 },
];

interface PhaseResult {
  attempts: number;
  ok: number;
  medianMs: number;
  p95Ms: number;
  synsReceived: number;
  wallSeconds: number;
  cpuSeconds: number;
}

function busyCpuSeconds(): number {
  // cpu  user nice system idle iowait irq softirq steal …, in clock ticks (USER_HZ = 100 on Linux)
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100;
}

class Lab {
  readonly a = `pwbguard-${process.pid}-a`;
  readonly p = `pwbguard-${process.pid}-p`;
  readonly children = new Set<ChildProcess>();

  constructor() {
    for (const ns of [this.p, this.a]) execFileSync('ip', ['netns', 'add', ns]);
    const ipb = (ns: string, lines: string[]) => execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n` });
    ipb(this.p, ['link set lo up', `link add gv type veth peer name ga netns ${this.a}`, `addr add ${VICTIM}/16 dev gv`, 'link set gv up', `route add default via ${GATEWAY}`]);
    ipb(this.a, ['link set lo up', `addr add ${GATEWAY}/16 dev ga`, `addr add ${BENIGN}/16 dev ga`, 'link set ga up']);
  }

  run(ns: string, cmd: string, args: string[], input?: string): string {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { input, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns}: ${r.stderr}`);
    return r.stdout;
  }

  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(c);
    c.once('exit', () => this.children.delete(c));
    return c;
  }

  rxPackets(): number {
    return Number(this.run(this.p, 'cat', ['/sys/class/net/gv/statistics/rx_packets']).trim());
  }

  destroy(): void {
    for (const c of this.children) c.kill('SIGKILL');
    for (const ns of [this.a, this.p]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

function lines(c: ChildProcess, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    c.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (until(out)) resolve(out);
    });
    c.once('exit', (code) => (until(out) ? resolve(out) : reject(new Error(`exited ${String(code)} before it was ready: ${out}`))));
  });
}

async function phase(lab: Lab, ph: Phase): Promise<PhaseResult> {
  lab.run(lab.p, 'sysctl', ['-q', '-w', `net.ipv4.tcp_syncookies=${ph.syncookies}`, `net.ipv4.tcp_max_syn_backlog=${BACKLOG}`]);
  lab.run(lab.p, 'sysctl', ['-q', '-w', `net.netfilter.nf_conntrack_tcp_loose=${ph.guard ? 0 : 1}`]);
  if (ph.guard) lab.run(lab.p, 'nft', ['-f', '-'], synPortText('portwarden', ph.port, 300));
  const server = lab.spawn(lab.p, process.execPath, ['-e', `require('net').createServer(c=>{c.on('error',()=>{});c.once('data',()=>c.end('ok\\n'))}).listen({host:'${VICTIM}',port:${ph.port},backlog:${BACKLOG}},()=>console.log('listening'))`]);
  await lines(server, (t) => t.includes('listening'));
  // The benign client: one connection after another until its stdin closes; one line per attempt.
  const client = lab.spawn(lab.a, process.execPath, [
    '-e',
    `const net=require('net');let stop=false;process.stdin.on('end',()=>stop=true);process.stdin.resume();const one=()=>new Promise(r=>{const t0=process.hrtime.bigint();const c=net.connect({host:'${VICTIM}',port:${ph.port},localAddress:'${BENIGN}'},()=>c.write('hi\\n'));let d='';const t=setTimeout(()=>{c.destroy();r(-1)},${ANSWER_MS});c.on('data',b=>d+=b);c.on('error',()=>{clearTimeout(t);r(-1)});c.on('close',()=>{clearTimeout(t);r(d==='ok\\n'?Number(process.hrtime.bigint()-t0)/1e6:-1)})});(async()=>{while(!stop){console.log(await one())}process.exit(0)})();`,
  ]);
  const results = lines(client, () => false).catch((e: Error) => e.message);
  const rx0 = lab.rxPackets();
  const cpu0 = busyCpuSeconds();
  const t0 = process.hrtime.bigint();
  const flood = lab.spawn(lab.a, 'timeout', ['10', 'hping3', '-q', '-S', '-p', String(ph.port), '--rand-source', '-i', 'u1', '-c', String(FLOOD_PACKETS), VICTIM]);
  await new Promise((r) => flood.once('exit', r));
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuSeconds = busyCpuSeconds() - cpu0;
  const synsReceived = lab.rxPackets() - rx0;
  client.stdin?.end();
  const out = await results;
  server.kill('SIGKILL');
  if (ph.guard) lab.run(lab.p, 'nft', ['delete', 'element', 'inet', 'portwarden', 'guard_syn_ports', `{ ${ph.port} }`]);
  const times = out
    .split('\n')
    .filter((l) => l.trim() !== '' && !Number.isNaN(Number(l)))
    .map(Number);
  const good = times.filter((t) => t >= 0).sort((a, b) => a - b);
  return { attempts: times.length, ok: good.length, medianMs: good.length > 0 ? good[Math.floor(good.length / 2)] : NaN, p95Ms: good.length > 0 ? good[Math.min(good.length - 1, Math.floor(good.length * 0.95))] : NaN, synsReceived, wallSeconds, cpuSeconds };
}

export async function guardSuite(): Promise<void> {
  process.stdout.write(`== guard: a benign client's TCP connections during a spoofed SYN flood (hping3 --rand-source, ${FLOOD_PACKETS.toLocaleString('en-US')} SYNs or 10 s), listen backlog ${BACKLOG}, answer within ${ANSWER_MS} ms\n`);
  const lab = new Lab();
  const onSignal = () => lab.destroy();
  process.once('exit', onSignal);
  try {
    const s = structuredClone(FLOOD_GUARD_PROFILES.normal) as FloodGuardSettings;
    lab.run(lab.p, 'nft', ['-f', '-'], buildNftRuleset({ contributions: [floodGuardContribution(s)] }));
    const rows = [['phase', 'benign ok / attempts', 'success', 'benign conn/s', 'median ms', 'p95 ms', 'SYNs received', 'wall s', 'SYNs/s', 'machine CPU-s', 'SYNs per CPU-s']];
    for (const ph of PHASES) {
      const r = await phase(lab, ph);
      rows.push([
        ph.name,
        `${r.ok} / ${r.attempts}`,
        `${((100 * r.ok) / Math.max(1, r.attempts)).toFixed(1)} %`,
        (r.ok / r.wallSeconds).toFixed(1),
        Number.isNaN(r.medianMs) ? '-' : r.medianMs.toFixed(1),
        Number.isNaN(r.p95Ms) ? '-' : r.p95Ms.toFixed(1),
        r.synsReceived.toLocaleString('en-US'),
        r.wallSeconds.toFixed(1),
        Math.round(r.synsReceived / r.wallSeconds).toLocaleString('en-US'),
        r.cpuSeconds.toFixed(1),
        Math.round(r.synsReceived / Math.max(0.01, r.cpuSeconds)).toLocaleString('en-US'),
      ]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i])).join('  ')}\n`);
  } finally {
    process.removeListener('exit', onSignal);
    lab.destroy();
  }
}
