/**
 * The kernel rules that queue the selected traffic to the daemon, with bypass: while nobody is
 * bound to the queue the kernel accepts the packets itself, so a stopped daemon never stops DNS.
 *
 * Two ways in, chosen at start (detectQueueBackend):
 * - nft's own `queue` statement, in a table of our own (`inet portwarden_inline`); needs a kernel
 *   with CONFIG_NFT_QUEUE, which the machines this was built on lack;
 * - iptables-nft's NFQUEUE target (the xtables compat path, which those kernels have), in chains of
 *   our own (PORTWARDEN-INLINE-IN/-OUT/-FWD) jumped to from INPUT/OUTPUT/FORWARD of iptables and
 *   ip6tables. No other rule or chain is touched; stop removes exactly what start added.
 *
 * What is queued: DNS queries (UDP and TCP port 53) arriving for the host, leaving it (not on
 * loopback: those are seen once, on the way in) and, with `forward`, passing through it; new TCP
 * connections (SYN) to `tcpPorts`, to the host and, with `forward`, through it. Answers are not
 * queued: the filter decides on queries.
 */
import { spawnSync } from 'node:child_process';
import { PortwardenError } from '../errors.js';
import { buildRuleset, iptablesHookRules, tableBlock, type HookRule, type RuleContribution, type RulesetModel } from '../kernel/ruleset.js';

export type QueueBackend = 'nft' | 'iptables';

export interface QueueRuleSettings {
  /** First queue number. */
  queue: number;
  /** Queues queue .. queue + queues - 1, balanced over by flow (and CPU with cpuFanout). */
  queues: number;
  cpuFanout: boolean;
  dns: boolean;
  tcpPorts: readonly number[];
  forward: boolean;
}

export const NFT_TABLE = 'portwarden_inline';
/** `filter - 5`: just before the usual filter chains, after the enforcement table's (-150). */
export const NFT_PRIORITY = -5;
export const IPT_CHAINS = { input: 'PORTWARDEN-INLINE-IN', output: 'PORTWARDEN-INLINE-OUT', forward: 'PORTWARDEN-INLINE-FWD' } as const;
const BUILTIN = { input: 'INPUT', output: 'OUTPUT', forward: 'FORWARD' } as const;
type Hook = keyof typeof IPT_CHAINS;

interface Selector {
  /** Protocol and match, backend-neutral. */
  proto: 'udp' | 'tcp';
  dport: number;
  syn: boolean;
}

function selectors(s: QueueRuleSettings, hook: Hook): Selector[] {
  const out: Selector[] = [];
  if (s.dns) out.push({ proto: 'udp', dport: 53, syn: false }, { proto: 'tcp', dport: 53, syn: false });
  if (hook !== 'output') for (const port of s.tcpPorts) if (!(s.dns && port === 53)) out.push({ proto: 'tcp', dport: port, syn: true });
  return out;
}

function hooks(s: QueueRuleSettings): Hook[] {
  return s.forward ? ['input', 'output', 'forward'] : ['input', 'output'];
}

/**
 * inline's rules (kernel/ruleset.ts), in the `queue` phase of each hook chain: the verdict goes to
 * user space after everything else in the table has had its say. They live in a table of their own
 * (NFT_TABLE), not in the enforcement table: inline starts, stops and replaces them on its own, and
 * enforce replaces its table as a whole at every start. Each rule carries its iptables form (the
 * NFQUEUE target, the same for iptables and ip6tables) for the iptables backend.
 */
export function inlineContribution(s: QueueRuleSettings): RuleContribution {
  const last = s.queue + s.queues - 1;
  const target = s.queues > 1 ? `queue num ${s.queue}-${last} bypass${s.cpuFanout ? ',fanout' : ''}` : `queue num ${s.queue} bypass`;
  const iptTarget = s.queues > 1 ? `-j NFQUEUE --queue-balance ${s.queue}:${last} --queue-bypass${s.cpuFanout ? ' --queue-cpu-fanout' : ''}` : `-j NFQUEUE --queue-num ${s.queue} --queue-bypass`;
  const rules: HookRule[] = [];
  for (const hook of hooks(s)) {
    for (const sel of selectors(s, hook)) {
      const iface = hook === 'output' ? 'oif != "lo" ' : '';
      const spec = `${hook === 'output' ? '! -o lo ' : ''}-p ${sel.proto} ${sel.syn ? '--syn ' : ''}--dport ${sel.dport} ${iptTarget}`;
      rules.push({ hook, phase: 'queue', nft: `${iface}${sel.proto} dport ${sel.dport}${sel.syn ? ' tcp flags & (syn | ack) == syn' : ''} ${target}`, iptables: { 4: [spec], 6: [spec] } });
    }
  }
  return { owner: 'inline', rules };
}

function inlineModel(s: QueueRuleSettings): RulesetModel {
  return buildRuleset({ name: NFT_TABLE, priority: NFT_PRIORITY }, [inlineContribution(s)]);
}

/** The nft ruleset text (for `nft -f`) of the nft backend: inline's table, rendered by the one builder. */
export function nftInlineRuleset(s: QueueRuleSettings): string {
  return tableBlock(inlineModel(s)).join('\n');
}

/**
 * iptables argument lists (one rule each, `-A CHAIN ...`) of the iptables backend, from the same
 * model; run as argument lists (no shell), so a spec is split on its spaces (it quotes nothing).
 */
export function iptablesInlineRules(s: QueueRuleSettings): string[][] {
  const m = inlineModel(s);
  return hooks(s).flatMap((hook) => iptablesHookRules(m, hook, 4).map((spec) => ['-A', IPT_CHAINS[hook], ...spec.split(' ')]));
}

function run(cmd: string, args: readonly string[], input?: string): { ok: boolean; stderr: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, stderr: (r.stderr ?? '') + (r.error !== undefined ? r.error.message : '') };
}

/**
 * Which backend the running kernel supports: nft's `queue` statement if a throwaway table using it
 * passes `nft -c` (a check: the kernel validates the transaction and it is aborted, nothing is
 * installed), else iptables-nft's NFQUEUE target.
 */
export function detectQueueBackend(): QueueBackend {
  const probe = tableBlock(buildRuleset({ name: 'portwarden_inline_probe', priority: 0 }, [{ owner: 'inline', rules: [{ hook: 'input', phase: 'queue', nft: 'udp dport 9 queue num 0 bypass' }] }])).join('\n');
  return run('nft', ['-c', '-f', '-'], probe).ok ? 'nft' : 'iptables';
}

/** The iptables binaries: iptables-nft where both exist (nft-based, what this kernel speaks). */
function iptablesBinaries(): [string, string] {
  return run('iptables-nft', ['--version']).ok ? ['iptables-nft', 'ip6tables-nft'] : ['iptables', 'ip6tables'];
}

/** Installs the queue rules; replaces rules of ours left from an earlier run. */
export function installQueueRules(backend: QueueBackend, s: QueueRuleSettings): void {
  if (backend === 'nft') {
    removeQueueRules('nft');
    const r = run('nft', ['-f', '-'], nftInlineRuleset(s));
    if (!r.ok) throw new PortwardenError('PW_ERR_INLINE', `cannot install the inline queue rules (nft table inet ${NFT_TABLE}): ${r.stderr.trim()}`);
    return;
  }
  const rules = iptablesInlineRules(s);
  for (const bin of iptablesBinaries()) {
    for (const hook of Object.keys(IPT_CHAINS) as Hook[]) {
      const chain = IPT_CHAINS[hook];
      // Create or empty our chain, then make sure exactly one jump to it sits first in the built-in chain.
      if (!run(bin, ['-N', chain]).ok) must(bin, ['-F', chain]);
      while (run(bin, ['-D', BUILTIN[hook], '-j', chain]).ok) {
        /* an old jump: removed, added again first below */
      }
      must(bin, ['-I', BUILTIN[hook], '1', '-j', chain]);
    }
    for (const rule of rules) must(bin, rule);
  }
}

function must(bin: string, args: string[]): void {
  const r = run(bin, args);
  if (!r.ok) throw new PortwardenError('PW_ERR_INLINE', `cannot install the inline queue rules: ${bin} ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** Removes our rules (and only ours); quiet when they are not there. */
export function removeQueueRules(backend: QueueBackend): void {
  if (backend === 'nft') {
    run('nft', ['delete', 'table', 'inet', NFT_TABLE]);
    return;
  }
  for (const bin of iptablesBinaries()) {
    for (const hook of Object.keys(IPT_CHAINS) as Hook[]) {
      const chain = IPT_CHAINS[hook];
      while (run(bin, ['-D', BUILTIN[hook], '-j', chain]).ok) {
        /* every jump to our chain */
      }
      run(bin, ['-F', chain]);
      run(bin, ['-X', chain]);
    }
  }
}
