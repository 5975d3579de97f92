/**
 * Test helper, not shipped behaviour: a namespace lab for the flood guard. The protected namespace
 * gets the enforcement table (enforce's sets and rules plus the guard's contribution), a default
 * route back through the attacker namespace (so SYN-ACKs to spoofed sources are sent and fill a
 * listener's backlog as they would on a real host; the attacker namespace does not forward, so they
 * end there), a FloodGuard whose nft and sysctl calls run inside the namespace, and an HTTP server.
 * Everything stays inside the two namespaces and is removed with them.
 */
import type { ChildProcess } from 'node:child_process';
import pino from 'pino';
import { buildNftRuleset } from '../../src/enforce/nft-ruleset.js';
import { FloodGuard, type LooseSwitch } from '../../src/enforce/flood-guard.js';
import { floodGuardContribution, GUARD_COUNTERS, type GuardCounterName } from '../../src/enforce/flood-guard-rules.js';
import { FLOOD_GUARD_PROFILES, type FloodGuardSettings } from '../../src/enforce/flood-guard-settings.js';
import { mustIn, NetnsPair, manyAttackersLab, runIn } from './testkit-netns.js';
import { waitUntil } from './daemon-process.js';

export const HTTP_PORT = 8080;

/** Starts a TCP service in `ns` that answers a line with `ok` and closes (the client speaks first). */
export async function serveOk(pair: NetnsPair, ns: string, host: string, port: number, backlog: number, log: LogLine[]): Promise<ChildProcess> {
  const script = `require('net').createServer(c=>{c.on('error',()=>{});c.once('data',()=>c.end('ok\\n'))}).listen({host:'${host}',port:${port},backlog:${backlog}},()=>console.log('listening'));`;
  const child = pair.spawn(ns, process.execPath, ['-e', script]);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  await waitUntil('the lab service to listen', () => out.includes('listening'), 10_000, log);
  return child;
}

/**
 * Opens `count` TCP connections to host:port from `from` in `ns`, one after another, each from source
 * port firstPort + i (a reused port meets the server's TIME_WAIT conntrack entry, which synproxy does
 * not get past: README, Flood protection), each counted when `ok` arrives within `timeoutMs`; the
 * number that succeeded.
 */
export async function connectsFrom(ns: string, o: { host: string; port: number; from: string; firstPort: number; count: number; timeoutMs: number }): Promise<number> {
  const script = `const net=require('net');let ok=0;const one=(i)=>new Promise(r=>{const c=net.connect({host:'${o.host}',port:${o.port},localAddress:'${o.from}',localPort:${o.firstPort}+i},()=>c.write('hi\\n'));let d='';const t=setTimeout(()=>{c.destroy();r(false)},${o.timeoutMs});c.on('data',b=>d+=b);c.on('error',()=>{clearTimeout(t);r(false)});c.on('close',()=>{clearTimeout(t);r(d==='ok\\n')})});(async()=>{for(let i=0;i<${o.count};i++)if(await one(i))ok++;console.log(ok)})();`;
  return Number((await runIn(ns, process.execPath, ['-e', script])).stdout.trim());
}

/** Settings with every part on, quick to release (tests wait for it). */
export function labSettings(over: Partial<FloodGuardSettings> = {}): FloodGuardSettings {
  const base = structuredClone(FLOOD_GUARD_PROFILES.normal) as FloodGuardSettings;
  return {
    ...base,
    synproxy: { ...base.synproxy, onFlood: true, minSeconds: 1, quietSeconds: 2 },
    unsolicited: { ...base.unsolicited, mode: 'on-flood', minSeconds: 1, quietSeconds: 2 },
    checkEveryMs: 200,
    ...over,
  };
}

export interface LogLine {
  'event.action'?: string;
  msg?: string;
  [key: string]: unknown;
}

export class GuardLab {
  readonly pair: NetnsPair;
  readonly victim: string;
  /** Attacker-side addresses: [0] floods, [1] is a benign client, [2] the allowlisted one. */
  readonly sources: readonly string[];
  readonly logs: LogLine[] = [];
  guard: FloodGuard | null = null;
  #server: ChildProcess | null = null;
  /** The next source port connects() uses (never one used before in this lab). */
  #nextPort = 20000;

  constructor(tag: string, net: number) {
    this.sources = [`10.${net}.0.2`, `10.${net}.0.3`, `10.${net}.0.4`];
    this.pair = new NetnsPair(manyAttackersLab(tag, net, this.sources, [`2001:db8:${net}::2`]));
    this.victim = this.pair.plan.protected4;
    this.pair.must(this.pair.protectedNs, 'ip', ['route', 'add', 'default', 'via', this.sources[0]]);
  }

  get ns(): string {
    return this.pair.protectedNs;
  }

  /** Loads the enforcement table with the guard's part; `allow` goes into the allow set. */
  load(s: FloodGuardSettings, allow: readonly string[] = []): void {
    this.pair.must(this.ns, 'nft', ['-f', '-'], buildNftRuleset({ contributions: [floodGuardContribution(s)] }));
    for (const a of allow) this.pair.must(this.ns, 'nft', ['add', 'element', 'inet', 'portwarden', 'allow4', `{ ${a} }`]);
    const logger = pino({ level: 'debug' }, { write: (line: string) => void this.logs.push(JSON.parse(line) as LogLine) });
    const ns = this.ns;
    const loose: LooseSwitch = {
      read: () => this.pair.must(ns, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_loose']).trim(),
      write: (value) => void this.pair.must(ns, 'sysctl', ['-q', '-w', `net.netfilter.nf_conntrack_tcp_loose=${value}`]),
    };
    this.guard = new FloodGuard({ settings: s, log: logger, loose, nft: (args, input) => mustIn(ns, 'nft', args, input).then((stdout) => ({ stdout, stderr: '' })) });
  }

  /** The guard's kernel counters (packets), by name. */
  counters(): Record<GuardCounterName, number> {
    const json = JSON.parse(this.pair.must(this.ns, 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'portwarden'])) as { nftables: { counter?: { name: string; packets: number } }[] };
    const out = Object.fromEntries(Object.keys(GUARD_COUNTERS).map((k) => [k, 0])) as Record<GuardCounterName, number>;
    for (const e of json.nftables) if (e.counter !== undefined && Object.hasOwn(GUARD_COUNTERS, e.counter.name)) out[e.counter.name as GuardCounterName] = e.counter.packets;
    return out;
  }

  /** Entries in the protected side's conntrack table. */
  conntrackCount(): number {
    return Number(this.pair.must(this.ns, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count']).trim());
  }

  /** The lab's TCP service (okServerScript) on the victim, with a short backlog (as a busy service's fills up). */
  async serve(backlog = 64): Promise<void> {
    this.#server = await serveOk(this.pair, this.ns, this.victim, HTTP_PORT, backlog, this.logs);
  }

  /** connectsFrom() from the attacker namespace to the lab service, each connection from a new source port. */
  async connects(from: string, count: number, timeoutMs = 2000, port = HTTP_PORT): Promise<number> {
    const first = this.#nextPort;
    this.#nextPort += count;
    return connectsFrom(this.pair.attacker, { host: this.victim, port, from, firstPort: first, count, timeoutMs });
  }

  /** hping3 from the attacker namespace, bounded in count and by a 10 s timeout. */
  hping(args: readonly string[]): Promise<string> {
    return runIn(this.pair.attacker, 'timeout', ['10', 'hping3', '-q', ...args]).then((r) => r.stdout + r.stderr);
  }

  actions(): string[] {
    return this.logs.map((l) => l['event.action'] ?? '').filter((a) => a.startsWith('flood-guard'));
  }

  async destroy(): Promise<void> {
    await this.guard?.stop();
    this.#server?.kill('SIGKILL');
    this.pair.destroy();
  }
}
