/**
 * The declarative nftables ruleset of the enforcement table, fed to `nft -f -` once at start. It
 * replaces our own table as a whole (so nothing stale survives a restart) in the same transaction
 * that creates the new one, and never names another table.
 *
 * What must stay true: our chains only ever drop. `accept` in our chain ends the packet's walk
 * through OUR table only; every other table's chains still see it, so an allowlisted address is
 * exempt from our bans, never from the host's own firewall. Nothing here accepts traffic the host's
 * filter would drop (no "established, related accept").
 */
import { PortwardenError } from '../errors.js';
import { targetContains, parseTarget, type ParsedTarget } from '../net/target.js';

export interface NftRulesetOptions {
  /** Default 'portwarden'. */
  tableName?: string;
  /** Base chains: input always; forward too on a router. Default: input only. */
  hooks?: { input: true; forward: boolean };
  /** Hook priority; the default -150 runs before the usual filter chains (priority 0). */
  priority?: number;
  /** Sources dropped always: addresses or CIDRs, IPv4 or IPv6. */
  blockedNetworks?: readonly string[];
  /** Destination ports dropped for every source. */
  blockedTcpPorts?: readonly number[];
  blockedUdpPorts?: readonly number[];
  /**
   * Rule lines another module supplies (NFLOG rules for capture), put verbatim at the end of the input
   * chain, after the allowlist and the drops: what is dropped is not logged.
   */
  prefilter?: readonly string[];
  /**
   * Rule lines for an output chain (the host's own answers that detection needs: RST, SYN-ACK, ICMP
   * unreachable). The chain gets only these lines and never drops; none given, no output chain.
   */
  prefilterOutput?: readonly string[];
  /**
   * The kernel's own fast path: the RSTs and ICMP unreachables the host sends to one address are
   * counted, and past `answersPerSecond` (after `burst`) the address goes into a dynamic set whose
   * sources are dropped for `banSeconds`: a fast scan learns a handful of port states, then nothing,
   * long before user space could answer. Allowlisted sources are accepted before it.
   */
  fastPath?: { answersPerSecond: number; burst: number; banSeconds: number };
  /**
   * Responses to banned scanners (src/respond/kernel-rules.ts supplies both lists): one-line
   * declarations put verbatim into the table (sets, the global cap, counters), and the rules of a
   * chain `respond` that the input chain jumps to right after the allow sets are accepted.
   */
  respond?: { declarations: readonly string[]; rules: readonly string[] };
}

export interface ResolvedNftRuleset {
  readonly tableName: string;
  readonly hooks: { readonly input: true; readonly forward: boolean };
  readonly priority: number;
  readonly blockedNetworks: readonly ParsedTarget[];
  readonly blockedTcpPorts: readonly number[];
  readonly blockedUdpPorts: readonly number[];
  readonly prefilter: readonly string[];
  readonly prefilterOutput: readonly string[];
  readonly fastPath: { readonly answersPerSecond: number; readonly burst: number; readonly banSeconds: number } | null;
  readonly respond: { readonly declarations: readonly string[]; readonly rules: readonly string[] } | null;
}

export const DEFAULT_TABLE_NAME = 'portwarden';
export const DEFAULT_PRIORITY = -150;
export const SET_NAMES = { allow4: 'allow4', allow6: 'allow6', ban4: 'ban4', ban6: 'ban6' } as const;

function invalid(message: string): PortwardenError {
  return new PortwardenError('PW_ERR_CONFIG_INVALID', `nftables ruleset: ${message}`);
}

/** Validates and fills in defaults; throws PW_ERR_CONFIG_INVALID naming the bad entry. */
export function resolveNftRuleset(options: NftRulesetOptions = {}): ResolvedNftRuleset {
  const tableName = options.tableName ?? DEFAULT_TABLE_NAME;
  // nft identifiers; also keeps the name safe to paste into the ruleset text and nft arguments.
  if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(tableName)) {
    throw invalid(`tableName ${JSON.stringify(tableName)} is not an nft identifier (a letter, then letters, digits, _)`);
  }
  const priority = options.priority ?? DEFAULT_PRIORITY;
  if (!Number.isInteger(priority) || priority < -1000 || priority > 1000) {
    throw invalid(`priority ${String(priority)} is not an integer between -1000 and 1000`);
  }
  const hooks = { input: true as const, forward: options.hooks?.forward ?? false };

  const networks: ParsedTarget[] = [];
  for (const [index, entry] of (options.blockedNetworks ?? []).entries()) {
    const parsed = parseTarget(String(entry));
    if (!parsed.ok) throw invalid(`blockedNetworks[${index}] ${JSON.stringify(entry)}: ${parsed.reason}`);
    networks.push(parsed.target);
  }

  const prefilter = ruleLines(options.prefilter ?? [], 'prefilter');
  const prefilterOutput = ruleLines(options.prefilterOutput ?? [], 'prefilterOutput');

  return Object.freeze({
    tableName,
    hooks: Object.freeze(hooks),
    priority,
    blockedNetworks: Object.freeze(widestOnly(networks)),
    blockedTcpPorts: Object.freeze(ports(options.blockedTcpPorts ?? [], 'blockedTcpPorts')),
    blockedUdpPorts: Object.freeze(ports(options.blockedUdpPorts ?? [], 'blockedUdpPorts')),
    prefilter: Object.freeze(prefilter),
    prefilterOutput: Object.freeze(prefilterOutput),
    fastPath: options.fastPath === undefined ? null : Object.freeze(fastPathOptions(options.fastPath)),
    respond:
      options.respond === undefined
        ? null
        : Object.freeze({ declarations: Object.freeze(ruleLines(options.respond.declarations, 'respond.declarations')), rules: Object.freeze(ruleLines(options.respond.rules, 'respond.rules')) }),
  });
}

/** The full `nft -f` text. */
export function buildNftRuleset(options: NftRulesetOptions = {}): string {
  return rulesetText(resolveNftRuleset(options));
}

export function rulesetText(r: ResolvedNftRuleset): string {
  return [
    '# portwarden enforcement table: generated, replaced as a whole at every start',
    // Declaring the table first makes the delete succeed whether or not an old copy exists
    // (nft 1.0.6 has no `destroy`); both run in the same transaction as the new table.
    `table inet ${r.tableName} {}`,
    `delete table inet ${r.tableName}`,
    ...tableBlock(r),
  ].join('\n');
}

/** Sets whose elements outlive a restart in `keepBansRulesetText`: bans, and the kernel fast path's. */
const KEPT_SETS: ReadonlySet<string> = new Set(['ban4', 'ban6', 'answered4', 'answered6', 'fastban4', 'fastban6']);

/**
 * The restart variant: the table stays, and with it the elements of the ban sets, so a restart never
 * opens a gap in enforcement and 100,000 bans need no copying out and back in. In one transaction:
 * every rule goes (`flush table` leaves sets alone), the chains that exist now are deleted, the new
 * declarations are laid over what is left, and every other set is emptied (the daemon refills the
 * allow sets). nft refuses a set whose definition changed; the caller then replaces the table.
 */
export function keepBansRulesetText(r: ResolvedNftRuleset, existingChains: readonly string[]): string {
  const declared = tableBlock(r);
  const sets = declared.map((line) => /^\t(?:set|map) (\S+) \{/.exec(line)?.[1]).filter((name): name is string => name !== undefined);
  return [
    '# portwarden enforcement table: rules replaced, bans kept (restart)',
    `table inet ${r.tableName} {}`,
    `flush table inet ${r.tableName}`,
    ...existingChains.map((chain) => `delete chain inet ${r.tableName} ${chain}`),
    ...declared,
    ...sets.filter((name) => !KEPT_SETS.has(name)).map((name) => `flush set inet ${r.tableName} ${name}`),
    '',
  ].join('\n');
}

function tableBlock(r: ResolvedNftRuleset): string[] {
  const lines: string[] = [
    `table inet ${r.tableName} {`,
    ...setBlock(SET_NAMES.allow4, 'ipv4_addr', 'interval'),
    ...setBlock(SET_NAMES.allow6, 'ipv6_addr', 'interval'),
    // Each ban carries its own timeout, so the kernel lifts it even if the daemon is gone.
    ...setBlock(SET_NAMES.ban4, 'ipv4_addr', 'interval,timeout'),
    ...setBlock(SET_NAMES.ban6, 'ipv6_addr', 'interval,timeout'),
    ...(r.fastPath === null ? [] : fastPathSets(r.fastPath.banSeconds)),
    ...(r.respond === null ? [] : [...r.respond.declarations.map((line) => `\t${line}`), '\tchain respond {', ...r.respond.rules.map((rule) => `\t\t${rule}`), '\t}']),
    ...chainBlock(r, 'input', r.prefilter),
  ];
  if (r.hooks.forward) lines.push(...chainBlock(r, 'forward', []));
  const output = [...(r.fastPath === null ? [] : fastPathRules(r.fastPath)), ...r.prefilterOutput];
  if (output.length > 0) {
    lines.push('\tchain output {', `\t\ttype filter hook output priority ${r.priority}; policy accept;`, ...output.map((rule) => `\t\t${rule}`), '\t}');
  }
  lines.push('}', '');
  return lines;
}

function setBlock(name: string, type: string, flags: string): string[] {
  return [`\tset ${name} {`, `\t\ttype ${type}`, `\t\tflags ${flags}`, '\t}'];
}

function chainBlock(r: ResolvedNftRuleset, hook: 'input' | 'forward', prefilter: readonly string[]): string[] {
  const v4 = r.blockedNetworks.filter((t) => t.family === 4).map((t) => t.text);
  const v6 = r.blockedNetworks.filter((t) => t.family === 6).map((t) => t.text);
  const rules = [
    `ip saddr @${SET_NAMES.allow4} accept`,
    `ip6 saddr @${SET_NAMES.allow6} accept`,
    // Banned scanners' SYNs are answered (or counted) before any drop; allowlisted sources never get here.
    ...(r.respond === null || hook !== 'input' ? [] : ['jump respond']),
    ...(r.fastPath === null || hook !== 'input' ? [] : ['ip saddr @fastban4 drop', 'ip6 saddr @fastban6 drop']),
    // Matching on the source alone drops every protocol from a banned source, ICMP included.
    `ip saddr @${SET_NAMES.ban4} drop`,
    `ip6 saddr @${SET_NAMES.ban6} drop`,
  ];
  if (v4.length > 0) rules.push(`ip saddr { ${v4.join(', ')} } drop`);
  if (v6.length > 0) rules.push(`ip6 saddr { ${v6.join(', ')} } drop`);
  if (r.blockedTcpPorts.length > 0) rules.push(`tcp dport { ${r.blockedTcpPorts.join(', ')} } drop`);
  if (r.blockedUdpPorts.length > 0) rules.push(`udp dport { ${r.blockedUdpPorts.join(', ')} } drop`);
  // Capture logging last: what is dropped already costs detection nothing.
  rules.push(...prefilter);
  return [
    `\tchain ${hook} {`,
    `\t\ttype filter hook ${hook} priority ${r.priority}; policy accept;`,
    ...rules.map((rule) => `\t\t${rule}`),
    '\t}',
  ];
}

function ports(list: readonly number[], field: string): number[] {
  for (const [index, port] of list.entries()) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalid(`${field}[${index}] ${JSON.stringify(port)} is not a port number (1-65535)`);
    }
  }
  return [...new Set(list)].sort((a, b) => a - b);
}

/** Drops duplicates and networks inside another listed one: nft refuses overlapping intervals. */
function widestOnly(targets: readonly ParsedTarget[]): ParsedTarget[] {
  const sorted = [...targets].sort((a, b) => a.prefixLength - b.prefixLength);
  const kept: ParsedTarget[] = [];
  for (const t of sorted) if (!kept.some((k) => targetContains(k, t))) kept.push(t);
  return kept.sort((a, b) => a.family - b.family || (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

function fastPathOptions(f: { answersPerSecond: number; burst: number; banSeconds: number }): { answersPerSecond: number; burst: number; banSeconds: number } {
  for (const key of ['answersPerSecond', 'burst', 'banSeconds'] as const) {
    const value = f[key];
    if (!Number.isInteger(value) || value < 1) throw invalid(`fastPath.${key} ${JSON.stringify(value)} is not a whole number above 0`);
  }
  return { answersPerSecond: f.answersPerSecond, burst: f.burst, banSeconds: f.banSeconds };
}

function fastPathSets(banSeconds: number): string[] {
  // `answered*` only meter the answers per peer (short timeout); `fastban*` hold the peers past the rate.
  const set = (name: string, type: string, timeout: number) => [`\tset ${name} {`, `\t\ttype ${type}`, '\t\tsize 65536', '\t\tflags dynamic,timeout', `\t\ttimeout ${timeout}s`, '\t}'];
  return [...set('answered4', 'ipv4_addr', 10), ...set('answered6', 'ipv6_addr', 10), ...set('fastban4', 'ipv4_addr', banSeconds), ...set('fastban6', 'ipv6_addr', banSeconds)];
}

function fastPathRules(f: { answersPerSecond: number; burst: number }): string[] {
  const over = `limit rate over ${f.answersPerSecond}/second burst ${f.burst} packets`;
  return [
    `tcp flags & (syn | rst) == rst add @answered4 { ip daddr ${over} } add @fastban4 { ip daddr } comment "portwarden fast path: RSTs to one peer"`,
    `icmp type destination-unreachable add @answered4 { ip daddr ${over} } add @fastban4 { ip daddr } comment "portwarden fast path: unreachables to one peer"`,
    `tcp flags & (syn | rst) == rst add @answered6 { ip6 daddr ${over} } add @fastban6 { ip6 daddr } comment "portwarden fast path: RSTs to one peer"`,
    `icmpv6 type destination-unreachable add @answered6 { ip6 daddr ${over} } add @fastban6 { ip6 daddr } comment "portwarden fast path: unreachables to one peer"`,
  ];
}

function ruleLines(lines: readonly string[], field: string): string[] {
  for (const [index, line] of lines.entries()) {
    if (typeof line !== 'string' || line.trim() === '' || /[\r\n]/.test(line) || !bracesBalanced(line)) {
      throw invalid(`${field}[${index}] ${JSON.stringify(line)} is not one rule line (non-empty, one line, balanced braces)`);
    }
  }
  return lines.map((line) => line.trim());
}

function bracesBalanced(line: string): boolean {
  let depth = 0;
  for (const ch of line) {
    if (ch === '{') depth++;
    else if (ch === '}' && --depth < 0) return false;
  }
  return depth === 0;
}
