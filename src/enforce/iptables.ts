/**
 * The iptables backend, for hosts without nft: ipsets hold the bans and the allowlist, and a chain
 * of ours (`PORTWARDEN` for IPv4, `PORTWARDEN6` for IPv6) jumped to from the top of INPUT matches
 * them. The host's own rules stay where they are: an allowed source RETURNs to them, a banned
 * source is dropped.
 *
 *   ipsets  portwarden-allow4 / -allow6   hash:net
 *           portwarden-ban4 / -ban6       hash:net timeout 0 (each element carries its own timeout;
 *                                         0 = until unbanned)
 *           portwarden-block4 / -block6   hash:net: the static `blockedNetworks`, refilled at setup
 *   chains  PORTWARDEN(6)       ← `-I INPUT 1 -j PORTWARDEN(6)`: allow → RETURN, ban → DROP,
 *                                 blocked networks and ports → DROP, then (optional) the NFLOG
 *                                 capture prefilter (every interface but lo, or the named ones)
 *           PORTWARDEN(6)-OUT   ← `-I OUTPUT 1 -j …` (only with output rules): the host's answers
 *           PORTWARDEN(6)-FWD   ← `-I FORWARD 1 -j …` (only with `forward`, a router): the same
 *                                 allow / ban / block rules as input, no capture
 *
 * `setup` runs one `ipset restore` and one `iptables-restore --noflush` per family (after one
 * `iptables-save` per family to find old jumps); `commit` runs one `ipset -exist restore` for all
 * queued changes. ipset restore applies lines in order and stops at the first refused one, so a
 * refused line is recorded and the rest is sent again (every line before it is in the kernel); the
 * refused lines are then thrown as one EnforceError (PW_ERR_ENFORCE).
 *
 * The capture prefilter, like every rule another stage adds, comes as a contribution to the one
 * ruleset model (kernel/ruleset.ts): each of its rules carries an iptables form beside the nft one,
 * and the model's phases order them the same way as in the nftables table (after the allowlist and
 * the drops). Only the iptables-restore text is this backend's own.
 *
 * Unlike the nftables backend, overlapping prefixes are not merged: hash:net keeps 10.0.0.0/24 and
 * 10.0.0.5 side by side (either matches), and unbanning the network leaves the address banned.
 */
import { spawn } from 'node:child_process';
import { PortwardenError } from '../errors.js';
import type { CommitResult, EnforcementBackend } from './backend.js';
import type { KernelBan } from '../model/ban.js';
import { EnforceError, QueueingBackend, type EnforceFailure } from './decisions.js';
import type { QueuedChange } from './element-state.js';
import { parseTarget, type Family } from '../net/target.js';
import { nflogRules } from '../capture/nflog.js';
import { buildRuleset, iptablesHookRules, PHASES, type RuleContribution, type RulesetModel } from '../kernel/ruleset.js';

export const IPSET_ALLOW4 = 'portwarden-allow4';
export const IPSET_ALLOW6 = 'portwarden-allow6';
export const IPSET_BAN4 = 'portwarden-ban4';
export const IPSET_BAN6 = 'portwarden-ban6';
export const IPSET_BLOCK4 = 'portwarden-block4';
export const IPSET_BLOCK6 = 'portwarden-block6';
export const IPSET_NAMES = [IPSET_ALLOW4, IPSET_ALLOW6, IPSET_BAN4, IPSET_BAN6, IPSET_BLOCK4, IPSET_BLOCK6] as const;

const CHAINS: Record<Family, { input: string; output: string; forward: string }> = {
  4: { input: 'PORTWARDEN', output: 'PORTWARDEN-OUT', forward: 'PORTWARDEN-FWD' },
  6: { input: 'PORTWARDEN6', output: 'PORTWARDEN6-OUT', forward: 'PORTWARDEN6-FWD' },
};
/** iptables' multiport match takes at most 15 ports per rule. */
const MULTIPORT_MAX = 15;

/** The largest element timeout ipset takes (the kernel keeps it in ms in 32 bits). */
export const IPSET_MAX_TIMEOUT_SECONDS = 2147483;

export interface IptablesBackendOptions {
  /**
   * What other stages put into the chains (capture's `nflogRules(…)`), each rule in its iptables form;
   * only phases after the drops (meter, log, queue): our drops come first, as in the nftables table.
   */
  contributions?: readonly RuleContribution[];
  /** NFLOG group for the capture prefilter (the same as contributing `nflogRules(group, …)`); without it and without output rules, no OUTPUT chain. */
  nflogGroup?: number;
  /** Bytes of each packet copied to NFLOG (--nflog-size). Default 128. */
  snaplen?: number;
  /** Interfaces the NFLOG rules watch (`-i` / `-o`, one rule each); default every interface but lo. */
  interfaces?: readonly string[];
  /** Also filter forwarded traffic (a router): allow, bans and the static drops in FORWARD too. */
  forward?: boolean;
  /** Sources always dropped: addresses or CIDRs, IPv4 or IPv6 (`enforce.blockedNetworks`). */
  blockedNetworks?: readonly string[];
  /** Destination ports always dropped, for every source not allowlisted. */
  blockedTcpPorts?: readonly number[];
  blockedUdpPorts?: readonly number[];
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

/** The chains' contributed rules, per hook and family, from the ruleset model. */
function contributedRules(model: RulesetModel): IptablesPrefilterRules & { forward4: string[]; forward6: string[] } {
  // ipsets are this backend's only named objects, and our chains its only chains: nft declarations
  // have no iptables form, and dropping them silently would change what the kernel does.
  const extra = [...model.declarations.map((d) => `${d.owner}'s ${d.kind} ${d.name}`), ...model.chains.map((c) => `${c.owner}'s chain ${c.name}`)];
  if (extra.length > 0) throw new PortwardenError('PW_ERR_CONFIG_INVALID', `iptables backend: ${extra.join(', ')} cannot be declared with iptables`);
  const firstAfterDrops = PHASES.indexOf('meter');
  for (const hook of ['input', 'forward', 'output'] as const) {
    for (const rule of model.hooks[hook]) {
      if (PHASES.indexOf(rule.phase) < firstAfterDrops) {
        throw new PortwardenError('PW_ERR_CONFIG_INVALID', `iptables backend: ${rule.owner}'s ${hook} rule in phase ${rule.phase} would have to come before our drops, which this backend does not offer`);
      }
    }
  }
  return {
    input4: iptablesHookRules(model, 'input', 4),
    input6: iptablesHookRules(model, 'input', 6),
    output4: iptablesHookRules(model, 'output', 4),
    output6: iptablesHookRules(model, 'output', 6),
    forward4: iptablesHookRules(model, 'forward', 4),
    forward6: iptablesHookRules(model, 'forward', 6),
  };
}

/**
 * The iptables form of capture's NFLOG prefilter (`nflogRules` in capture/nflog.ts): first contacts
 * and packets conntrack cannot place, ICMP errors about our own connections, and the host's answers
 * (SYN-ACK, RST, ICMP unreachable and echo reply), each copied to NFLOG group `group`, `snaplen`
 * bytes. With `interfaces`, each rule once per interface; without, every interface but loopback.
 */
export function iptablesPrefilterRules(group: number, snaplen?: number, interfaces?: readonly string[]): IptablesPrefilterRules {
  const model = buildRuleset({ name: 'portwarden', priority: 0 }, [nflogRules(group, { snaplen, interfaces })]);
  const { input4, input6, output4, output6 } = contributedRules(model);
  return { input4, input6, output4, output6 };
}

/** The static drops: `blockedNetworks` split by family (a /0 as its two halves: hash:net takes no /0), ports checked and sorted. */
function staticDrops(options: IptablesBackendOptions): { networks: Record<Family, string[]>; tcp: number[]; udp: number[] } {
  const invalid = (message: string) => new PortwardenError('PW_ERR_CONFIG_INVALID', `iptables backend: ${message}`);
  const networks: Record<Family, string[]> = { 4: [], 6: [] };
  for (const [index, entry] of (options.blockedNetworks ?? []).entries()) {
    const parsed = parseTarget(String(entry));
    if (!parsed.ok) throw invalid(`blockedNetworks[${index}] ${JSON.stringify(entry)}: ${parsed.reason}`);
    const { family, prefixLength, text } = parsed.target;
    if (prefixLength === 0) networks[family].push(...(family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1']));
    else networks[family].push(text);
  }
  const ports = (list: readonly number[] | undefined, field: string) => {
    for (const [index, port] of (list ?? []).entries()) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`${field}[${index}] ${JSON.stringify(port)} is not a port number (1-65535)`);
    }
    return [...new Set(list ?? [])].sort((a, b) => a - b);
  };
  return { networks, tcp: ports(options.blockedTcpPorts, 'blockedTcpPorts'), udp: ports(options.blockedUdpPorts, 'blockedUdpPorts') };
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
  /** What the contributions put into our chains, after our own drops. */
  readonly contributed: ReturnType<typeof contributedRules>;
  readonly #forward: boolean;
  readonly #drops: ReturnType<typeof staticDrops>;
  readonly #maxBans: number;
  readonly #ipset: string;
  readonly #restore: Record<Family, string>;
  readonly #save: Record<Family, string>;
  #tail: Promise<unknown> = Promise.resolve();

  /** Validates the options now, not at the first setup. */
  constructor(options: IptablesBackendOptions = {}) {
    super();
    const capture = options.nflogGroup === undefined ? [] : [nflogRules(options.nflogGroup, { snaplen: options.snaplen, interfaces: options.interfaces })];
    this.contributed = contributedRules(buildRuleset({ name: 'portwarden', priority: 0 }, [...(options.contributions ?? []), ...capture]));
    this.#forward = options.forward ?? false;
    this.#drops = staticDrops(options);
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
    for (const [name, family, net] of [
      [IPSET_BLOCK4, 'inet', 4],
      [IPSET_BLOCK6, 'inet6', 6],
    ] as const) {
      lines.push(`create ${name} hash:net family ${family} -exist`, `flush ${name}`, ...this.#drops.networks[net].map((n) => `add ${name} ${n} -exist`));
    }
    return `${lines.join('\n')}\n`;
  }

  /**
   * The script `setup` feeds to `iptables-restore --noflush` for one family. `saved` is the
   * family's current `iptables-save -t filter`: every old jump to our chains is deleted (by its
   * exact spec) before the new one is inserted, so setup may run any number of times.
   */
  iptablesSetupText(family: Family, saved = ''): string {
    const { input, output, forward } = CHAINS[family];
    const existing = chainsIn(saved);
    const c = this.contributed;
    const added = family === 4 ? { input: c.input4, output: c.output4, forward: c.forward4 } : { input: c.input6, output: c.output6, forward: c.forward6 };
    // An output chain whenever anything contributes output rules, in either family: both families'
    // chains then look alike (the IPv4 ICMP answers have no IPv6 rule, and the other way round).
    const hasOutput = c.output4.length + c.output6.length > 0;
    const lines = ['*filter', ...oldJumps(saved), `:${input} - [0:0]`];
    if (hasOutput || existing.has(output)) lines.push(`:${output} - [0:0]`); // declaring flushes
    if (this.#forward || existing.has(forward)) lines.push(`:${forward} - [0:0]`);
    for (const rule of this.#dropRules(family)) lines.push(`-A ${input} ${rule}`);
    for (const rule of added.input) lines.push(`-A ${input} ${rule}`);
    if (hasOutput) {
      for (const rule of added.output) lines.push(`-A ${output} ${rule}`);
      lines.push(`-I OUTPUT 1 -j ${output}`);
    } else if (existing.has(output)) {
      lines.push(`-X ${output}`);
    }
    if (this.#forward) {
      for (const rule of this.#dropRules(family)) lines.push(`-A ${forward} ${rule}`);
      for (const rule of added.forward) lines.push(`-A ${forward} ${rule}`);
      lines.push(`-I FORWARD 1 -j ${forward}`);
    } else if (existing.has(forward)) {
      lines.push(`-X ${forward}`);
    }
    lines.push(`-I INPUT 1 -j ${input}`, 'COMMIT');
    return `${lines.join('\n')}\n`;
  }

  /**
   * What input (and forward) drop, in the nftables table's order: an allowlisted source returns to
   * the host's own rules first, then bans, blocked networks and blocked ports are dropped.
   */
  #dropRules(family: Family): string[] {
    const comment = (text: string) => `-m comment --comment "portwarden: ${text}"`;
    const rules = [
      `-m set --match-set ${family === 4 ? IPSET_ALLOW4 : IPSET_ALLOW6} src ${comment('allowlist')} -j RETURN`,
      `-m set --match-set ${family === 4 ? IPSET_BAN4 : IPSET_BAN6} src ${comment('bans')} -j DROP`,
    ];
    if (this.#drops.networks[family].length > 0) rules.push(`-m set --match-set ${family === 4 ? IPSET_BLOCK4 : IPSET_BLOCK6} src ${comment('blocked networks')} -j DROP`);
    for (const [proto, ports] of [
      ['tcp', this.#drops.tcp],
      ['udp', this.#drops.udp],
    ] as const) {
      for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
        rules.push(`-p ${proto} -m multiport --dports ${ports.slice(i, i + MULTIPORT_MAX).join(',')} ${comment(`blocked ${proto.toUpperCase()} ports`)} -j DROP`);
      }
    }
    return rules;
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
        const jumped = (hook: string, chain: string) => chainsIn(saved).has(chain) && saved.split('\n').some((line) => line.startsWith(`-A ${hook} `) && line.endsWith(`-j ${chain}`));
        if (!jumped('INPUT', CHAINS[family].input) || (this.#forward && !jumped('FORWARD', CHAINS[family].forward))) return false;
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
      const mine = Object.values(CHAINS[family]) as string[];
      const ours = [...chainsIn(saved)].filter((chain) => mine.includes(chain));
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

/** `-D` lines for every jump from INPUT / OUTPUT / FORWARD to one of our chains, as iptables-save wrote them. */
function oldJumps(saved: string): string[] {
  const ours = new Set(Object.values(CHAINS).flatMap((c) => [c.input, c.output, c.forward]));
  const out: string[] = [];
  for (const line of saved.split('\n')) {
    const m = /^-A (INPUT|OUTPUT|FORWARD) (.*)-j (\S+)\s*$/.exec(line.trim());
    if (m !== null && ours.has(m[3])) out.push(`-D ${line.trim().slice(3)}`);
  }
  return out;
}
