/**
 * `portwarden demo`: a lab of network namespaces (a switch, an attacker, a protected host, a benign
 * client), the daemon on the protected host, real nmap scans and benign traffic, and a report of what
 * happened. Everything lives inside namespaces named `pwdemo-<pid>-<role>` with 10.88.0.0/24 addresses:
 * the veth pairs are created inside the switch namespace with their peers placed directly in the
 * others, so the initial namespace (its firewall, links and routes) is never touched. The lab is
 * removed at the end, on failure, and on SIGINT / SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from '../control/client.js';
import type { Output } from './analyze.js';
import { runControl } from './control-commands.js';

const PROTECTED = '10.88.0.2';
const CLIENT = '10.88.0.3';
const OBSERVER = '10.88.0.10';
const SCANS: { label: string; flag: string; source: string }[] = [
  { label: 'SYN scan', flag: '-sS', source: '10.88.0.11' },
  { label: 'XMAS scan', flag: '-sX', source: '10.88.0.12' },
  { label: 'UDP scan', flag: '-sU', source: '10.88.0.13' },
];
const SYN_SCANNER = SCANS[0].source;
const NMAP_BOUNDS = ['-Pn', '-n', '-T4', '--max-retries', '1', '--min-rate', '1000', '--host-timeout', '60s'];

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

class Interrupted extends Error {}

/** The lab: every namespace, child process and temp dir it made, and how to remove them all. */
class Lab {
  readonly sw: string;
  readonly attacker: string;
  readonly host: string;
  readonly client: string;
  readonly dir: string;
  readonly children = new Set<ChildProcess>();
  readonly namespaces: string[] = [];
  interrupted: string | undefined;

  constructor() {
    const base = `pwdemo-${process.pid}`;
    this.sw = `${base}-switch`;
    this.attacker = `${base}-attacker`;
    this.host = `${base}-protected`;
    this.client = `${base}-client`;
    this.dir = mkdtempSync(join(tmpdir(), 'pwdemo-'));
  }

  ip(...args: string[]): void {
    const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr || r.error?.message || `status ${String(r.status)}`}`);
  }

  build(): void {
    for (const ns of [this.sw, this.attacker, this.host, this.client]) {
      this.namespaces.push(ns); // remembered first: a half-made namespace is still removed
      this.ip('netns', 'add', ns);
      this.ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    this.ip('-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge');
    this.ip('-n', this.sw, 'link', 'set', 'br0', 'up');
    const ports: [string, string, string[]][] = [
      [this.attacker, 'p-attacker', [OBSERVER, ...SCANS.map((s) => s.source)]],
      [this.host, 'p-protected', [PROTECTED]],
      [this.client, 'p-client', [CLIENT]],
    ];
    for (const [ns, port, addrs] of ports) {
      this.ip('-n', this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      this.ip('-n', this.sw, 'link', 'set', port, 'master', 'br0');
      this.ip('-n', this.sw, 'link', 'set', port, 'up');
      for (const a of addrs) this.ip('-n', ns, 'addr', 'add', `${a}/24`, 'dev', 'eth0');
      this.ip('-n', ns, 'link', 'set', 'eth0', 'up');
    }
  }

  /** Starts a long-running command inside `ns`. */
  spawn(ns: string, cmd: string, args: readonly string[]): ChildProcess {
    this.check();
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(c);
    c.once('exit', () => this.children.delete(c));
    c.once('error', () => this.children.delete(c));
    return c;
  }

  /** Runs a command inside `ns` to completion without blocking (so a signal is handled at once). */
  run(ns: string, cmd: string, args: readonly string[], timeoutMs = 90_000): Promise<RunResult> {
    const c = this.spawn(ns, cmd, args);
    let stdout = '';
    let stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    return new Promise((resolveRun, reject) => {
      c.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      c.once('close', (code) => {
        clearTimeout(timer);
        if (this.interrupted !== undefined) reject(new Interrupted(this.interrupted));
        else resolveRun({ code, stdout, stderr });
      });
    });
  }

  async must(ns: string, cmd: string, args: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(ns, cmd, args, timeoutMs);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.code)}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  check(): void {
    if (this.interrupted !== undefined) throw new Interrupted(this.interrupted);
  }

  /** Synchronous, so it also serves the signal handlers and the exit hook. Returns what is left. */
  destroy(): string[] {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.children.clear();
    for (const ns of this.namespaces) {
      // Whatever still runs in the lab's namespaces was started by the demo: end it before removing them.
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
      for (const pid of (pids.stdout ?? '').split(/\s+/).filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
    rmSync(this.dir, { recursive: true, force: true });
    const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    const names = new Set(listed.split('\n').map((l) => l.split(' ')[0]));
    return this.namespaces.filter((ns) => names.has(ns));
  }
}

/** The command that starts this CLI again: the same node, its flags (a loader such as tsx) and entry script. */
function selfCommand(): string[] {
  const flags: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const a = process.execArgv[i];
    if (/^--(inspect|debug|test)/.test(a)) continue;
    flags.push(a);
  }
  const entry = process.argv[1] ?? new URL('../../../bin/portwarden.js', import.meta.url).pathname;
  return [process.execPath, ...flags, resolve(entry)];
}

interface PortView {
  open: number[];
  /** Ports per other state: closed, filtered, open|filtered (XMAS and UDP scans: no answer), … */
  states: Map<string, number>;
}

/** What nmap learned, from its XML output. */
function parseNmap(xml: string): PortView {
  const view: PortView = { open: [], states: new Map([['closed', 0], ['filtered', 0]]) };
  const add = (state: string, n: number) => view.states.set(state, (view.states.get(state) ?? 0) + n);
  for (const m of xml.matchAll(/<extraports state="([a-z|]+)" count="(\d+)"/g)) add(m[1], Number(m[2]));
  for (const m of xml.matchAll(/<port protocol="\w+" portid="(\d+)"><state state="([a-z|]+)"/g)) {
    if (m[2] === 'open') view.open.push(Number(m[1]));
    else add(m[2], 1);
  }
  return view;
}

function describeView(v: PortView): string {
  const open = v.open.length > 0 ? `${v.open.length} open (${v.open.join(', ')})` : '0 open';
  return [open, ...[...v.states].filter(([state, n]) => n > 0 || state === 'closed' || state === 'filtered').map(([state, n]) => `${n} ${state}`)].join(', ');
}

const sleep = (ms: number, ref = true) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    if (!ref) t.unref();
  });

/** `portwarden demo`: 0 when the lab ran and was removed, 2 on failure (after removing it). */
export async function runDemo(io: Output): Promise<number> {
  const started = Date.now();
  const section = (title: string) => io.out(`\n== ${title} ==`);
  const lab = new Lab();
  let daemon: ChildProcess | undefined;
  const log: Record<string, unknown>[] = [];
  let daemonStderr = '';

  const onSignal = (signal: NodeJS.Signals) => {
    lab.interrupted = signal;
    io.err(`\nportwarden demo: ${signal}: removing the lab`);
    const left = lab.destroy();
    io.err(left.length === 0 ? 'portwarden demo: lab removed' : `portwarden demo: could not remove ${left.join(', ')}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const onExit = () => lab.destroy();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);

  let status = 0;
  try {
    section('0. the lab');
    lab.build();
    io.out(`namespaces: ${lab.namespaces.join(', ')} (a bridge in ${lab.sw})`);
    io.out(`protected host ${PROTECTED}, benign client ${CLIENT}, attacker ${OBSERVER} and scanners ${SCANS.map((s) => `${s.source} (${s.label})`).join(', ')}`);

    // Two small listeners so nmap has something open to see.
    const listener = lab.spawn(lab.host, process.execPath, [
      '-e',
      "const net = require('net'); let up = 0; for (const port of [22, 80]) net.createServer((s) => { s.on('error', () => {}); s.on('data', () => s.end('HTTP/1.0 200 OK\\r\\ncontent-length: 3\\r\\n\\r\\nok\\n')); s.setTimeout(5000, () => s.destroy()); }).listen(port, '0.0.0.0', () => { if (++up === 2) console.log('up'); });",
    ]);
    await new Promise<void>((ok, fail) => {
      listener.stdout!.once('data', () => ok());
      listener.once('exit', (code) => fail(new Error(`the listeners exited (${String(code)})`)));
    });
    io.out(`listeners on ${PROTECTED}: tcp/22, tcp/80`);

    const nmapView = async (source: string, flag: string, ports = '1-100'): Promise<PortView> => {
      const xml = await lab.must(lab.attacker, 'nmap', [...NMAP_BOUNDS, flag, '-p', ports, '-S', source, '-e', 'eth0', '-oX', '-', PROTECTED]);
      return parseNmap(xml);
    };

    section(`1. nmap's view before the daemon: nmap -sS -p 1-100 from ${SYN_SCANNER}`);
    const before = await nmapView(SYN_SCANNER, '-sS');
    io.out(`before: ${describeView(before)}`);

    section('2. starting the daemon on the protected host');
    const socket = join(lab.dir, 'run', 'control.sock');
    const configPath = join(lab.dir, 'portwarden.yaml');
    writeFileSync(
      configPath,
      [
        'capture:',
        `  nflogGroup: ${7600 + (process.pid % 300)}`,
        'enforce:',
        '  fastPath: { enabled: true }',
        'decide:',
        '  banSeconds: { scan: 900 }',
        'control:',
        `  socketPath: ${socket}`,
        'state:',
        `  dir: ${join(lab.dir, 'state')}`,
        '',
      ].join('\n'),
    );
    const [node, ...self] = selfCommand();
    daemon = lab.spawn(lab.host, node, [...self, 'start', '--config', configPath]);
    createInterface({ input: daemon.stdout! }).on('line', (line) => {
      try {
        log.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        log.push({ message: line });
      }
    });
    daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (daemonStderr += d));
    const daemonRef = daemon;
    const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> => {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        lab.check();
        if (daemonRef.exitCode !== null || daemonRef.signalCode !== null) throw new Error(`the daemon exited while waiting for ${what}: ${daemonStderr.trim()}`);
        if (await check()) return true;
        await sleep(200);
      }
      return false;
    };
    if (!(await until('the daemon to start', () => log.some((l) => l['event.action'] === 'started'), 20_000))) throw new Error(`the daemon did not start within 20 s: ${daemonStderr.trim()}`);
    const startedLine = log.find((l) => l['event.action'] === 'started')!;
    io.out(`daemon started (pid ${String(daemon.pid)}): ${String(startedLine.message ?? 'started')}`);
    io.out(`config ${configPath}; control socket ${socket}`);

    const banned = async (): Promise<string[]> => (await request(socket, { command: 'bans' })).map((b) => b.target.replace(/\/32$/, ''));

    section(`3. benign traffic: 50 HTTP requests from ${CLIENT} to ${PROTECTED}:80`);
    const client = `const net = require('net'); let n = 0, ok = 0; const next = () => { if (n++ === 50) { console.log(ok); return; } const s = net.connect({ host: '${PROTECTED}', port: 80 }); s.setTimeout(3000, () => s.destroy()); s.on('connect', () => s.write('GET / HTTP/1.0\\r\\n\\r\\n')); s.on('data', (d) => { if (String(d).startsWith('HTTP/1.0 200')) ok++; }); s.on('close', next); s.on('error', () => {}); }; next();`;
    const answered = Number((await lab.must(lab.client, process.execPath, ['-e', client])).trim());
    await sleep(1_500);
    const afterBenign = await banned();
    const fast = await lab.run(lab.host, 'nft', ['get', 'element', 'inet', 'portwarden', 'fastban4', `{ ${CLIENT} }`]);
    const clientBanned = afterBenign.includes(CLIENT) || fast.code === 0;
    io.out(`${answered}/50 requests answered; ${CLIENT} is ${clientBanned ? 'BANNED (unexpected)' : 'not banned'}`);

    section('4. the attacker scans');
    for (const scan of SCANS) {
      const t = Date.now();
      const view = await nmapView(scan.source, scan.flag);
      io.out(`${scan.label} (nmap ${scan.flag} -p 1-100) from ${scan.source}: ${((Date.now() - t) / 1000).toFixed(1)} s, nmap saw ${describeView(view)}`);
    }
    const scanners = SCANS.map((s) => s.source);
    const all = await until('the scanners to be banned', async () => {
      const b = await banned();
      return scanners.every((s) => b.includes(s));
    }, 30_000);
    if (!all) {
      const b = await banned();
      io.out(`not banned within 30 s: ${scanners.filter((s) => !b.includes(s)).join(', ')}`);
    }

    section('5. what the daemon logged and banned');
    const incidents = log.filter((l) => typeof l['event.action'] === 'string' && l['event.action'].startsWith('incident-'));
    io.out(`${incidents.length} incident${incidents.length === 1 ? '' : 's'}:`);
    for (const i of incidents) {
      const [kind, cls] = String(i['rule.name'] ?? String(i['event.action']).slice('incident-'.length)).split('/');
      io.out(`  ${kind.padEnd(10)} class ${String(cls ?? '-').padEnd(6)} source ${String(i['source.ip'] ?? (i.sources as string[] | undefined)?.join(',') ?? '-').padEnd(12)} decision ${String(i.decision)}: ${String(i.message ?? '')}`);
    }
    io.out('portwarden bans (through the control socket):');
    await runControl('bans', undefined, { socket }, { ...io, out: (line) => io.out(`  ${line}`) });

    section(`6. nmap's view after: the same scan from the banned ${SYN_SCANNER}`);
    const after = await nmapView(SYN_SCANNER, '-sS');
    io.out(`after: ${describeView(after)}`);
    io.out(`before: ${describeView(before)}`);
  } catch (err) {
    if (err instanceof Interrupted) return 130; // the signal handler removed the lab and exits
    io.err(`portwarden demo: failed: ${err instanceof Error ? err.message : String(err)}`);
    if (daemonStderr.trim() !== '') io.err(`daemon stderr: ${daemonStderr.trim()}`);
    status = 2;
  } finally {
    section('7. stopping the daemon and removing the lab');
    if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
      const d = daemon;
      const exited = new Promise<void>((ok) => d.once('exit', () => ok()));
      d.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(10_000, false).then(() => false)]);
      const stop = log.find((l) => l['event.action'] === 'stopped' || l['event.action'] === 'signal');
      io.out(stopped ? `daemon stopped (exit ${String(d.exitCode)})${stop !== undefined ? `: ${String(stop.message ?? '')}` : ''}` : 'daemon did not stop within 10 s: killed');
    }
    const left = lab.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
    if (left.length === 0) io.out(`removed: namespaces ${lab.namespaces.join(', ')} (with their veth pairs, bridge and nftables table), listeners, daemon, ${lab.dir}`);
    else {
      io.err(`portwarden demo: could not remove ${left.join(', ')}; remove by hand: ip netns del NAME`);
      status = 2;
    }
    io.out(`demo took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return status;
}
