/**
 * The declarative nftables ruleset of the enforcement table, fed to `nft -f -` once at start. It
 * replaces our own table as a whole (so nothing stale survives a restart) in the same transaction
 * that creates the new one, and never names another table.
 *
 * enforce owns the table and contributes its own rules (allow sets, bans, static drops, the kernel
 * fast path) to the one ruleset builder (kernel/ruleset.ts); capture, respond and others add theirs
 * as `contributions`, and the builder's phases put every rule in its place.
 *
 * What must stay true: our chains only ever drop. `accept` in our chain ends the packet's walk
 * through OUR table only; every other table's chains still see it, so an allowlisted address is
 * exempt from our bans, never from the host's own firewall. Nothing here accepts traffic the host's
 * filter would drop (no "established, related accept").
 */
import { PortwardenError } from '../errors.js';
import { targetContains, parseTarget, type ParsedTarget } from '../net/target.js';
import { buildRuleset, checkRuleLine, keepElementsText, replaceTableText, tableBlock, type HookRule, type RuleContribution, type RulesetModel, type SetDeclaration } from '../kernel/ruleset.js';

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
   * What the other stages put into the table (capture's NFLOG prefilter, respond's answers, …): each
   * rule lands in its chain by its phase (kernel/ruleset.ts), whatever the order given here.
   */
  contributions?: readonly RuleContribution[];
  /**
   * Rule lines put verbatim into the input chain's `log` phase, after the allowlist and the drops:
   * what is dropped is not logged. Kept for callers that still pass capture's lines
   * (`nflogPrefilterRules(…).input`); `contributions: [nflogRules(…)]` replaces it.
   */
  prefilter?: readonly string[];
  /**
   * Rule lines for the output chain's `log` phase (the host's own answers that detection needs). The
   * output chain never drops; with no output rules at all, there is none. `contributions` replaces it.
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
   * Responses to banned scanners: respond's contribution (src/respond/kernel-rules.ts
   * `respondContribution`, also `Responder.kernelRuleset()`); the same as listing it in `contributions`.
   */
  respond?: RuleContribution;
}

export interface ResolvedNftRuleset {
  readonly tableName: string;
  readonly hooks: { readonly input: true; readonly forward: boolean };
  readonly priority: number;
  readonly blockedNetworks: readonly ParsedTarget[];
  readonly blockedTcpPorts: readonly number[];
  readonly blockedUdpPorts: readonly number[];
  readonly fastPath: { readonly answersPerSecond: number; readonly burst: number; readonly banSeconds: number } | null;
  /** Every stage's rules, enforce's first, validated and ordered. */
  readonly model: RulesetModel;
}

export const DEFAULT_TABLE_NAME = 'portwarden';
export const DEFAULT_PRIORITY = -150;
export const SET_NAMES = { allow4: 'allow4', allow6: 'allow6', ban4: 'ban4', ban6: 'ban6' } as const;

function invalid(message: string): PortwardenError {
  return new PortwardenError('PW_ERR_CONFIG_INVALID', `nftables ruleset: ${message}`);
}

/** Validates and fills in defaults; throws PW_ERR_CONFIG_INVALID naming the bad entry. */
export function resolveNftRuleset(options: NftRulesetOptions = {}): ResolvedNftRuleset {
  // buildRuleset checks both: nft identifiers keep the name safe to paste into text and nft arguments.
  const tableName = options.tableName ?? DEFAULT_TABLE_NAME;
  const priority = options.priority ?? DEFAULT_PRIORITY;
  const hooks = { input: true as const, forward: options.hooks?.forward ?? false };

  const networks: ParsedTarget[] = [];
  for (const [index, entry] of (options.blockedNetworks ?? []).entries()) {
    const parsed = parseTarget(String(entry));
    if (!parsed.ok) throw invalid(`blockedNetworks[${index}] ${JSON.stringify(entry)}: ${parsed.reason}`);
    networks.push(parsed.target);
  }

  const prefilter = (options.prefilter ?? []).map((line, i) => checkRuleLine(line, `prefilter[${i}]`));
  const prefilterOutput = (options.prefilterOutput ?? []).map((line, i) => checkRuleLine(line, `prefilterOutput[${i}]`));
  const fastPath = options.fastPath === undefined ? null : Object.freeze(fastPathOptions(options.fastPath));
  const blockedNetworks = Object.freeze(widestOnly(networks));
  const blockedTcpPorts = Object.freeze(ports(options.blockedTcpPorts ?? [], 'blockedTcpPorts'));
  const blockedUdpPorts = Object.freeze(ports(options.blockedUdpPorts ?? [], 'blockedUdpPorts'));

  const own = enforceContribution({ hooks, blockedNetworks, blockedTcpPorts, blockedUdpPorts, fastPath });
  const legacy: RuleContribution[] = [];
  if (prefilter.length + prefilterOutput.length > 0) {
    legacy.push({
      owner: 'capture',
      rules: [...prefilter.map((nft): HookRule => ({ hook: 'input', phase: 'log', nft })), ...prefilterOutput.map((nft): HookRule => ({ hook: 'output', phase: 'log', nft }))],
    });
  }
  const model = buildRuleset({ name: tableName, priority }, [own, ...(options.respond === undefined ? [] : [options.respond]), ...(options.contributions ?? []), ...legacy]);

  return Object.freeze({
    tableName,
    hooks: Object.freeze(hooks),
    priority,
    blockedNetworks,
    blockedTcpPorts,
    blockedUdpPorts,
    fastPath,
    model,
  });
}

/** The full `nft -f` text. */
export function buildNftRuleset(options: NftRulesetOptions = {}): string {
  return rulesetText(resolveNftRuleset(options));
}

export function rulesetText(r: ResolvedNftRuleset): string {
  return replaceTableText(r.model, 'portwarden enforcement table: generated, replaced as a whole at every start');
}

/**
 * The restart variant: the table stays, and with it the elements of the ban sets (ban4/6 and the fast
 * path's, declared `keepElements`), so a restart never opens a gap in enforcement and 100,000 bans
 * need no copying out and back in. Every other set is emptied (the daemon refills the allow sets).
 * nft refuses a set whose definition changed; the caller then replaces the table.
 */
export function keepBansRulesetText(r: ResolvedNftRuleset, existingChains: readonly string[]): string {
  return keepElementsText(r.model, existingChains, 'portwarden enforcement table: rules replaced, bans kept (restart)');
}

/** The table block alone (`table inet NAME { … }`), for tests and listings. */
export function tableText(r: ResolvedNftRuleset): string {
  return tableBlock(r.model).join('\n');
}

/** What enforce's own part of the table is made from (a resolved ruleset has all of it). */
export interface EnforceParts {
  hooks: { readonly input: true; readonly forward: boolean };
  blockedNetworks: readonly ParsedTarget[];
  blockedTcpPorts: readonly number[];
  blockedUdpPorts: readonly number[];
  fastPath: { readonly answersPerSecond: number; readonly burst: number; readonly banSeconds: number } | null;
}

function addressSet(name: string, type: SetDeclaration['type'], flags: SetDeclaration['flags'], keepElements: boolean): SetDeclaration {
  return { kind: 'set', name, type, flags, keepElements };
}

/**
 * enforce's own part of the table: the allow and ban sets, the static drops, and the kernel fast
 * path, in input (and forward on a router). Our chains only ever drop or accept into the rest of the
 * host's filtering; see the module comment.
 */
export function enforceContribution(p: EnforceParts): RuleContribution {
  const declarations: SetDeclaration[] = [
    addressSet(SET_NAMES.allow4, 'ipv4_addr', ['interval'], false),
    addressSet(SET_NAMES.allow6, 'ipv6_addr', ['interval'], false),
    // Each ban carries its own timeout, so the kernel lifts it even if the daemon is gone.
    addressSet(SET_NAMES.ban4, 'ipv4_addr', ['interval', 'timeout'], true),
    addressSet(SET_NAMES.ban6, 'ipv6_addr', ['interval', 'timeout'], true),
    ...(p.fastPath === null ? [] : fastPathSets(p.fastPath.banSeconds)),
  ];
  const v4 = p.blockedNetworks.filter((t) => t.family === 4).map((t) => t.text);
  const v6 = p.blockedNetworks.filter((t) => t.family === 6).map((t) => t.text);
  const rules: HookRule[] = [];
  for (const hook of p.hooks.forward ? (['input', 'forward'] as const) : (['input'] as const)) {
    rules.push({ hook, phase: 'exempt', nft: `ip saddr @${SET_NAMES.allow4} accept` }, { hook, phase: 'exempt', nft: `ip6 saddr @${SET_NAMES.allow6} accept` });
    // The fast path's bans come from the host's own answers: input only.
    if (p.fastPath !== null && hook === 'input') rules.push({ hook, phase: 'drop', nft: 'ip saddr @fastban4 drop' }, { hook, phase: 'drop', nft: 'ip6 saddr @fastban6 drop' });
    // Matching on the source alone drops every protocol from a banned source, ICMP included.
    rules.push({ hook, phase: 'drop', nft: `ip saddr @${SET_NAMES.ban4} drop` }, { hook, phase: 'drop', nft: `ip6 saddr @${SET_NAMES.ban6} drop` });
    if (v4.length > 0) rules.push({ hook, phase: 'drop', nft: `ip saddr { ${v4.join(', ')} } drop` });
    if (v6.length > 0) rules.push({ hook, phase: 'drop', nft: `ip6 saddr { ${v6.join(', ')} } drop` });
    if (p.blockedTcpPorts.length > 0) rules.push({ hook, phase: 'drop', nft: `tcp dport { ${p.blockedTcpPorts.join(', ')} } drop` });
    if (p.blockedUdpPorts.length > 0) rules.push({ hook, phase: 'drop', nft: `udp dport { ${p.blockedUdpPorts.join(', ')} } drop` });
  }
  if (p.fastPath !== null) rules.push(...fastPathRules(p.fastPath));
  return { owner: 'enforce', declarations, rules };
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

function fastPathSets(banSeconds: number): SetDeclaration[] {
  // `answered*` only meter the answers per peer (short timeout); `fastban*` hold the peers past the rate.
  // Both keep their elements across a restart: a scan in progress stays metered and banned.
  const set = (name: string, type: SetDeclaration['type'], timeoutSeconds: number): SetDeclaration => ({ kind: 'set', name, type, size: 65536, flags: ['dynamic', 'timeout'], timeoutSeconds, keepElements: true });
  return [set('answered4', 'ipv4_addr', 10), set('answered6', 'ipv6_addr', 10), set('fastban4', 'ipv4_addr', banSeconds), set('fastban6', 'ipv6_addr', banSeconds)];
}

/** The output chain's meters: what the host answers to one peer, counted per peer. */
function fastPathRules(f: { answersPerSecond: number; burst: number }): HookRule[] {
  const over = `limit rate over ${f.answersPerSecond}/second burst ${f.burst} packets`;
  const meter = (nft: string, comment: string): HookRule => ({ hook: 'output', phase: 'meter', nft, comment });
  return [
    meter(`tcp flags & (syn | rst) == rst add @answered4 { ip daddr ${over} } add @fastban4 { ip daddr }`, 'portwarden fast path: RSTs to one peer'),
    meter(`icmp type destination-unreachable add @answered4 { ip daddr ${over} } add @fastban4 { ip daddr }`, 'portwarden fast path: unreachables to one peer'),
    meter(`tcp flags & (syn | rst) == rst add @answered6 { ip6 daddr ${over} } add @fastban6 { ip6 daddr }`, 'portwarden fast path: RSTs to one peer'),
    meter(`icmpv6 type destination-unreachable add @answered6 { ip6 daddr ${over} } add @fastban6 { ip6 daddr }`, 'portwarden fast path: unreachables to one peer'),
  ];
}
