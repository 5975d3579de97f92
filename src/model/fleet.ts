/**
 * What `portwarden fleet status`, status, health, metrics and the dashboard say about the fleet
 * (src/fleet/ makes it; control, observe and the CLI read it).
 */

export type FleetLinkState = 'off' | 'connected' | 'disconnected';

export interface FleetPeerView {
  host: string;
  /** sha256 of its public key, first 16 hex digits; null: a host seen without a trusted key. */
  fingerprint: string | null;
  /** When a verified message of it last arrived (ISO 8601); null: never. */
  lastSeen: string | null;
  /** From its decision to this host reading it, of its last message (ms); null: none yet. */
  lagMs: number | null;
  /** Its bans applied here, refused here (lockout guard, allowlist), and beyond its rate cap (alert only). */
  bansApplied: number;
  bansRefused: number;
  bansCapped: number;
  unbansApplied: number;
  /** Its messages dropped here (bad signature). */
  dropped: number;
}

export interface FleetStatusView {
  state: FleetLinkState;
  host: string;
  /** This host's key fingerprint. */
  fingerprint: string;
  servers: string[];
  /** Whether the fleet's bans were read in full since the last (re)start. */
  synced: boolean;
  /** Changes waiting for NATS (a partition). */
  outbox: number;
  peers: FleetPeerView[];
  counters: Record<string, number>;
}
