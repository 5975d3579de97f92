/**
 * The kernel allow sets: accepted before any drop, the kernel fast path's included. They hold the
 * allowlist (host names resolved) and everything the lockout guard protects now (own addresses,
 * gateways, resolvers, SSH peers). Addresses change (links coming up, DHCP) and SSH sessions come and
 * go, so `refresh` follows the guard: what is new is allowed, what is no longer protected is
 * disallowed, each logged.
 */
import { lookup } from 'node:dns/promises';
import type { GuardSnapshot } from '../decide/lockout-guard.js';
import type { EventLogger } from '../model/logger.js';
import { canonical } from '../net/address-set.js';
import type { BanBook } from './ban-book.js';

/** An allowlist entry as the config gives it: an address, network or host name. */
export type AllowEntry = string | { readonly value: string };

/** What the allow sets need of the lockout guard (it is rebuilt on reload, so it is asked for each time). */
export interface ProtectedView {
  refresh(): void;
  snapshot(): GuardSnapshot;
}

export class AllowSets {
  readonly #book: BanBook;
  readonly #guard: () => ProtectedView;
  readonly #log: EventLogger;
  /** The allowlist's networks (host names resolved), as last applied. */
  #allowlisted = new Set<string>();
  /** What the kernel allow sets hold. */
  #allowed = new Set<string>();

  constructor(book: BanBook, guard: () => ProtectedView, log: EventLogger) {
    this.#book = book;
    this.#guard = guard;
    this.#log = log;
  }

  /** Puts `allowlist` and what the guard protects into the kernel allow sets, and commits. */
  async apply(allowlist: readonly AllowEntry[]): Promise<void> {
    const listed = new Set<string>();
    for (const entry of allowlist) {
      const value = typeof entry === 'string' ? entry : entry.value;
      const network = asNetwork(value);
      const targets = network !== null ? [network] : (await lookup(value, { all: true, verbatim: true })).map((a) => a.address);
      for (const t of targets) listed.add(asNetwork(t) ?? t);
    }
    this.#allowlisted = listed;
    this.protect();
    await this.#book.commit();
  }

  /** Adds one address or network to the allowlist (`portwarden allow`); the next commit applies it. */
  add(target: string): void {
    this.#allowlisted.add(asNetwork(target) ?? target);
    this.protect();
  }

  /** Re-reads what the guard protects, then brings the sets in step. */
  refresh(): void {
    this.#guard().refresh();
    this.protect();
  }

  /** Entries the kernel allow sets hold (as last queued). */
  get size(): number {
    return this.#allowed.size;
  }

  /** The table was set up again: its allow sets are empty. */
  forgetKernel(): void {
    this.#allowed.clear();
  }

  /** Makes the kernel allow sets hold exactly the allowlist and what the guard protects now (queued). */
  protect(): void {
    const g = this.#guard().snapshot();
    const wanted = new Set(this.#allowlisted);
    for (const address of [...g.ownAddresses, ...g.gateways, ...g.resolvers, ...g.sshPeers]) {
      const network = asNetwork(address);
      if (network !== null) wanted.add(network);
    }
    const backend = this.#book.backend;
    for (const target of wanted) if (!this.#allowed.has(target)) backend.allow(target);
    for (const target of this.#allowed) {
      if (wanted.has(target)) continue;
      backend.disallow(target);
      this.#log.info({ 'event.action': 'disallow', 'source.ip': target }, `${target} is no longer allowlisted or protected; removed from the kernel allow set`);
    }
    this.#allowed = wanted;
    this.#book.touch();
  }
}

/** Canonical text of an address or network, or null for anything else (a host name). */
export function asNetwork(text: string): string | null {
  try {
    return canonical(text);
  } catch {
    return null;
  }
}
