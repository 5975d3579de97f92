/**
 * The kernel side of responses, in our `inet portwarden` table: sets of answered scanners
 * (`respond4`, `respond6`; one element per banned scanner, with the ban's timeout), per-source meters,
 * one named limit shared by every answering rule (the global cap, IPv4 and IPv6 together) and a chain
 * `respond` the input chain jumps to right after the allow sets are accepted, so an allowlisted or
 * protected source never reaches it.
 *
 * Only a scanner's connection attempts (SYN without ACK) are answered; everything else from it falls
 * back to the input chain and its ban. Per answered SYN, in order: over its per-source rate → dropped
 * (counted); within the global cap → answered (`rst`: the kernel's own `reject with tcp reset`;
 * `try-harder`, `syn-ack`: logged to the respond NFLOG group for user space to answer, and dropped so
 * the host's own stack does not answer too); over the cap → dropped (counted).
 */
import { addDeclarationText, replaceChainRulesText, type Declaration, type RuleContribution } from '../kernel/ruleset.js';
import type { RespondSettings } from './settings.js';

const RESPOND_CHAIN = 'respond';
export const RESPOND_SETS = { 4: 'respond4', 6: 'respond6' } as const;
const METER = { 4: 'respond_meter4', 6: 'respond_meter6' } as const;
const CAP = 'respond_cap';
/** Kernel counters, by the name they get in status (`respond.kernel.*`). */
export const KERNEL_COUNTERS = {
  respond_answered: 'SYNs of answered scanners within the caps: reset by the kernel (rst) or handed to user space',
  respond_source_capped: 'SYNs of answered scanners over their per-source rate: dropped unanswered',
  respond_capped: 'SYNs of answered scanners over the global response cap: dropped unanswered',
} as const;
/** Element sets never get bigger than this: past it the kernel refuses new answered sources (ENOSPC), counted. */
const SET_SIZE = 65536;
const SYN_ONLY = 'tcp flags & (fin | syn | rst | ack) == syn';

/** The table's declarations: the answered sets, the per-source meters, the cap, the counters. */
export function respondDeclarations(s: RespondSettings): Declaration[] {
  return [
    // Not kept across a restart that keeps the table: the daemon answers again whom it bans again.
    { kind: 'set', name: RESPOND_SETS[4], type: 'ipv4_addr', flags: ['timeout'], size: SET_SIZE },
    { kind: 'set', name: RESPOND_SETS[6], type: 'ipv6_addr', flags: ['timeout'], size: SET_SIZE },
    { kind: 'set', name: METER[4], type: 'ipv4_addr', size: SET_SIZE, flags: ['dynamic', 'timeout'], timeoutSeconds: 60 },
    { kind: 'set', name: METER[6], type: 'ipv6_addr', size: SET_SIZE, flags: ['dynamic', 'timeout'], timeoutSeconds: 60 },
    capDeclaration(s),
    ...Object.keys(KERNEL_COUNTERS).map((name): Declaration => ({ kind: 'counter', name })),
  ];
}

function capDeclaration(s: RespondSettings): Declaration {
  return { kind: 'limit', name: CAP, perSecond: s.maxPerSecond, burstPackets: s.burst };
}

/** The rules of the `respond` chain for the mode (none for `drop`). */
export function respondRules(s: RespondSettings): string[] {
  if (s.mode === 'drop') return [];
  const answer = s.mode === 'rst' ? 'reject with tcp reset' : `log group ${s.nflogGroup} snaplen 128 drop`;
  const rules: string[] = [];
  for (const [family, match] of [
    [4, 'ip saddr'],
    [6, 'ip6 saddr'],
  ] as const) {
    const from = `${match} @${RESPOND_SETS[family]} ${SYN_ONLY}`;
    rules.push(
      `${from} add @${METER[family]} { ${match} limit rate over ${s.perSourcePerSecond}/second burst ${s.perSourceBurst} packets } counter name "respond_source_capped" drop`,
      `${from} limit name "${CAP}" counter name "respond_answered" ${answer}`,
      `${from} counter name "respond_capped" drop`,
    );
  }
  return rules;
}

/**
 * respond's part of the table (kernel/ruleset.ts): the declarations, the `respond` chain, and the
 * jump to it in the input chain's `answer` phase: after the allowlist (an allowlisted or protected
 * source is never answered), before every drop (a ban would end the SYN's walk unanswered).
 */
export function respondContribution(s: RespondSettings): RuleContribution {
  return {
    owner: 'respond',
    declarations: respondDeclarations(s),
    chains: [{ name: RESPOND_CHAIN, rules: respondRules(s) }],
    rules: [{ hook: 'input', phase: 'answer', nft: `jump ${RESPOND_CHAIN}` }],
  };
}

/**
 * `nft -f` text that replaces the chain's rules and the cap in place (reload), in one transaction:
 * the old rules go before the limit they name is replaced.
 */
export function replaceRulesText(table: string, s: RespondSettings): string {
  const [flushChain, ...addRules] = replaceChainRulesText(table, RESPOND_CHAIN, respondRules(s));
  return [
    flushChain,
    `flush set inet ${table} ${METER[4]}`,
    `flush set inet ${table} ${METER[6]}`,
    `delete limit inet ${table} ${CAP}`,
    addDeclarationText(table, capDeclaration(s)),
    ...addRules,
    '',
  ].join('\n');
}
