import type { Ban, KernelBan, Target } from '../model/ban.js';
/**
 * What every enforcement backend offers (nftables, iptables+ipset, dry-run): a small interface in the
 * CrowdSec bouncer's spirit. decide makes decisions; a backend only applies them. Changes are queued
 * with `ban`/`unban`/`allow` and applied together by `commit`, one kernel transaction per call, so the
 * daemon can batch a few milliseconds of decisions into one round trip.
 */

export interface CommitResult {
  /** Changes applied in this transaction. */
  applied: number;
  /** Wall-clock milliseconds the kernel transaction took. */
  durationMs: number;
}

export interface EnforcementBackend {
  readonly name: 'nftables' | 'iptables' | 'dry-run';
  /** Creates the backend's own table, chains and sets (replacing an old copy of them); touches nothing else. */
  setup(): Promise<void>;
  ban(ban: Ban): void;
  unban(target: Target): void;
  allow(target: Target): void;
  disallow(target: Target): void;
  /** Applies everything queued since the last commit in one transaction. */
  commit(): Promise<CommitResult>;
  /** Bans in the kernel now. */
  bans(): Promise<KernelBan[]>;
  /** Whether the backend's table is in the kernel (health, reconcile). */
  present(): Promise<boolean>;
  /** Removes the backend's table and everything in it. */
  teardown(): Promise<void>;

  // Abilities only some backends have: optional, so callers ask `backend.x?.()` instead of naming a class.

  /** The name of the backend's nf_tables table (family inet), when it has one: its deletion is repaired as soon as it is heard. */
  readonly nfTableName?: string;

  /**
   * Restart without a gap: lays the new rules over the existing table and keeps the ban sets' elements.
   * Null when it did; otherwise why not (then `setup` replaces the table). Backends whose sets cannot
   * survive a restart leave it out, and their bans are read out and put back instead.
   */
  setupKeepingBans?(): Promise<string | null>;
  /** After `setupKeepingBans`: bans known to be in the kernel already, planned with from now on (nothing is sent). */
  adoptBans?(bans: readonly { target: Target; expiresAtMs: number | null }[]): void;
  /** Stops planning with a ban the kernel turned out not to hold, so banning it again is a plain add. */
  forgetBan?(target: Target): void;
  /** Releases what the backend holds open (a netlink socket); reopened on the next use. */
  close?(): void;
}
