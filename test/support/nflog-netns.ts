/**
 * Network namespaces for the NFLOG tests: an attacker and a protected host joined by one veth
 * pair, with addresses only from 10.0.0.0/8 and 2001:db8::/32. Nothing here touches the initial
 * namespace: the veth pair is created inside the attacker namespace with its peer placed directly
 * in the protected one, and every rule goes into a table inside the protected namespace.
 *
 * Every namespace created is remembered and deleted by destroy(), and again at process exit or on
 * SIGINT / SIGTERM, so a failing or interrupted test leaves nothing behind.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

export const ATTACKER4 = '10.77.0.1';
export const PROTECTED4 = '10.77.0.2';
export const ATTACKER6 = '2001:db8:77::1';
export const PROTECTED6 = '2001:db8:77::2';

const live = new Set<string>();
const children = new Set<ChildProcess>();
let counter = 0;

function cleanupAll(): void {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
  children.clear();
  for (const ns of live) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  live.clear();
}
process.once('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class NetnsPair {
  readonly attacker: string;
  readonly protectedNs: string;

  constructor() {
    const base = `pwlog-${process.pid}-${counter++}`;
    this.attacker = `${base}-a`;
    this.protectedNs = `${base}-p`;
    try {
      for (const ns of [this.attacker, this.protectedNs]) {
        ip('netns', 'add', ns);
        live.add(ns);
      }
      ip('-n', this.attacker, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', this.protectedNs);
      for (const [ns, dev, a4, a6] of [
        [this.attacker, 'veth0', ATTACKER4, ATTACKER6],
        [this.protectedNs, 'veth1', PROTECTED4, PROTECTED6],
      ] as const) {
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        ip('-n', ns, 'addr', 'add', `${a4}/24`, 'dev', dev);
        ip('-n', ns, '-6', 'addr', 'add', `${a6}/64`, 'dev', dev, 'nodad');
        ip('-n', ns, 'link', 'set', dev, 'up');
      }
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
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns} failed (${String(r.code)}): ${r.stderr}`);
    return r.stdout;
  }

  /** Starts a long-running command inside `ns`; it is killed by destroy() if still running. */
  spawn(ns: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    children.add(c);
    c.once('exit', () => children.delete(c));
    return c;
  }

  destroy(): void {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
    for (const ns of [this.attacker, this.protectedNs]) {
      if (!live.has(ns)) continue;
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      live.delete(ns);
    }
  }
}

/** Names of every namespace this process still holds (for the "all removed" assertion). */
export function liveNamespaces(): string[] {
  return [...live];
}

/** Every namespace the system has whose name starts with `prefix`. */
export function systemNamespaces(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n !== undefined && n.startsWith(prefix));
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
