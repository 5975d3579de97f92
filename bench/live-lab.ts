/**
 * The live bench's lab: two throw-away network namespaces joined by one veth pair, an attacker (the
 * flood sender and the real scanners) and the protected host (the daemon). Nothing touches the
 * initial namespace: the veth pair is created inside the daemon's namespace with its peer placed
 * straight into the attacker's, and every address, route and rule lives in one of the two.
 *
 * Names are unique per process (`pwlive-<pid>-a|d`); destroy() deletes both namespaces (and with them
 * the veth pair and every rule) and is also called at process exit and on SIGINT/SIGTERM, so a
 * failing or interrupted bench leaves nothing behind. Children started with spawnIn() are killed then.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** The protected host, on the daemon's side; the attacker's side is its default gateway. */
export const DAEMON4 = '10.99.0.1';
export const GATEWAY4 = '10.99.0.2';
export const DAEMON_DEV = 'lvd';
export const ATTACKER_DEV = 'lva';
export const DAEMON_MAC = '02:00:00:63:00:01';
export const ATTACKER_MAC = '02:00:00:63:00:02';
/**
 * Spoofed sources: random in 10.128.0.0/9, off-link for the daemon (answered through its default route,
 * so its RSTs go back over the veth and die in the attacker's namespace, which does not forward).
 */
export const SPOOF_NET = '10.128.0.0';
export const SPOOF_PREFIX = 9;

export class LiveLab {
  readonly attacker: string;
  readonly daemonNs: string;
  readonly #children = new Set<ChildProcess>();
  #destroyed = false;
  readonly #onExit = () => this.destroy();
  readonly #onSignal = () => {
    this.destroy();
    process.exit(130);
  };

  /** `scanners`: extra attacker addresses (the real scanners' sources), in 10.99.0.0/16. */
  constructor(scanners: readonly string[]) {
    this.attacker = `pwlive-${process.pid}-a`;
    this.daemonNs = `pwlive-${process.pid}-d`;
    process.once('exit', this.#onExit);
    process.once('SIGTERM', this.#onSignal);
    try {
      for (const ns of [this.daemonNs, this.attacker]) {
        execFileSync('ip', ['netns', 'add', ns]);
        this.ip(ns, 'link', 'set', 'lo', 'up');
      }
      this.ip(this.daemonNs, 'link', 'add', DAEMON_DEV, 'type', 'veth', 'peer', 'name', ATTACKER_DEV, 'netns', this.attacker);
      this.ip(this.daemonNs, 'link', 'set', DAEMON_DEV, 'address', DAEMON_MAC);
      this.ip(this.attacker, 'link', 'set', ATTACKER_DEV, 'address', ATTACKER_MAC);
      this.ip(this.daemonNs, 'addr', 'add', `${DAEMON4}/16`, 'dev', DAEMON_DEV);
      this.ip(this.attacker, 'addr', 'add', `${GATEWAY4}/16`, 'dev', ATTACKER_DEV);
      for (const a of scanners) this.ip(this.attacker, 'addr', 'add', `${a}/16`, 'dev', ATTACKER_DEV);
      this.ip(this.daemonNs, 'link', 'set', DAEMON_DEV, 'up');
      this.ip(this.attacker, 'link', 'set', ATTACKER_DEV, 'up');
      this.ip(this.daemonNs, 'route', 'add', 'default', 'via', GATEWAY4);
      // Static neighbours: a flood of answers must not wait on ARP, and a banned scanner's ARP must
      // not make its neighbours unreachable (one MAC carries every attacker address).
      this.ip(this.attacker, 'neigh', 'replace', DAEMON4, 'lladdr', DAEMON_MAC, 'dev', ATTACKER_DEV, 'nud', 'permanent');
      for (const a of [GATEWAY4, ...scanners]) this.ip(this.daemonNs, 'neigh', 'replace', a, 'lladdr', ATTACKER_MAC, 'dev', DAEMON_DEV, 'nud', 'permanent');
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  ip(ns: string, ...args: string[]): void {
    execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** Runs a command in `ns` to completion; its stdout, or an error with its stderr. */
  run(ns: string, cmd: string, args: readonly string[], timeoutMs = 30_000): string {
    const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns} failed (${String(r.status ?? r.signal)}): ${(r.stderr ?? '').trim().slice(-500)}`);
    return r.stdout;
  }

  /** Starts a command in `ns` (ip netns exec execs it: the child's pid is the command's). Killed by destroy(). */
  spawnIn(ns: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Kills what is still running and deletes both namespaces (the veth pair and every rule go with them). Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.#children.clear();
    for (const ns of [this.attacker, this.daemonNs]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    process.removeListener('exit', this.#onExit);
    process.removeListener('SIGTERM', this.#onSignal);
  }
}
