/**
 * The backend choice: `enforce.backend` names an entry here, and the entry builds the table and says
 * what that kind of kernel can do. The daemon asks the registry, never a backend's class, so a new
 * backend is one entry (and its class), not a new branch in the daemon.
 */
import { PortwardenError } from '../errors.js';
import type { RuleContribution } from '../kernel/ruleset.js';
import type { EventLogger } from '../model/logger.js';
import type { KernelBan } from '../model/ban.js';
import type { EnforcementBackend } from './backend.js';
import { DryRunBackend } from './dry-run.js';
import { IptablesBackend } from './iptables.js';
import { NftablesBackend } from './nftables.js';

export type BackendName = 'nftables' | 'iptables' | 'dry-run';

/** What every table is built from (the enforce section of the config, and how capture reaches the kernel). */
export interface TableOptions {
  forward: boolean;
  blockedNetworks: readonly string[];
  blockedTcpPorts: readonly number[];
  blockedUdpPorts: readonly number[];
  /** Interfaces watched; none: every interface but loopback. */
  interfaces?: readonly string[];
  /** Capture's rules (NFLOG for detection, capture/nflog.ts nflogRules); none with libpcap capture. */
  capture?: RuleContribution;
  /** The kernel fast path (when enabled); used only by a backend that has it. */
  fastPath?: { enabled: boolean; answersPerSecond: number; burst: number; banSeconds: number };
  /** The responder's sets, chain and rules (respond/kernel-rules.ts); used only by a backend that answers scanners. */
  respond?: RuleContribution;
  /** The flood guard's sets, chains and limits (enforce/flood-guard-rules.ts); used only by a backend with dynamic sets. */
  guard?: RuleContribution;
  /** Geo's sets and drop rules (intel/geo/geo-fence.ts); nftables only, left out of a dry run. */
  geo?: RuleContribution;
}

export interface BackendKind {
  /** The table: capture rules, allow sets, static drops and (unless a dry run) the bans. */
  table(options: TableOptions): EnforcementBackend;
  /** Bans only go to the log; the table still carries the capture rules. */
  readonly dryRun: boolean;
  /** The kernel drops fast scanners by itself (dynamic sets with meters). */
  readonly fastPath: boolean;
  /** Banned scanners can be answered (src/respond/ needs its sets and chain in the table). */
  readonly answersScanners: boolean;
}

function nftablesTable(o: TableOptions): NftablesBackend {
  return new NftablesBackend({
    ruleset: {
      hooks: { input: true, forward: o.forward },
      blockedNetworks: o.blockedNetworks,
      blockedTcpPorts: o.blockedTcpPorts,
      blockedUdpPorts: o.blockedUdpPorts,
      fastPath: o.fastPath !== undefined ? { answersPerSecond: o.fastPath.answersPerSecond, burst: o.fastPath.burst, banSeconds: o.fastPath.banSeconds } : undefined,
      contributions: [o.capture, o.respond, o.guard, o.geo].filter((c): c is RuleContribution => c !== undefined),
    },
  });
}

// iptables has no dynamic sets with meters: no kernel fast path, and no sets for the responder.
function iptablesTable(o: TableOptions): IptablesBackend {
  if (o.geo !== undefined) throw new PortwardenError('PW_ERR_CONFIG_INVALID', 'geo.block and geo.allowOnly need enforce.backend nftables (interval sets of country networks); the iptables backend cannot carry them');
  return new IptablesBackend({
    contributions: o.capture !== undefined ? [o.capture] : [],
    interfaces: o.interfaces,
    forward: o.forward,
    blockedNetworks: o.blockedNetworks,
    blockedTcpPorts: o.blockedTcpPorts,
    blockedUdpPorts: o.blockedUdpPorts,
  });
}

export const BACKENDS: Readonly<Record<BackendName, BackendKind>> = {
  nftables: { table: nftablesTable, dryRun: false, fastPath: true, answersScanners: true },
  iptables: { table: iptablesTable, dryRun: false, fastPath: false, answersScanners: false },
  // A dry run still needs a table for the capture rules: nftables', with nothing else in it.
  'dry-run': { table: nftablesTable, dryRun: true, fastPath: false, answersScanners: false },
};

/** The kind `name` names; a dry run (`--dry-run`) of any kind is a dry-run kind on that kind's table. */
export function backendKind(name: BackendName, dryRun: boolean): BackendKind {
  const kind = BACKENDS[name];
  return dryRun && !kind.dryRun ? { ...kind, dryRun: true, fastPath: false, answersScanners: false } : kind;
}

/** The table of `kind`, with the ability options it cannot use left out. */
export function buildTable(kind: BackendKind, options: TableOptions): EnforcementBackend {
  return kind.table({ ...options, fastPath: kind.fastPath && options.fastPath?.enabled ? options.fastPath : undefined, respond: kind.answersScanners ? options.respond : undefined, guard: kind.fastPath ? options.guard : undefined, geo: kind.dryRun ? undefined : options.geo });
}

/** Where bans go: the table itself, or in a dry run the log (set up at once). */
export async function buildEnforcer(kind: BackendKind, table: EnforcementBackend, log: EventLogger): Promise<EnforcementBackend> {
  if (!kind.dryRun) return table;
  const dry = new DryRunBackend((entry) => log.info({ 'event.action': `dry-run-${entry.event}`, ...entry }, `dry run: ${entry.event}`));
  await dry.setup();
  return dry;
}

/** How the table came up: whether an old one was there, whether its ban sets were kept, and what it held if not. */
export interface TableStart {
  present: boolean;
  /** The old table's ban sets were kept (`setupKeepingBans`): nothing was lifted, nothing is to put back. */
  kept: boolean;
  /** The old table's bans, read before it was replaced (empty when kept or absent). */
  surviving: KernelBan[];
}

/**
 * Sets the table up without lifting a ban. A backend that can keep its sets across a restart lays the
 * new rules around them (no gap in enforcement, nothing copied out and back in); otherwise (iptables,
 * or nft refused) what the kernel holds is read before the table is replaced, to be put back.
 */
export async function startTable(table: EnforcementBackend, keepBans: boolean, log: EventLogger): Promise<TableStart> {
  const present = await table.present();
  let kept = false;
  if (present && keepBans && table.setupKeepingBans !== undefined) {
    const refused = await table.setupKeepingBans();
    kept = refused === null;
    if (!kept) log.warn({ 'event.action': 'restore-fallback', 'event.reason': refused }, `the table cannot be kept across the restart (${refused}); replacing it, bans are read out and put back`);
  }
  const surviving = present && !kept ? await table.bans() : [];
  if (!kept) await table.setup();
  return { present, kept, surviving };
}
