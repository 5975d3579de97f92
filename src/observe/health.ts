/**
 * Liveness and readiness for systemd, container probes and the dashboard.
 *
 * Live: the process answers (the HTTP listener serving the answer is the proof). Ready: the daemon
 * protects the host — every capture source is running, the kernel table is there, and the reconciler
 * (which repairs a deleted table or lost bans) has run recently. A deleted table makes the daemon
 * unready until the reconciler has put it back.
 */
import type { FleetLinkState } from '../model/fleet.js';

export interface HealthSource {
  /** Every capture source running (false before they start and after one died). */
  captureRunning(): boolean;
  /** The daemon's table is in the kernel (one netlink lookup). */
  tablePresent(): Promise<boolean>;
  /** Wall-clock ms the reconciler last finished; null before its first run. */
  lastReconcileMs(): number | null;
  startedAtMs: number;
  reconcileEveryMs: number;
  /** The fleet link, when the daemon is in a fleet (fleet.servers set). */
  fleet?(): FleetLinkState;
}

export interface HealthCheck {
  ok: boolean;
  detail: string;
}

export interface Readiness {
  status: 'ready' | 'unready';
  checks: {
    capture: HealthCheck;
    table: HealthCheck;
    reconcile: HealthCheck & { ageSeconds: number; maxAgeSeconds: number };
    /** Informative: a host cut off from its fleet still protects itself, so it stays ready. */
    fleet?: HealthCheck & { state: FleetLinkState };
  };
}

/** A reconciler that has missed this many rounds counts as stuck. */
const MISSED_ROUNDS = 3;
/** Slack over the rounds, for a slow netlink dump on a host with many bans. */
const GRACE_MS = 10_000;

export async function readiness(source: HealthSource, nowMs = Date.now()): Promise<Readiness> {
  const capture = source.captureRunning();
  let table: HealthCheck;
  try {
    const present = await source.tablePresent();
    table = { ok: present, detail: present ? 'the portwarden table is in the kernel' : 'the portwarden table is missing from the kernel' };
  } catch (err) {
    table = { ok: false, detail: `cannot read the kernel table: ${err instanceof Error ? err.message : String(err)}` };
  }
  // Before its first round, the reconciler is judged from the start of the daemon.
  const last = source.lastReconcileMs() ?? source.startedAtMs;
  const maxAgeMs = MISSED_ROUNDS * source.reconcileEveryMs + GRACE_MS;
  const ageMs = Math.max(0, nowMs - last);
  const reconcileOk = ageMs <= maxAgeMs;
  const checks: Readiness['checks'] = {
    capture: { ok: capture, detail: capture ? 'capture running' : 'capture not running' },
    table,
    reconcile: {
      ok: reconcileOk,
      detail: source.lastReconcileMs() === null ? 'no reconcile yet' : reconcileOk ? 'reconciled recently' : 'the reconciler has not finished a round for too long',
      ageSeconds: Math.round(ageMs / 100) / 10,
      maxAgeSeconds: maxAgeMs / 1000,
    },
  };
  const fleet = source.fleet?.() ?? 'off';
  if (fleet !== 'off') checks.fleet = { ok: fleet === 'connected', state: fleet, detail: `fleet: ${fleet}${fleet === 'connected' ? '' : ' (enforcing locally; retrying)'}` };
  const ok = checks.capture.ok && checks.table.ok && checks.reconcile.ok;
  return { status: ok ? 'ready' : 'unready', checks };
}
