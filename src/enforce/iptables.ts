/**
 * The iptables backend, for hosts without nft: ipsets hold the bans and the allowlist, and a chain
 * of ours (`PORTWARDEN` for IPv4, `PORTWARDEN6` for IPv6) jumped to from the top of INPUT matches
 * them. The host's own rules stay where they are: an allowed source RETURNs to them, a banned
 * source is dropped.
 *
 *   ipsets  portwarden-allow4 / -allow6   hash:net
 *           portwarden-ban4 / -ban6       hash:net timeout 0 (each element carries its own timeout;
 *                                         0 = until unbanned)
 *   chains  PORTWARDEN(6)       ← `-I INPUT 1 -j PORTWARDEN(6)`: allow → RETURN, ban → DROP,
 *                                 then (optional) the NFLOG capture prefilter
 *           PORTWARDEN(6)-OUT   ← `-I OUTPUT 1 -j …` (only with the prefilter): the host's answers
 *
 * `setup` runs one `ipset restore` and one `iptables-restore --noflush` per family (after one
 * `iptables-save` per family to find old jumps); `commit` runs one `ipset -exist restore` for all
 * queued changes. ipset restore applies lines in order and stops at the first refused one, so a
 * refused line is recorded and the rest is sent again (every line before it is in the kernel); the
 * refused lines are then thrown as one EnforceError (PW_ERR_ENFORCE).
 *
 * Unlike the nftables backend, overlapping prefixes are not merged: hash:net keeps 10.0.0.0/24 and
 * 10.0.0.5 side by side (either matches), and unbanning the network leaves the address banned.
 */
import { spawn } from 'node:child_process';
import { PortwardenError } from '../errors.js';
import type { CommitResult, EnforcementBackend, KernelBan } from './backend.js';
import { EnforceError, QueueingBackend, type EnforceFailure } from './decisions.js';
import type { QueuedChange } from './element-state.js';
import { parseTarget, type Family } from './targets.js';

export const IPSET_ALLOW4 = 'portwarden-allow4';
export const IPSET_ALLOW6 = 'portwarden-allow6';
export const IPSET_BAN4 = 'portwarden-ban4';
export const IPSET_BAN6 = 'portwarden-ban6';
export const IPSET_NAMES = [IPSET_ALLOW4, IPSET_ALLOW6, IPSET_BAN4, IPSET_BAN6] as const;

const CHAINS: Record<Family, { input: string; output: string }> = {
  4: { input: 'PORTWARDEN', output: 'PORTWARDEN-OUT' },
  6: { input: 'PORTWARDEN6', output: 'PORTWARDEN6-OUT' },
};

/** The largest element timeout ipset takes (the kernel keeps it in ms in 32 bits). */
export const IPSET_MAX_TIMEOUT_SECONDS = 2147483;
const DEFAULT_SNAPLEN = 128;

export interface IptablesBackendOptions {
  /** NFLOG group for the capture prefilter; without it no NFLOG rules (and no OUTPUT chain). */
  nflogGroup?: number;
  /** Bytes of each packet copied to NFLOG (--nflog-size). Default 128. */
  snaplen?: number;
  /** maxelem of the ban sets. Default 1,048,576. */
  maxBans?: number;
  /** Binaries; defaults from PATH. */
  ipsetPath?: string;
  iptablesRestorePath?: string;
  ip6tablesRestorePath?: string;
  iptablesSavePath?: string;
  ip6tablesSavePath?: string;
}

export interface IptablesPrefilterRules {
  /** Rule specs (without `-A CHAIN`) for the INPUT side of each family. */
  input4: string[];
  input6: string[];
  /** Rule specs for the OUTPUT side. */
  output4: string[];
  output6: string[];
}

/**
 * The iptables form of `nflogPrefilterRules` (capture/nflog.ts): first contacts and packets
 * conntrack cannot place, ICMP errors about our own connections, and the host's answers (SYN-ACK,
 * RST, ICMP unreachable and echo reply), each copied to NFLOG group `group`, `snaplen` bytes.
 */
export function iptablesPrefilterRules(group: number, snaplen = DEFAULT_SNAPLEN): IptablesPrefilterRules {
  if (!Number.isInteger(group) || group < 0 || group > 65535) {
    throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${String(group)} is out of range (0–65535)`);
  }
  if (!Number.isInteger(snaplen) || snaplen < 40 || snaplen > 65535) {
    throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG snaplen ${String(snaplen)} is out of range (40–65535 bytes)`);
  }
  const log = `-j NFLOG --nflog-group ${group} --nflog-size ${snaplen}`;
  const comment = (text: string) => `-m comment --comment "portwarden: ${text}"`;
  const input = (icmp: string) => [
    `! -i lo -m conntrack --ctstate NEW,INVALID ${comment('first contacts and invalid packets')} ${log}`,
    `! -i lo -p ${icmp} -m conntrack --ctstate RELATED ${comment('ICMP errors about our connections')} ${log}`,
  ];
  const tcp = [
    `! -o lo -p tcp --tcp-flags SYN,ACK SYN,ACK ${comment('SYN-ACK answers')} ${log}`,
    `! -o lo -p tcp --tcp-flags SYN,RST RST ${comment('RST answers')} ${log}`,
  ];
  return {
    input4: input('icmp'),
    input6: input('ipv6-icmp'),
    output4: [
      ...tcp,
      `! -o lo -p icmp --icmp-type destination-unreachable ${comment('ICMP answers')} ${log}`,
      `! -o lo -p icmp --icmp-type echo-reply ${comment('ICMP answers')} ${log}`,
    ],
    output6: [
      ...tcp,
      `! -o lo -p ipv6-icmp --icmpv6-type destination-unreachable ${comment('ICMPv6 answers')} ${log}`,
      `! -o lo -p ipv6-icmp --icmpv6-type echo-reply ${comment('ICMPv6 answers')} ${log}`,
    ],
  };
}

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

function exec(command: string, args: readonly string[], input?: string): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) =>
      reject(new PortwardenError('PW_ERR_ENFORCE', `cannot run ${command}: ${error.message}`, { cause: error })),
    );
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        durationMs: performance.now() - started,
      }),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

async function must(command: string, args: readonly string[], input?: string): Promise<Exec> {
  const result = await exec(command, args, input);
  if (result.code !== 0) {
    throw new PortwardenError('PW_ERR_ENFORCE', `${command} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  }
  return result;
}

/** One line of an ipset restore script and the decision it came from. */
interface Line {
  text: string;
  change: QueuedChange;
}

export class IptablesBackend extends QueueingBackend implements EnforcementBackend {
  readonly name = 'iptables' as const;
  readonly prefilter: IptablesPrefilterRules | null;
  readonly #maxBans: number;
  readonly #ipset: string;
  readonly #restore: Record<Family, string>;
  readonly #save: Record<Family, string>;
  #tail: Promise<unknown> = Promise.resolve();

  /** Validates the options now, not at the first setup. */
  constructor(options: IptablesBackendOptions = {}) {
    super();
    this.prefilter = options.nflogGroup === undefined ? null : iptablesPrefilterRules(options.nflogGroup, options.snaplen ?? DEFAULT_SNAPLEN);
    const maxBans = options.maxBans ?? 1_048_576;
    if (!Number.isInteger(maxBans) || maxBans < 1 || maxBans > 2 ** 31) {
      throw new PortwardenError('PW_ERR_CONFIG_INVALID', `iptables maxBans ${String(maxBans)} is not a positive integer`);
    }
    this.#maxBans = maxBans;
    this.#ipset = options.ipsetPath ?? 'ipset';
    this.#restore = { 4: options.iptablesRestorePath ?? 'iptables-restore', 6: options.ip6tablesRestorePath ?? 'ip6tables-restore' };
    this.#save = { 4: options.iptablesSavePath ?? 'iptables-save', 6: options.ip6tablesSavePath ?? 'ip6tables-save' };
  }

  /** The script `setup` feeds to `ipset restore`. */
  ipsetSetupText(): string {
    const lines: string[] = [];
    for (const [name, family] of [
      [IPSET_ALLOW4, 'inet'],
      [IPSET_ALLOW6, 'inet6'],
    ] as const) {
      lines.push(`create ${name} hash:net family ${family} -exist`, `flush ${name}`);
    }
    for (const [name, family] of [
      [IPSET_BAN4, 'inet'],
      [IPSET_BAN6, 'inet6'],
    ] as const) {
      lines.push(`create ${name} hash:net family ${family} timeout 0 maxelem ${this.#maxBans} -exist`, `flush ${name}`);
    }
    return `${lines.join('\n')}\n`;
  }

  /**
   * The script `setup` feeds to `iptables-restore --noflush` for one family. `saved` is the
   * family's current `iptables-save -t filter`: every old jump to our chains is deleted (by its
   * exact spec) before the new one is inserted, so setup may run any number of times.
   */
  iptablesSetupText(family: Family, saved = ''): string {
    const { input, output } = CHAINS[family];
    const allow = family === 4 ? IPSET_ALLOW4 : IPSET_ALLOW6;
    const ban = family === 4 ? IPSET_BAN4 : IPSET_BAN6;
    const existing = chainsIn(saved);
    const lines = ['*filter', ...oldJumps(saved), `:${input} - [0:0]`];
    if (this.prefilter !== null || existing.has(output)) lines.push(`:${output} - [0:0]`); // declaring flushes
    lines.push(
      `-A ${input} -m set --match-set ${allow} src -m comment --comment "portwarden: allowlist" -j RETURN`,
      `-A ${input} -m set --match-set ${ban} src -m comment --comment "portwarden: bans" -j DROP`,
    );
    if (this.prefilter !== null) {
      const rules = family === 4 ? this.prefilter : { input4: this.prefilter.input6, output4: this.prefilter.output6 };
      for (const rule of rules.input4) lines.push(`-A ${input} ${rule}`);
      for (const rule of rules.output4) lines.push(`-A ${output} ${rule}`);
      lines.push(`-I OUTPUT 1 -j ${output}`);
    } else if (existing.has(output)) {
      lines.push(`-X ${output}`);
    }
    lines.push(`-I INPUT 1 -j ${input}`, 'COMMIT');
    return `${lines.join('\n')}\n`;
  }

  setup(): Promise<void> {
    return this.#serial(async () => {
      try {
        await must(this.#ipset, ['restore'], this.ipsetSetupText());
      } catch {
        // A set of ours with other parameters (an older version): remove everything, then retry;
        // a second failure is the error.
        await this.#teardown();
        await must(this.#ipset, ['restore'], this.ipsetSetupText());
      }
      for (const family of [4, 6] as const) {
        const saved = await this.#saveFilter(family);
        await must(this.#restore[family], ['--noflush'], this.iptablesSetupText(family, saved));
      }
    });
  }

  commit(): Promise<CommitResult> {
    const changes = this.takeQueued();
    return this.#serial(() => this.#commit(changes));
  }

  bans(): Promise<KernelBan[]> {
    return this.#serial(async () => {
      const saved = await must(this.#ipset, ['save']);
      const out: KernelBan[] = [];
      for (const line of saved.stdout.split('\n')) {
        const words = line.trim().split(/\s+/);
        if (words[0] !== 'add' || (words[1] !== IPSET_BAN4 && words[1] !== IPSET_BAN6)) continue;
        const parsed = parseTarget(words[2] ?? '');
        if (!parsed.ok) continue;
        const at = words.indexOf('timeout');
        const seconds = at < 0 ? 0 : Number(words[at + 1]);
        out.push({ target: parsed.target.text, expiresInSeconds: seconds > 0 ? seconds : null });
      }
      return out;
    });
  }

  present(): Promise<boolean> {
    return this.#serial(async () => {
      const names = new Set((await must(this.#ipset, ['list', '-n'])).stdout.split('\n').map((n) => n.trim()));
      if (!IPSET_NAMES.every((name) => names.has(name))) return false;
      for (const family of [4, 6] as const) {
        const saved = await this.#saveFilter(family);
        const input = CHAINS[family].input;
        if (!chainsIn(saved).has(input) || !saved.split('\n').some((line) => line.startsWith('-A INPUT ') && line.endsWith(`-j ${input}`))) {
          return false;
        }
      }
      return true;
    });
  }

  /** Removes the jumps, our chains and our sets; nothing to do for what is already gone. */
  teardown(): Promise<void> {
    return this.#serial(async () => {
      await this.#teardown();
      this.dropQueued();
    });
  }

  async #teardown(): Promise<void> {
    for (const family of [4, 6] as const) {
      const saved = await this.#saveFilter(family);
      const ours = [...chainsIn(saved)].filter((chain) => chain === CHAINS[family].input || chain === CHAINS[family].output);
      const jumps = oldJumps(saved);
      if (ours.length === 0 && jumps.length === 0) continue;
      const lines = ['*filter', ...jumps, ...ours.map((chain) => `-F ${chain}`), ...ours.map((chain) => `-X ${chain}`), 'COMMIT'];
      await must(this.#restore[family], ['--noflush'], `${lines.join('\n')}\n`);
    }
    const names = new Set((await must(this.#ipset, ['list', '-n'])).stdout.split('\n').map((n) => n.trim()));
    const destroy = IPSET_NAMES.filter((name) => names.has(name)).map((name) => `destroy ${name}`);
    if (destroy.length > 0) await must(this.#ipset, ['restore'], `${destroy.join('\n')}\n`);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #saveFilter(family: Family): Promise<string> {
    return (await must(this.#save[family], ['-t', 'filter'])).stdout;
  }

  async #commit(changes: readonly QueuedChange[]): Promise<CommitResult> {
    if (changes.length === 0) return { applied: 0, durationMs: 0 };
    let lines = changes.map((change): Line => ({ text: ipsetLine(change), change }));
    const failures: EnforceFailure[] = [];
    let durationMs = 0;
    // Each round applies the lines up to the first refused one; the rest goes again without it.
    while (lines.length > 0) {
      const result = await exec(this.#ipset, ['-exist', 'restore'], `${lines.map((l) => l.text).join('\n')}\n`);
      durationMs += result.durationMs;
      if (result.code === 0) break;
      const match = /Error in line (\d+):\s*(.*)/.exec(result.stderr);
      const index = match === null ? -1 : Number(match[1]) - 1;
      if (index < 0 || index >= lines.length) {
        // Not a line's fault (no ipset support, no permission): nothing after the failure is known
        // to be applied, so all of it is reported.
        const reason = result.stderr.trim() || `ipset exited with ${result.code}`;
        for (const line of lines) failures.push({ action: line.change.action, target: line.change.target.text, errno: 0, reason });
        lines = [];
        break;
      }
      const refused = lines[index];
      failures.push({ action: refused.change.action, target: refused.change.target.text, errno: 0, reason: match?.[2]?.trim() ?? 'refused' });
      lines = lines.slice(index + 1);
    }
    const applied = changes.length - failures.length;
    if (failures.length > 0) throw new EnforceError(failures, applied, durationMs);
    return { applied, durationMs };
  }
}

/** The ipset restore line of one decision (run with -exist: re-adding refreshes, deleting what is missing is fine). */
export function ipsetLine(change: QueuedChange): string {
  const { target } = change;
  const text = target.text;
  switch (change.action) {
    case 'ban': {
      const set = target.family === 4 ? IPSET_BAN4 : IPSET_BAN6;
      const seconds = change.timeoutMs === null ? 0 : Math.min(IPSET_MAX_TIMEOUT_SECONDS, Math.max(1, Math.ceil(change.timeoutMs / 1000)));
      return `add ${set} ${text} timeout ${seconds}`;
    }
    case 'unban':
      return `del ${target.family === 4 ? IPSET_BAN4 : IPSET_BAN6} ${text}`;
    case 'allow':
      return `add ${target.family === 4 ? IPSET_ALLOW4 : IPSET_ALLOW6} ${text}`;
    case 'disallow':
      return `del ${target.family === 4 ? IPSET_ALLOW4 : IPSET_ALLOW6} ${text}`;
  }
}

/** User chains declared in an iptables-save text. */
function chainsIn(saved: string): Set<string> {
  const out = new Set<string>();
  for (const line of saved.split('\n')) {
    const m = /^:(\S+) /.exec(line);
    if (m !== null) out.add(m[1]);
  }
  return out;
}

/** `-D` lines for every jump from INPUT / OUTPUT to one of our chains, as iptables-save wrote them. */
function oldJumps(saved: string): string[] {
  const ours = new Set(Object.values(CHAINS).flatMap((c) => [c.input, c.output]));
  const out: string[] = [];
  for (const line of saved.split('\n')) {
    const m = /^-A (INPUT|OUTPUT) (.*)-j (\S+)\s*$/.exec(line.trim());
    if (m !== null && ours.has(m[3])) out.push(`-D ${line.trim().slice(3)}`);
  }
  return out;
}
