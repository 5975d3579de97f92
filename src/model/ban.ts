/** What is in the kernel: a ban of an address or network, with its expiry. */

/** An address or network: canonical text ('192.0.2.7', '2001:db8::/64'). */
export type Target = string;

export interface Ban {
  target: Target;
  /** Seconds the kernel keeps the ban before it lifts it by itself; null keeps it until unbanned. */
  timeoutSeconds: number | null;
}

export interface KernelBan {
  target: Target;
  /** Seconds left as the kernel reports them; null for a ban without timeout. */
  expiresInSeconds: number | null;
}

