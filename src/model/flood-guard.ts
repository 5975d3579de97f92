/**
 * The flood guard's door, as the playbooks and rule actions see it: turn the kernel's flood protection on
 * for a while, or rate-limit one source. Built by enforce (the flood guard); the daemon passes null while
 * no guard is configured, and a step that needs it reports "no flood guard" instead of acting.
 */
export interface FloodGuardControl {
  /** Turns the guard on for `port` (undefined: every configured port) for `seconds`; resolves when the kernel has it. */
  engage(port: number | undefined, seconds: number): Promise<void>;
  /** Limits new connections from `source` to `perSecond` for `seconds`. */
  rateLimit(source: string, perSecond: number, seconds: number): Promise<void>;
}
