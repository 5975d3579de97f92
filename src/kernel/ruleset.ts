/**
 * The one ruleset builder: every stage that needs rules in the kernel (enforce's allow and ban sets,
 * capture's NFLOG prefilter, respond's answers to banned scanners, inline's NFQUEUE selection)
 * describes them as a RuleContribution, and this module puts them into one table model and renders
 * it once, as `nft -f` text (and, for the iptables backend, as iptables rule specs in the same order).
 *
 * The order of rules in a hook chain is not up to the caller: each rule names its phase, and the
 * phases run in the fixed order of PHASES. So "the allowlist before everything, answers to banned
 * scanners before the drops, drops before logging" holds whichever stage is wired first. Within a
 * phase, rules keep the order of their contributions, then their order inside one.
 *
 * What must stay true: rendering is deterministic (same contributions, same text), every name and rule
 * line is checked before it is pasted into the text (one line, balanced braces, nft identifiers), and
 * the builder never names another table: it replaces or amends its own only.
 */
import { PortwardenError } from '../errors.js';
import type { Family } from '../net/target.js';

/** The netfilter hooks our base chains attach to; a base chain is named after its hook. */
export const HOOKS = ['input', 'forward', 'output'] as const;
export type Hook = (typeof HOOKS)[number];

/**
 * Where a rule sits in its hook chain, in evaluation order:
 * - `exempt`: accepted sources (the allowlist); `accept` ends the walk through OUR table only.
 * - `answer`: answers to banned scanners; they must see a scanner's SYN before a ban drops it.
 * - `drop`: bans, the kernel fast path's bans, static blocks.
 * - `meter`: statements that only feed kernel sets (the fast path's answer meters), never a verdict.
 * - `log`: copies to user space (NFLOG); after the drops, so what is dropped costs detection nothing.
 * - `queue`: verdicts handed to user space (NFQUEUE), last: everything before has had its say.
 */
export const PHASES = ['exempt', 'answer', 'drop', 'meter', 'log', 'queue'] as const;
export type Phase = (typeof PHASES)[number];

export type AddressType = 'ipv4_addr' | 'ipv6_addr';

/** A named set of addresses. */
export interface SetDeclaration {
  readonly kind: 'set';
  readonly name: string;
  /** Addresses, or ports (`inet_service`: the flood guard's synproxy ports). */
  readonly type: AddressType | 'inet_service';
  readonly flags?: readonly ('interval' | 'timeout' | 'dynamic')[];
  readonly size?: number;
  /** Default timeout of elements added without their own. */
  readonly timeoutSeconds?: number;
  /** The elements survive a restart that keeps the table (bans); other sets are emptied then. */
  readonly keepElements?: boolean;
}

/** A named limit that several rules share (one token bucket for all of them). */
export interface LimitDeclaration {
  readonly kind: 'limit';
  readonly name: string;
  readonly perSecond: number;
  readonly burstPackets: number;
}

/** A named counter that rules count into and status reads back. */
export interface CounterDeclaration {
  readonly kind: 'counter';
  readonly name: string;
}

export type Declaration = SetDeclaration | LimitDeclaration | CounterDeclaration;

/** One rule of a hook chain. */
export interface HookRule {
  readonly hook: Hook;
  readonly phase: Phase;
  /** The nft rule: statements on one line, without `add rule` and without the comment. */
  readonly nft: string;
  /** Shown in `nft list` beside the rule: why it is there. */
  readonly comment?: string;
  /**
   * The same rule for the iptables backend, as rule specs without `-A CHAIN` (one nft rule may need
   * several: iptables matches one interface per rule), per family. Absent: the rule has no iptables
   * form, and the iptables backend refuses the contribution.
   */
  readonly iptables?: { readonly 4: readonly string[]; readonly 6: readonly string[] };
}

/** A regular chain (no hook): reached only by a `jump` from a hook rule. */
export interface ChainDeclaration {
  readonly name: string;
  readonly rules: readonly string[];
  /**
   * Makes it a base chain of its own at a hook and priority the table's hook chains do not share
   * (the flood guard's `notrack` must run in prerouting before conntrack, priority raw = -300).
   * Its rules are the owner's alone: no phases, no other stage's rules.
   */
  readonly base?: BaseChainHook;
}

/** The hook and priority of a base chain declared by one stage. */
export interface BaseChainHook {
  readonly hook: 'prerouting';
  readonly priority: number;
}

/** What one stage puts into a table. */
export interface RuleContribution {
  /** The contributing stage ('enforce', 'capture', 'respond', 'inline'): named in errors and in the model. */
  readonly owner: string;
  readonly declarations?: readonly Declaration[];
  readonly chains?: readonly ChainDeclaration[];
  readonly rules?: readonly HookRule[];
}

export interface TableSpec {
  readonly name: string;
  /** Priority of every base chain; -150 runs before the usual filter chains (priority 0). */
  readonly priority: number;
}

/** A rule as placed in its chain: with who put it there and why it sits where it does. */
export interface PlacedRule {
  readonly owner: string;
  readonly phase: Phase;
  readonly nft: string;
  readonly comment: string | null;
  readonly iptables: { readonly 4: readonly string[]; readonly 6: readonly string[] } | null;
}

/** The table, validated and ordered: what the renderers read. */
export interface RulesetModel {
  readonly table: TableSpec;
  readonly declarations: readonly (Declaration & { readonly owner: string })[];
  readonly chains: readonly (ChainDeclaration & { readonly owner: string })[];
  /** Per hook, the chain's rules in evaluation order; a hook without rules gets no chain. */
  readonly hooks: Readonly<Record<Hook, readonly PlacedRule[]>>;
}

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

function invalid(message: string): PortwardenError {
  return new PortwardenError('PW_ERR_CONFIG_INVALID', `ruleset: ${message}`);
}

/** True for an nft identifier (a letter, then letters, digits, _): safe to paste into rule text. */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** Refuses anything that is not one rule line: empty, several lines, or braces that close what they did not open. */
export function checkRuleLine(line: string, where: string): string {
  if (typeof line !== 'string' || line.trim() === '' || /[\r\n]/.test(line) || !bracesBalanced(line)) {
    throw invalid(`${where} ${JSON.stringify(line)} is not one rule line (non-empty, one line, balanced braces)`);
  }
  return line.trim();
}

function bracesBalanced(line: string): boolean {
  let depth = 0;
  for (const ch of line) {
    if (ch === '{') depth++;
    else if (ch === '}' && --depth < 0) return false;
  }
  return depth === 0;
}

function positiveInteger(value: number, where: string): number {
  if (!Number.isInteger(value) || value < 1) throw invalid(`${where} ${JSON.stringify(value)} is not a whole number above 0`);
  return value;
}

function checkDeclaration(d: Declaration, where: string): void {
  if (!isIdentifier(d.name)) throw invalid(`${where} name ${JSON.stringify(d.name)} is not an nft identifier`);
  if (d.kind === 'set') {
    if (d.size !== undefined) positiveInteger(d.size, `${where} size`);
    if (d.timeoutSeconds !== undefined) positiveInteger(d.timeoutSeconds, `${where} timeoutSeconds`);
  } else if (d.kind === 'limit') {
    positiveInteger(d.perSecond, `${where} perSecond`);
    positiveInteger(d.burstPackets, `${where} burstPackets`);
  }
}

function checkComment(comment: string, where: string): string {
  // nft comments are quoted strings of at most 128 bytes; no quote or backslash keeps them pasteable.
  if (!/^[^"\\\r\n]{1,128}$/.test(comment)) throw invalid(`${where} comment ${JSON.stringify(comment)} is not a short one-line text without quotes`);
  return comment;
}

/**
 * Validates the contributions and orders them into one table model (frozen). Throws
 * PW_ERR_CONFIG_INVALID naming the owner and entry of anything bad: a name used twice, a chain that
 * is also a hook, a rule line that is not one line.
 */
export function buildRuleset(table: TableSpec, contributions: readonly RuleContribution[]): RulesetModel {
  if (!isIdentifier(table.name)) throw invalid(`tableName ${JSON.stringify(table.name)} is not an nft identifier (a letter, then letters, digits, _)`);
  if (!Number.isInteger(table.priority) || table.priority < -1000 || table.priority > 1000) {
    throw invalid(`priority ${String(table.priority)} is not an integer between -1000 and 1000`);
  }
  const names = new Map<string, string>();
  const claim = (kind: string, name: string, owner: string) => {
    // nft keeps sets, chains and objects in separate namespaces, but one name for one thing reads better.
    const key = `${kind === 'chain' ? 'chain' : 'object'}:${name}`;
    const previous = names.get(key);
    if (previous !== undefined) throw invalid(`${owner} declares ${kind} ${name}, which ${previous} declares too`);
    names.set(key, owner);
  };
  for (const hook of HOOKS) names.set(`chain:${hook}`, 'the table (a hook chain)');

  const declarations: (Declaration & { owner: string })[] = [];
  const chains: (ChainDeclaration & { owner: string })[] = [];
  const placed: { rule: PlacedRule; hook: Hook; phaseIndex: number; seq: number }[] = [];
  for (const c of contributions) {
    if (!isIdentifier(c.owner)) throw invalid(`owner ${JSON.stringify(c.owner)} is not a plain name`);
    for (const [i, d] of (c.declarations ?? []).entries()) {
      checkDeclaration(d, `${c.owner}.declarations[${i}]`);
      claim(d.kind, d.name, c.owner);
      declarations.push(Object.freeze({ ...d, ...(d.kind === 'set' && d.flags !== undefined ? { flags: Object.freeze([...d.flags]) } : {}), owner: c.owner }));
    }
    for (const [i, ch] of (c.chains ?? []).entries()) {
      if (!isIdentifier(ch.name)) throw invalid(`${c.owner}.chains[${i}] name ${JSON.stringify(ch.name)} is not an nft identifier`);
      claim('chain', ch.name, c.owner);
      const rules = ch.rules.map((line, j) => checkRuleLine(line, `${c.owner}.chains[${i}].rules[${j}]`));
      if (ch.base !== undefined && (ch.base.hook !== 'prerouting' || !Number.isInteger(ch.base.priority) || ch.base.priority < -1000 || ch.base.priority > 1000)) {
        throw invalid(`${c.owner}.chains[${i}] base ${JSON.stringify(ch.base)} is not the prerouting hook with an integer priority between -1000 and 1000`);
      }
      chains.push(Object.freeze({ name: ch.name, rules: Object.freeze(rules), owner: c.owner, ...(ch.base === undefined ? {} : { base: Object.freeze({ hook: ch.base.hook, priority: ch.base.priority }) }) }));
    }
    for (const [i, r] of (c.rules ?? []).entries()) {
      const where = `${c.owner}.rules[${i}]`;
      if (!(HOOKS as readonly string[]).includes(r.hook)) throw invalid(`${where} hook ${JSON.stringify(r.hook)} is not one of ${HOOKS.join(', ')}`);
      const phaseIndex = (PHASES as readonly string[]).indexOf(r.phase);
      if (phaseIndex < 0) throw invalid(`${where} phase ${JSON.stringify(r.phase)} is not one of ${PHASES.join(', ')}`);
      const ipt = r.iptables === undefined ? null : Object.freeze({ 4: Object.freeze(r.iptables[4].map((s, j) => checkSpec(s, `${where}.iptables[4][${j}]`))), 6: Object.freeze(r.iptables[6].map((s, j) => checkSpec(s, `${where}.iptables[6][${j}]`))) });
      const rule: PlacedRule = Object.freeze({
        owner: c.owner,
        phase: r.phase,
        nft: checkRuleLine(r.nft, where),
        comment: r.comment === undefined ? null : checkComment(r.comment, where),
        iptables: ipt,
      });
      placed.push({ rule, hook: r.hook, phaseIndex, seq: placed.length });
    }
  }
  placed.sort((a, b) => a.phaseIndex - b.phaseIndex || a.seq - b.seq);
  const hooks = Object.fromEntries(HOOKS.map((hook) => [hook, Object.freeze(placed.filter((p) => p.hook === hook).map((p) => p.rule))])) as Record<Hook, readonly PlacedRule[]>;
  return Object.freeze({
    table: Object.freeze({ name: table.name, priority: table.priority }),
    declarations: Object.freeze(declarations),
    chains: Object.freeze(chains),
    hooks: Object.freeze(hooks),
  });
}

function checkSpec(spec: string, where: string): string {
  // iptables-restore reads one rule a line; a quote may only open and close a comment.
  if (typeof spec !== 'string' || spec.trim() === '' || /[\r\n]/.test(spec) || (spec.match(/"/g) ?? []).length % 2 !== 0) {
    throw invalid(`${where} ${JSON.stringify(spec)} is not one iptables rule spec`);
  }
  return spec.trim();
}

// ---- nft text --------------------------------------------------------------------------------

function declarationLines(d: Declaration): string[] {
  switch (d.kind) {
    case 'set':
      return [
        `\tset ${d.name} {`,
        `\t\ttype ${d.type}`,
        ...(d.size === undefined ? [] : [`\t\tsize ${d.size}`]),
        ...(d.flags === undefined || d.flags.length === 0 ? [] : [`\t\tflags ${d.flags.join(',')}`]),
        ...(d.timeoutSeconds === undefined ? [] : [`\t\ttimeout ${d.timeoutSeconds}s`]),
        '\t}',
      ];
    case 'limit':
      return [`\tlimit ${d.name} {`, `\t\trate ${d.perSecond}/second burst ${d.burstPackets} packets`, '\t}'];
    case 'counter':
      return [`\tcounter ${d.name} {`, '\t}'];
  }
}

/** One rule as nft text (the rule line and its comment). */
export function nftRuleText(rule: Pick<PlacedRule, 'nft' | 'comment'>): string {
  return rule.comment === null ? rule.nft : `${rule.nft} comment "${rule.comment}"`;
}

/**
 * The `table inet NAME { … }` block: declarations in contribution order, then the regular chains
 * (a jump's target exists before the jump), then the hook chains that have rules, input first.
 */
export function tableBlock(m: RulesetModel): string[] {
  const lines = [`table inet ${m.table.name} {`];
  for (const d of m.declarations) lines.push(...declarationLines(d));
  for (const ch of m.chains) {
    const hook = ch.base === undefined ? [] : [`\t\ttype filter hook ${ch.base.hook} priority ${ch.base.priority}; policy accept;`];
    lines.push(`\tchain ${ch.name} {`, ...hook, ...ch.rules.map((rule) => `\t\t${rule}`), '\t}');
  }
  for (const hook of HOOKS) {
    const rules = m.hooks[hook];
    if (rules.length === 0) continue;
    lines.push(`\tchain ${hook} {`, `\t\ttype filter hook ${hook} priority ${m.table.priority}; policy accept;`, ...rules.map((r) => `\t\t${nftRuleText(r)}`), '\t}');
  }
  lines.push('}', '');
  return lines;
}

/** `nft -f` text that creates the table, replacing an old copy as a whole in the same transaction. */
export function replaceTableText(m: RulesetModel, title: string): string {
  return [
    `# ${title}`,
    // Declaring the table first makes the delete succeed whether or not an old copy exists
    // (nft 1.0.6 has no `destroy`); both run in the same transaction as the new table.
    `table inet ${m.table.name} {}`,
    `delete table inet ${m.table.name}`,
    ...tableBlock(m),
  ].join('\n');
}

/**
 * `nft -f` text that keeps the table and the elements of the sets declared `keepElements`: every rule
 * goes (`flush table` leaves sets alone), the chains that exist now are deleted, the declarations are
 * laid over what is left, and every other set is emptied. nft refuses a set whose definition changed;
 * the caller then replaces the table.
 */
export function keepElementsText(m: RulesetModel, existingChains: readonly string[], title: string): string {
  for (const chain of existingChains) if (!isIdentifier(chain)) throw invalid(`existing chain ${JSON.stringify(chain)} is not an nft identifier`);
  const emptied = m.declarations.filter((d) => d.kind === 'set' && d.keepElements !== true).map((d) => d.name);
  return [
    `# ${title}`,
    `table inet ${m.table.name} {}`,
    `flush table inet ${m.table.name}`,
    ...existingChains.map((chain) => `delete chain inet ${m.table.name} ${chain}`),
    ...tableBlock(m),
    ...emptied.map((name) => `flush set inet ${m.table.name} ${name}`),
    '',
  ].join('\n');
}

/** `nft -f` text that replaces one regular chain's rules in place (`add rule` each, after a flush). */
export function replaceChainRulesText(table: string, chain: string, rules: readonly string[]): string[] {
  if (!isIdentifier(table) || !isIdentifier(chain)) throw invalid(`table ${JSON.stringify(table)} / chain ${JSON.stringify(chain)} is not an nft identifier`);
  return [`flush chain inet ${table} ${chain}`, ...rules.map((rule, i) => `add rule inet ${table} ${chain} ${checkRuleLine(rule, `${chain}.rules[${i}]`)}`)];
}

/** One declaration as a one-line `add` command for an existing table (`add limit inet T name { … }`). */
export function addDeclarationText(table: string, d: Declaration): string {
  const body = declarationLines(d)
    .slice(1, -1)
    .map((line) => line.trim())
    .join('; ');
  return `add ${d.kind} inet ${table} ${d.name} { ${body}${body === '' ? '' : ';'} }`;
}

// ---- iptables --------------------------------------------------------------------------------

/**
 * The iptables rule specs of one hook chain for one family, in the same phase order as the nft
 * chain. Throws PW_ERR_CONFIG_INVALID for a rule without an iptables form: the iptables backend
 * cannot carry it, and silently leaving it out would change what the kernel does.
 */
export function iptablesHookRules(m: RulesetModel, hook: Hook, family: Family): string[] {
  const out: string[] = [];
  for (const rule of m.hooks[hook]) {
    if (rule.iptables === null) throw invalid(`${rule.owner}'s ${hook} rule ${JSON.stringify(rule.nft)} has no iptables form`);
    out.push(...rule.iptables[family]);
  }
  return out;
}
