/**
 * What this host knows of each other host: its trusted key (and fingerprint), when it was last heard
 * from, how late its last message arrived, and what became of its bans here. Hosts without a trusted
 * key are tracked only by their drop count, in a bounded table (forged names must not grow it).
 */
import type { KeyObject } from 'node:crypto';
import type { FleetPeerView } from '../model/fleet.js';
import { fingerprint, publicKeyObject } from './signing.js';

/** A peer as kept here: the view's counts, with its key and times in ms. */
type Peer = Omit<FleetPeerView, 'host' | 'lastSeen'> & {
  key: KeyObject | undefined;
  lastSeenMs: number | null;
};

/** Untrusted host names remembered for their drop counts, at most. */
const MAX_UNTRUSTED = 64;

export class Peers {
  readonly #peers = new Map<string, Peer>();
  #untrusted = 0;

  constructor(trustedKeys: Readonly<Record<string, string>>) {
    for (const [host, key] of Object.entries(trustedKeys)) this.#peers.set(host, { ...blank(), key: publicKeyObject(key), fingerprint: fingerprint(key) });
  }

  keyOf(host: string): KeyObject | undefined {
    return this.#peers.get(host)?.key;
  }

  /** The peer `host` (a trusted one, or an untrusted one while the table has room). */
  get(host: string): Peer | undefined {
    let p = this.#peers.get(host);
    if (p === undefined && this.#untrusted < MAX_UNTRUSTED) {
      p = blank();
      this.#peers.set(host, p);
      this.#untrusted++;
    }
    return p;
  }

  heard(host: string, decidedAtMs: number, nowMs: number): Peer | undefined {
    const p = this.#peers.get(host);
    if (p === undefined) return undefined;
    p.lastSeenMs = nowMs;
    p.lagMs = Math.max(0, nowMs - decidedAtMs);
    return p;
  }

  views(): FleetPeerView[] {
    return [...this.#peers].map(([host, p]) => ({
      host,
      fingerprint: p.fingerprint,
      lastSeen: p.lastSeenMs === null ? null : new Date(p.lastSeenMs).toISOString(),
      lagMs: p.lagMs,
      bansApplied: p.bansApplied,
      bansRefused: p.bansRefused,
      bansCapped: p.bansCapped,
      unbansApplied: p.unbansApplied,
      dropped: p.dropped,
    }));
  }
}

function blank(): Peer {
  return { key: undefined, fingerprint: null, lastSeenMs: null, lagMs: null, bansApplied: 0, bansRefused: 0, bansCapped: 0, unbansApplied: 0, dropped: 0 };
}
