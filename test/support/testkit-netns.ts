/**
 * Test helper, not shipped behaviour: pairs of throw-away network namespaces, an "attacker" and a
 * "protected" host joined by one veth pair, so tests change firewalls and send packets without
 * touching the host. Nothing here touches the initial namespace: the veth pair is created inside the
 * protected namespace with its peer placed directly in the attacker one, and every rule a test adds
 * goes into one of the two. Addresses are only from 10.0.0.0/8 and 2001:db8::/32.
 *
 * Names are `<tag>-<pid>-<n>-a|p`. Every namespace and child process created is remembered and
 * removed by destroy(), by destroyAll(), and again at process exit or on SIGINT / SIGTERM, so a
 * failing or interrupted test leaves nothing behind.
 *
 * The default lab (`new NetnsPair()`) is the one most tests use: ATTACKER4/6 on veth0, PROTECTED4/6
 * on veth1. A test that needs another layout (several attacker addresses, static neighbours) passes
 * its own LabPlan. Drivers (testkit-driver.ts) run an enforcement backend inside a namespace.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CommitResult } from '../../src/enforce/backend.js';
import type { KernelBan } from '../../src/model/ban.js';
import type { BackendKind, BackendOptions, DriverChange, DriverError } from './testkit-driver.js';

export const ATTACKER4 = '10.77.0.1';
export const PROTECTED4 = '10.77.0.2';
export const ATTACKER6 = '2001:db8:77::1';
export const PROTECTED6 = '2001:db8:77::2';

/** Addresses and names of a two-namespace lab. */
export interface LabPlan {
  /** First part of both namespace names. */
  tag: string;
  attackerDev: string;
  protectedDev: string;
  attacker4: readonly string[];
  attacker6: readonly string[];
  protected4: string;
  protected6: string;
  prefix4: number;
  prefix6: number;
  /**
   * Fixed MAC addresses and static neighbour entries on both sides. For an attacker with many
   * addresses: neighbour discovery sent from a banned address would fail for all of them (one
   * neighbour entry), and a test would measure that instead of the ban.
   */
  macs?: { attacker: string; protected: string };
}

export const DEFAULT_LAB: LabPlan = {
  tag: 'pwlog',
  attackerDev: 'veth0',
  protectedDev: 'veth1',
  attacker4: [ATTACKER4],
  attacker6: [ATTACKER6],
  protected4: PROTECTED4,
  protected6: PROTECTED6,
  prefix4: 24,
  prefix6: 64,
};

/**
 * A protected host at 10.NET.0.1/16 and 2001:db8:NET::1/48 on pw0, an attacker with many addresses
 * in the same networks on pw1, fixed MACs and static neighbours (the enforcement tests' lab).
 */
export function manyAttackersLab(tag: string, net: number, attacker4: readonly string[], attacker6: readonly string[]): LabPlan {
  return {
    tag,
    protectedDev: 'pw0',
    attackerDev: 'pw1',
    protected4: `10.${net}.0.1`,
    protected6: `2001:db8:${net}::1`,
    attacker4,
    attacker6,
    prefix4: 16,
    prefix6: 48,
    macs: { protected: `02:00:00:${net}:00:01`, attacker: `02:00:00:${net}:00:02` },
  };
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('./testkit-driver.ts', import.meta.url));
const live = new Set<NetnsPair>();
const children = new Set<ChildProcess>();
let counter = 0;

function kill(c: ChildProcess): void {
  if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) c.kill('SIGKILL');
}

/** Removes every pair this process created and has not removed yet. */
export function destroyAll(): void {
  for (const pair of [...live]) pair.destroy();
  for (const c of children) kill(c);
  children.clear();
}
process.once('exit', destroyAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    destroyAll();
    process.exit(130);
  });
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function failure(ns: string, cmd: string, args: readonly string[], r: CommandResult): Error {
  return new Error(`${cmd} ${args.join(' ')} in ${ns} failed (${String(r.code)}): ${r.stderr.trim()}`);
}

/** Runs a command inside `ns` to completion without blocking (for commands run side by side). */
export function runIn(ns: string, cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Like runIn(), but insists on exit status 0 and resolves to stdout. */
export async function mustIn(ns: string, cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await runIn(ns, cmd, args, input);
  if (r.code !== 0) throw failure(ns, cmd, args, r);
  return r.stdout;
}

function ipBatch(ns: string, lines: readonly string[]): void {
  execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
}

export class NetnsPair {
  readonly attacker: string;
  readonly protectedNs: string;
  readonly plan: LabPlan;
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;

  constructor(plan: LabPlan = DEFAULT_LAB) {
    this.plan = plan;
    const base = `${plan.tag}-${process.pid}-${counter++}`;
    this.attacker = `${base}-a`;
    this.protectedNs = `${base}-p`;
    live.add(this);
    try {
      execFileSync('ip', ['netns', 'add', this.protectedNs], { stdio: ['ignore', 'ignore', 'pipe'] });
      execFileSync('ip', ['netns', 'add', this.attacker], { stdio: ['ignore', 'ignore', 'pipe'] });
      // No IPv6 router solicitations on the veth ends (set before they exist: they take the default).
      // The kernel sends them at a random moment in the first seconds after link up, traffic no test
      // asked for: a frame-for-frame comparison of two captures saw one land in only one of them.
      for (const ns of [this.protectedNs, this.attacker]) {
        execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.router_solicitations=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      }
      const { macs } = plan;
      const attackers = [...plan.attacker4, ...plan.attacker6];
      ipBatch(this.protectedNs, [
        'link set lo up',
        `link add ${plan.protectedDev}${macs ? ` address ${macs.protected}` : ''} type veth peer name ${plan.attackerDev}${macs ? ` address ${macs.attacker}` : ''} netns ${this.attacker}`,
        `addr add ${plan.protected4}/${plan.prefix4} dev ${plan.protectedDev}`,
        `addr add ${plan.protected6}/${plan.prefix6} dev ${plan.protectedDev} nodad`,
        `link set ${plan.protectedDev} up`,
        ...(macs ? attackers.map((a) => `neigh replace ${a} lladdr ${macs.attacker} dev ${plan.protectedDev} nud permanent`) : []),
      ]);
      ipBatch(this.attacker, [
        'link set lo up',
        ...plan.attacker4.map((a) => `addr add ${a}/${plan.prefix4} dev ${plan.attackerDev}`),
        ...plan.attacker6.map((a) => `addr add ${a}/${plan.prefix6} dev ${plan.attackerDev} nodad`),
        `link set ${plan.attackerDev} up`,
        ...(macs ? [plan.protected4, plan.protected6].map((a) => `neigh replace ${a} lladdr ${macs.protected} dev ${plan.attackerDev} nud permanent`) : []),
      ]);
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /** Runs a command inside `ns` to completion. */
  run(ns: string, cmd: string, args: readonly string[], input?: string): CommandResult {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { input, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Like run(), but throws with the command's stderr when it fails. */
  must(ns: string, cmd: string, args: readonly string[], input?: string): string {
    const r = this.run(ns, cmd, args, input);
    if (r.code !== 0) throw failure(ns, cmd, args, r);
    return r.stdout;
  }

  /** Starts a long-running command inside `ns`; it is killed by destroy() if still running. */
  spawn(ns: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    children.add(c);
    this.#children.add(c);
    c.once('exit', () => {
      children.delete(c);
      this.#children.delete(c);
    });
    return c;
  }

  /** A driver process (testkit-driver.ts) inside one of the namespaces, for backend `kind`. */
  driver<K extends BackendKind = 'nftables'>(side: 'protected' | 'attacker', kind?: K): Promise<Driver<K>> {
    const ns = side === 'protected' ? this.protectedNs : this.attacker;
    return Driver.start(this.spawn(ns, process.execPath, ['--import', 'tsx', DRIVER], { cwd: REPO_ROOT }), kind ?? ('nftables' as K));
  }

  /** Kills what spawn() started and deletes both namespaces; safe to call again. */
  destroy(): void {
    for (const c of this.#children) kill(c);
    this.#children.clear();
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    for (const ns of [this.attacker, this.protectedNs]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/** Names of every namespace this process still holds (for the "all removed" assertion). */
export function liveNamespaces(): string[] {
  return [...live].flatMap((p) => [p.attacker, p.protectedNs]);
}

/** Every namespace the system has whose name starts with `prefix`. */
export function systemNamespaces(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n !== undefined && n !== '' && n.startsWith(prefix));
}

/** Namespaces of lab `tag` this process created that the system still lists. */
export function leftoverNamespaces(tag: string): string[] {
  return systemNamespaces(`${tag}-${process.pid}-`);
}

/** A child process speaking JSON lines: send() writes one, next() waits for the next matching one. */
export class JsonLines {
  readonly #queue: Record<string, unknown>[] = [];
  readonly #waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  readonly stderr: string[] = [];
  #ended = false;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.stderr.push(`(stdout) ${line}`);
        return;
      }
      const i = this.#waiters.findIndex((w) => w.pred(msg));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(msg);
      else this.#queue.push(msg);
    });
    child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    child.once('exit', (code) => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w.reject(new Error(`child exited (${String(code)}): ${this.stderr.join('')}`));
    });
  }

  send(msg: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(msg)}\n`);
  }

  /** Messages received so far that no next() took, removed from the queue. */
  drain(pred: (m: Record<string, unknown>) => boolean = () => true): Record<string, unknown>[] {
    const taken: Record<string, unknown>[] = [];
    for (let i = 0; i < this.#queue.length; ) {
      if (pred(this.#queue[i])) taken.push(...this.#queue.splice(i, 1));
      else i++;
    }
    return taken;
  }

  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const i = this.#queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.#queue.splice(i, 1)[0]);
    if (this.#ended) return Promise.reject(new Error(`child already exited: ${this.stderr.join('')}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const w = this.#waiters.findIndex((x) => x.resolve === done);
        if (w >= 0) this.#waiters.splice(w, 1);
        reject(new Error(`timed out waiting for a message; stderr: ${this.stderr.join('')}`));
      }, timeoutMs);
      const done = (m: Record<string, unknown>) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.#waiters.push({ pred, resolve: done, reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  }
}

export class DriverCallError extends Error {
  readonly detail: DriverError;

  constructor(detail: DriverError) {
    super(`${detail.code ?? detail.name}: ${detail.message}`);
    this.name = 'DriverCallError';
    this.detail = detail;
  }
}

/** The DriverCallError a driver call that must fail is rejected with (fails the test otherwise). */
export async function driverErrorOf(promise: Promise<unknown>): Promise<DriverCallError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DriverCallError, String(error));
    return error;
  }
  assert.fail('expected the call to fail');
}

/** The test's end of a testkit-driver process: one JSON request per call, answers matched by id. */
export class Driver<K extends BackendKind = 'nftables'> {
  readonly #lines: JsonLines;
  readonly #kind: K;
  #nextId = 1;

  private constructor(child: ChildProcess, kind: K) {
    this.#lines = new JsonLines(child);
    this.#kind = kind;
  }

  static async start<K extends BackendKind>(child: ChildProcess, kind: K): Promise<Driver<K>> {
    const driver = new Driver(child, kind);
    await driver.#lines.next((m) => m.ready === true, 60_000);
    return driver;
  }

  async call<T>(op: string, args?: unknown): Promise<T> {
    const id = this.#nextId++;
    this.#lines.send({ id, op, args });
    const reply = await this.#lines.next((m) => m.id === id, 300_000);
    if (reply.ok === true) return reply.result as T;
    throw new DriverCallError((reply.error as DriverError | undefined) ?? { name: 'Error', message: 'unknown' });
  }

  /** Creates this driver's backend (again), with `options`; not set up yet. */
  init(options?: BackendOptions[K]): Promise<null> {
    return this.call('init', { backend: this.#kind, options: options ?? {} });
  }
  setup(): Promise<null> {
    return this.call('setup');
  }
  setupKeepingBans(): Promise<string | null> {
    return this.call('setupKeepingBans');
  }
  queue(...changes: DriverChange[]): Promise<null> {
    return this.call('queue', { changes });
  }
  commit(): Promise<CommitResult> {
    return this.call('commit');
  }
  bans(): Promise<KernelBan[]> {
    return this.call('bans');
  }
  present(): Promise<boolean> {
    return this.call('present');
  }
  teardown(): Promise<null> {
    return this.call('teardown');
  }
  listenTcp(host: string, port: number): Promise<null> {
    return this.call('listenTcp', { host, port });
  }
  listenUdp(host: string, port: number): Promise<null> {
    return this.call('listenUdp', { host, port });
  }
  connectTcp(from: string, to: string, port: number, timeoutMs = 400): Promise<string> {
    return this.call('connectTcp', { from, to, port, timeoutMs });
  }
  probeUdp(from: string, to: string, port: number, timeoutMs = 400): Promise<string> {
    return this.call('probeUdp', { from, to, port, timeoutMs });
  }

  stop(): void {
    this.#lines.child.stdin?.end();
    kill(this.#lines.child);
  }
}
