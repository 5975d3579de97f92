/**
 * The flood guard as other stages see it (a playbook step "turn on a flood guard", the daemon's
 * incident listener): engage a kernel guard for a while, release it early. enforce/flood-guard.ts
 * implements it; whoever only needs to pull the lever imports this and nothing of enforce.
 */

/**
 * - `synproxy`: new TCP connections to a port go through nft `synproxy` (the kernel answers SYNs with
 *   cookies; only completed handshakes reach the listener). Needs a port.
 * - `unsolicited`: reply-shaped packets conntrack does not know (SYN-ACK/RST, UDP from reflection
 *   service ports, ICMP errors) are dropped. Host-wide: the port is ignored.
 */
export const FLOOD_GUARD_KINDS = ['synproxy', 'unsolicited'] as const;
export type FloodGuardKind = (typeof FLOOD_GUARD_KINDS)[number];

/** What an engage or release call did. */
export type FloodGuardOutcome =
  | { readonly ok: true; readonly action: 'engaged' | 'extended' | 'released' | 'not-engaged' }
  | { readonly ok: false; readonly reason: string };

export interface FloodGuardControl {
  /**
   * Turns the guard on (or keeps it on) for at least `forSeconds`; it also stays on while the kernel
   * still sees the flood. `port` is the TCP port for `synproxy`, null for `unsolicited`.
   * Never throws: a refusal (guard disabled, port not allowed, nft failed) is an outcome with a reason.
   */
  engage(kind: FloodGuardKind, port: number | null, forSeconds: number, reason: string): Promise<FloodGuardOutcome>;
  /** Turns the guard off now (an `always` unsolicited guard stays: the config asks for it). */
  release(kind: FloodGuardKind, port: number | null, reason: string): Promise<FloodGuardOutcome>;
}
