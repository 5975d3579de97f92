/**
 * Test helper, not shipped behaviour: pairs of throw-away network namespaces joined by a veth link,
 * so tests change firewalls and send packets without touching the host. "protected" runs the
 * backend, "attacker" sends traffic from several addresses. Names are `pwnft-<pid>-<n>-p|a`;
 * everything created is recorded so an `after` hook can remove it even when a test failed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CommitResult, KernelBan } from './backend.js';
import type { NftRulesetOptions } from './nft-ruleset.js';
import type { DriverChange, DriverError } from './testkit-driver.js';

export const NS_PREFIX = `pwnft-${process.pid}-`;
export const PROTECTED4 = '10.77.0.1';
export const PROTECTED6 = '2001:db8:77::1';
/** Attacker sources: several per /24 and per /64, so bans of one can be told from the others. */
export const ATTACKER4 = ['10.77.1.2', '10.77.1.3', '10.77.1.7', '10.77.1.8', '10.77.2.2', '10.77.3.2'] as const;
export const ATTACKER6 = ['2001:db8:77:1::2', '2001:db8:77:1::3', '2001:db8:77:2::2', '2001:db8:77:3::2'] as const;

const PROTECTED_MAC = '02:00:00:77:00:01';
const ATTACKER_MAC = '02:00:00:77:00:02';
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = fileURLToPath(new URL('./testkit-driver.ts', import.meta.url));
let counter = 0;
const live = new Set<NetnsPair>();

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Runs and insists on exit status 0. */
export async function must(command: string, args: readonly string[], input?: string): Promise<string> {
  const result = await run(command, args, input);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} → ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** `nft …` inside a namespace. */
export const nft = (ns: string, args: readonly string[], input?: string): Promise<string> =>
  must('ip', ['netns', 'exec', ns, 'nft', ...args], input);

/** Our namespaces still listed by `ip netns list`. */
export async function leftoverNamespaces(): Promise<string[]> {
  const out = await must('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(NS_PREFIX));
}

/** Removes every pair this process created and has not removed yet. */
export async function destroyAll(): Promise<void> {
  for (const pair of [...live]) await pair.destroy();
}

/** Addresses of a two-namespace lab: a protected host and an attacker with many addresses. */
export interface LabPlan {
  protected4: string;
  protected6: string;
  attacker4: readonly string[];
  attacker6: readonly string[];
  protectedMac: string;
  attackerMac: string;
}

/**
 * Creates both namespaces and joins them by a veth pair made inside the protected one: the host's
 * links are never touched. Neighbours are static: the attacker is one machine with many addresses,
 * so neighbour discovery sent from a banned address would fail for all of them (one neighbour
 * entry), and a test would measure that instead of the ban.
 */
export async function wireLab(protectedNs: string, attackerNs: string, plan: LabPlan): Promise<void> {
  await must('ip', ['netns', 'add', protectedNs]);
  await must('ip', ['netns', 'add', attackerNs]);
  const protectedSide = [
    'link set lo up',
    `link add pw0 address ${plan.protectedMac} type veth peer name pw1 address ${plan.attackerMac} netns ${attackerNs}`,
    'link set pw0 up',
    `addr add ${plan.protected4}/16 dev pw0`,
    `addr add ${plan.protected6}/48 dev pw0 nodad`,
    ...[...plan.attacker4, ...plan.attacker6].map((a) => `neigh replace ${a} lladdr ${plan.attackerMac} dev pw0 nud permanent`),
  ];
  const attackerSide = [
    'link set lo up',
    'link set pw1 up',
    ...plan.attacker4.map((a) => `addr add ${a}/16 dev pw1`),
    ...plan.attacker6.map((a) => `addr add ${a}/48 dev pw1 nodad`),
    ...[plan.protected4, plan.protected6].map((a) => `neigh replace ${a} lladdr ${plan.protectedMac} dev pw1 nud permanent`),
  ];
  await must('ip', ['-n', protectedNs, '-batch', '-'], `${protectedSide.join('\n')}\n`);
  await must('ip', ['-n', attackerNs, '-batch', '-'], `${attackerSide.join('\n')}\n`);
}

export class NetnsPair {
  readonly protectedNs: string;
  readonly attackerNs: string;
  readonly #drivers: Driver[] = [];

  private constructor(base: string) {
    this.protectedNs = `${base}p`;
    this.attackerNs = `${base}a`;
  }

  static async create(): Promise<NetnsPair> {
    const pair = new NetnsPair(`${NS_PREFIX}${++counter}-`);
    live.add(pair);
    try {
      await wireLab(pair.protectedNs, pair.attackerNs, {
        protected4: PROTECTED4,
        protected6: PROTECTED6,
        attacker4: ATTACKER4,
        attacker6: ATTACKER6,
        protectedMac: PROTECTED_MAC,
        attackerMac: ATTACKER_MAC,
      });
      return pair;
    } catch (error) {
      await pair.destroy();
      throw error;
    }
  }

  /** A driver process inside one of the namespaces. */
  async driver(side: 'protected' | 'attacker'): Promise<Driver> {
    const driver = await Driver.start(side === 'protected' ? this.protectedNs : this.attackerNs);
    this.#drivers.push(driver);
    return driver;
  }

  async destroy(): Promise<void> {
    live.delete(this);
    for (const driver of this.#drivers) driver.stop();
    await run('ip', ['netns', 'del', this.protectedNs]);
    await run('ip', ['netns', 'del', this.attackerNs]);
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

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: DriverError;
}

/** The test's end of a testkit-driver process. */
export class Driver {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting = new Map<number, (reply: Reply) => void>();
  #nextId = 1;

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
  }

  static start(ns: string): Promise<Driver> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', DRIVER], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const driver = new Driver(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const message = JSON.parse(line) as Reply & { ready?: boolean };
        if (message.ready) resolve(driver);
        else driver.#waiting.get(message.id)?.(message);
      });
      child.once('exit', (code) => {
        reject(new Error(`driver in ${ns} exited (${code}): ${stderr.trim()}`));
        for (const waiter of driver.#waiting.values()) waiter({ id: 0, ok: false, error: { name: 'Error', message: `driver exited: ${stderr.trim()}` } });
      });
    });
  }

  call<T>(op: string, args?: unknown): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, (reply) => {
        this.#waiting.delete(id);
        if (reply.ok) resolve(reply.result as T);
        else reject(new DriverCallError(reply.error ?? { name: 'Error', message: 'unknown' }));
      });
      this.#child.stdin.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  init(ruleset: NftRulesetOptions = {}): Promise<null> {
    return this.call('init', { ruleset });
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
    if (this.#child.exitCode === null) this.#child.kill();
  }
}
