/**
 * The flood guard: kernel rate limits (always on, as configured) and two guards engaged while a flood
 * lasts, implementing FloodGuardControl (model/flood-guard.ts) for playbooks and the daemon:
 *
 * - a SYN flood against a port (detection's `flood` incident of class `syn`) engages nft `synproxy`
 *   on that port; a reflection flood (class `reflection`) engages the unsolicited-answer drops;
 * - once engaged, detection no longer sees the flood (synproxy's SYNs are untracked and dropped
 *   answers never reach the NFLOG rules), so the end of a flood is read from the kernel's own
 *   counters: a guard is released when, after its minimum time, the flood's rate (unanswered SYNs to
 *   the guarded ports; dropped unsolicited answers) has stayed under `releaseBelowPerSecond` for
 *   `quietSeconds`. Both transitions are logged and counted.
 *
 * synproxy needs conntrack to call a client's ACK without a SYN `invalid` (nf_conntrack_tcp_loose=0):
 * the guard sets it while synproxy is on and puts the old value back when the last port is released
 * (and at stop). Kernel elements carry a timeout, so a daemon that dies leaves synproxy on for at most
 * a few minutes.
 *
 * Never throws at callers: a refused engage is an outcome with a reason (and a log line).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { runNft, type NftOutput } from '../kernel/nft.js';
import type { RuleContribution } from '../kernel/ruleset.js';
import { CounterTable, counterIds, type CounterGroup } from '../model/counters.js';
import type { FloodGuardControl, FloodGuardKind, FloodGuardOutcome } from '../model/flood-guard.js';
import type { IncidentRecord } from '../model/incident.js';
import type { EventLogger } from '../model/logger.js';
import { GUARD_COUNTERS, floodGuardContribution, synPortReleaseText, synPortText, unsolicitedText, type GuardCounterName } from './flood-guard-rules.js';
import type { FloodGuardSettings } from './flood-guard-settings.js';

/** Counters, by name as status shows them (`floodGuard.<name>`). */
export const FloodGuardCounter = {
  'synproxy.engaged': 'times synproxy was turned on for a port',
  'synproxy.released': 'times synproxy was turned off for a port',
  'unsolicited.engaged': 'times the unsolicited-answer drops were turned on',
  'unsolicited.released': 'times the unsolicited-answer drops were turned off',
  refused: 'engage requests refused (guard disabled, port not allowed, a bad request)',
  'kernel.failed': 'guard changes or counter reads nft refused (logged)',
} as const;
const C = counterIds(FloodGuardCounter);

/** The loose-pickup switch of conntrack, in the daemon's network namespace. */
export interface LooseSwitch {
  read(): string | null;
  write(value: string): void;
}

const LOOSE_PATH = '/proc/sys/net/netfilter/nf_conntrack_tcp_loose';
const procLoose: LooseSwitch = {
  read: () => {
    try {
      return readFileSync(LOOSE_PATH, 'utf8').trim();
    } catch {
      return null;
    }
  },
  write: (value) => writeFileSync(LOOSE_PATH, `${value}\n`),
};

export interface FloodGuardOptions {
  settings: FloodGuardSettings;
  log: EventLogger;
  tableName?: string;
  /** Runs nft; default Debian's `nft` (tests run it inside their namespace). */
  nft?: (args: readonly string[], input?: string) => Promise<NftOutput>;
  loose?: LooseSwitch;
  /** Wall-clock ms; tests drive it. */
  clock?: () => number;
}

interface Engaged {
  readonly kind: FloodGuardKind;
  readonly port: number | null;
  /** Not released before this (wall-clock ms). */
  untilMs: number;
  /** Since when the flood's rate has stayed under the release threshold. */
  quietSinceMs: number;
  /** When the kernel lets the synproxy port go by itself (its element's timeout). */
  kernelUntilMs: number;
}

/** Kernel element timeouts: past the planned end by this much, refreshed while the flood lasts. */
const KERNEL_MARGIN_SECONDS = 120;
/** Counter reads while nothing is engaged: every this many checks (metrics of the rate limits). */
const IDLE_READ_EVERY = 10;

export class FloodGuard implements FloodGuardControl {
  #s: FloodGuardSettings;
  readonly #log: EventLogger;
  readonly #table: string;
  readonly #nft: (args: readonly string[], input?: string) => Promise<NftOutput>;
  readonly #loose: LooseSwitch;
  readonly #clock: () => number;
  readonly table = new CounterTable('floodGuard', FloodGuardCounter, { prefix: 'floodGuard' });
  readonly #engaged = new Map<string, Engaged>();
  /** The kernel's counters as last read (`guard_*` names). */
  #kernel: Partial<Record<GuardCounterName, number>> = {};
  #lastReadMs = 0;
  /** conntrack's loose setting before synproxy changed it; null: not changed. */
  #looseBefore: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #checks = 0;
  /** Kernel changes run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(o: FloodGuardOptions) {
    this.#s = o.settings;
    this.#log = o.log;
    this.#table = o.tableName ?? 'portwarden';
    this.#nft = o.nft ?? ((args, input) => runNft('nft', args, input));
    this.#loose = o.loose ?? procLoose;
    this.#clock = o.clock ?? Date.now;
  }

  /** The guard's part of the table, or none when disabled. */
  kernelRuleset(): RuleContribution | undefined {
    return this.#s.enabled ? floodGuardContribution(this.#s) : undefined;
  }

  /** Status, metrics and the counter log read these. */
  readonly counterGroup: CounterGroup = {
    group: 'floodGuard',
    forEach: (visit) => {
      this.table.forEach(visit);
      visit('floodGuard.engaged', this.#engaged.size, 'guards engaged now (synproxy ports, unsolicited drops; a level)');
      for (const [name, doc] of Object.entries(GUARD_COUNTERS)) visit(`floodGuard.kernel.${name.replace(/^guard_/, '')}`, this.#kernel[name as GuardCounterName] ?? 0, `${doc} (the kernel's counter, as last read)`);
    },
  };

  /** What is engaged now (status, tests). */
  engaged(): { kind: FloodGuardKind; port: number | null; untilMs: number }[] {
    return [...this.#engaged.values()].map((e) => ({ kind: e.kind, port: e.port, untilMs: e.untilMs }));
  }

  /** Starts the counter checks (and, with `unsolicited.mode: always`, nothing more: the rules are in the table). */
  start(): void {
    if (!this.#s.enabled || this.#timer !== null) return;
    this.#timer = setInterval(() => void this.check(), this.#s.checkEveryMs);
    this.#timer.unref();
  }

  /** Releases everything engaged and puts conntrack's loose setting back. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    for (const e of [...this.#engaged.values()]) await this.release(e.kind, e.port, 'portwarden stopping');
    await this.#queue;
  }

  /** New settings (reload); rules in the kernel change only at a restart, the release thresholds now. */
  reload(s: FloodGuardSettings): void {
    this.#s = s;
  }

  /** Detection's incidents: SYN floods engage synproxy on their port, reflection floods the unsolicited drops. */
  onIncident(record: IncidentRecord): void {
    if (!this.#s.enabled || record.kind !== 'flood') return;
    const reason = `${record.kind} ${record.class} against ${record['destination.ip'] ?? 'this host'}${record['destination.port'] === undefined ? '' : ` ${record['destination.port']}`} (${record.probes} packets)`;
    if (record.class === 'syn' && this.#s.synproxy.onFlood) {
      const port = /^tcp\/(\d+)$/.exec(record['destination.port'] ?? '')?.[1];
      if (port === undefined) return; // a flood over many ports: no one port to guard
      void this.engage('synproxy', Number(port), this.#s.synproxy.minSeconds, reason);
    } else if ((record.class as string) === 'reflection' && this.#s.unsolicited.mode === 'on-flood') {
      void this.engage('unsolicited', null, this.#s.unsolicited.minSeconds, reason);
    }
  }

  engage(kind: FloodGuardKind, port: number | null, forSeconds: number, reason: string): Promise<FloodGuardOutcome> {
    return this.#serial(() => this.#engage(kind, port, forSeconds, reason));
  }

  release(kind: FloodGuardKind, port: number | null, reason: string): Promise<FloodGuardOutcome> {
    return this.#serial(() => this.#release(kind, port, reason));
  }

  async #engage(kind: FloodGuardKind, port: number | null, forSeconds: number, reason: string): Promise<FloodGuardOutcome> {
    const refusal = this.#refusal(kind, port, forSeconds);
    if (refusal !== null) {
      this.table.inc(C.refused);
      this.#log.warn({ 'event.action': 'flood-guard-refused', 'flood_guard.kind': kind, 'destination.port': port === null ? undefined : String(port), 'event.reason': refusal }, `flood guard ${kind} not engaged: ${refusal}`);
      return { ok: false, reason: refusal };
    }
    const key = keyOf(kind, port);
    const now = this.#clock();
    const existing = this.#engaged.get(key);
    const untilMs = now + forSeconds * 1000;
    if (existing !== undefined) {
      existing.untilMs = Math.max(existing.untilMs, untilMs);
      existing.quietSinceMs = now;
      if (kind === 'synproxy' && existing.kernelUntilMs < existing.untilMs + this.#quietMs(kind)) {
        const failed = await this.#refreshPort(existing, now);
        if (failed !== null) return { ok: false, reason: failed };
      }
      return { ok: true, action: 'extended' };
    }
    const e: Engaged = { kind, port, untilMs, quietSinceMs: now, kernelUntilMs: Infinity };
    if (kind === 'synproxy') {
      this.#looseOff();
      const failed = await this.#refreshPort(e, now);
      if (failed !== null) {
        this.#looseRestore();
        return { ok: false, reason: failed };
      }
    } else {
      const failed = await this.#apply(unsolicitedText(this.#table, this.#s, true));
      if (failed !== null) return { ok: false, reason: failed };
    }
    this.#engaged.set(key, e);
    this.table.inc(kind === 'synproxy' ? C['synproxy.engaged'] : C['unsolicited.engaged']);
    await this.#readCounters(); // the baseline the release rate is measured from
    this.#log.warn(
      { 'event.action': 'flood-guard-engaged', 'flood_guard.kind': kind, 'destination.port': port === null ? undefined : String(port), 'event.reason': reason, 'flood_guard.min_seconds': forSeconds },
      `flood guard: ${describe(kind, port)} ON (${reason}); released ${this.#quietMs(kind) / 1000} s after the flood ends, not before ${forSeconds} s`,
    );
    return { ok: true, action: 'engaged' };
  }

  async #release(kind: FloodGuardKind, port: number | null, reason: string): Promise<FloodGuardOutcome> {
    const key = keyOf(kind, port);
    const e = this.#engaged.get(key);
    if (e === undefined) return { ok: true, action: 'not-engaged' };
    const failed = kind === 'synproxy' ? await this.#apply(synPortReleaseText(this.#table, port ?? 0)) : this.#s.unsolicited.mode === 'always' ? null : await this.#apply(unsolicitedText(this.#table, this.#s, false));
    if (failed !== null) return { ok: false, reason: failed };
    this.#engaged.delete(key);
    if (kind === 'synproxy' && ![...this.#engaged.values()].some((x) => x.kind === 'synproxy')) this.#looseRestore();
    this.table.inc(kind === 'synproxy' ? C['synproxy.released'] : C['unsolicited.released']);
    this.#log.info({ 'event.action': 'flood-guard-released', 'flood_guard.kind': kind, 'destination.port': port === null ? undefined : String(port), 'event.reason': reason }, `flood guard: ${describe(kind, port)} OFF (${reason})`);
    return { ok: true, action: 'released' };
  }

  /**
   * One check (every `checkEveryMs`): reads the kernel's counters, then releases every guard whose
   * minimum time is over and whose flood has stayed under its release rate for `quietSeconds`, and
   * refreshes the kernel timeout of synproxy ports still under attack.
   */
  async check(): Promise<void> {
    this.#checks++;
    if (this.#engaged.size === 0 && this.#checks % IDLE_READ_EVERY !== 0) return;
    const before = { ...this.#kernel };
    const beforeMs = this.#lastReadMs;
    if (!(await this.#readCounters())) return;
    const seconds = Math.max(0.001, (this.#lastReadMs - beforeMs) / 1000);
    const delta = (name: GuardCounterName) => Math.max(0, (this.#kernel[name] ?? 0) - (before[name] ?? 0)) / seconds;
    const rates: Record<FloodGuardKind, number> = {
      synproxy: Math.max(0, delta('guard_syn_seen') - delta('guard_syn_completed')),
      unsolicited: delta('guard_unsolicited_dropped'),
    };
    const now = this.#clock();
    for (const e of [...this.#engaged.values()]) {
      const threshold = e.kind === 'synproxy' ? this.#s.synproxy.releaseBelowPerSecond : this.#s.unsolicited.releaseBelowPerSecond;
      if (rates[e.kind] >= threshold) {
        e.quietSinceMs = now;
        if (e.kind === 'synproxy' && e.kernelUntilMs - now < this.#quietMs('synproxy') + 60_000) await this.#serial(() => this.#refreshPort(e, now));
        continue;
      }
      if (now >= e.untilMs && now - e.quietSinceMs >= this.#quietMs(e.kind)) {
        await this.release(e.kind, e.port, `the flood ended: under ${threshold}/s for ${this.#quietMs(e.kind) / 1000} s`);
      }
    }
  }

  /** The table was set up again (reconciler): puts what is engaged back into the kernel. */
  restore(): Promise<void> {
    return this.#serial(async () => {
      const now = this.#clock();
      for (const e of this.#engaged.values()) {
        if (e.kind === 'synproxy') await this.#refreshPort(e, now);
        else await this.#apply(unsolicitedText(this.#table, this.#s, true));
      }
      this.#kernel = {};
      await this.#readCounters();
    });
  }

  /** Refreshes the kernel counters now (status asks before it reads the registry). */
  async counters(): Promise<void> {
    await this.#readCounters();
  }

  #refusal(kind: FloodGuardKind, port: number | null, forSeconds: number): string | null {
    if (!this.#s.enabled) return 'floodGuard.enabled is false: the guard has no rules in the kernel';
    if (!Number.isFinite(forSeconds) || forSeconds <= 0) return `forSeconds ${forSeconds} is not a positive number`;
    if (kind === 'unsolicited') return this.#s.unsolicited.mode === 'off' ? 'floodGuard.unsolicited.mode is off' : null;
    if (port === null || !Number.isInteger(port) || port < 1 || port > 65535) return `synproxy needs a TCP port (1-65535), got ${String(port)}`;
    if (this.#s.synproxy.ports.length > 0 && !this.#s.synproxy.ports.includes(port)) return `port ${port} is not in floodGuard.synproxy.ports`;
    return null;
  }

  #quietMs(kind: FloodGuardKind): number {
    return (kind === 'synproxy' ? this.#s.synproxy.quietSeconds : this.#s.unsolicited.quietSeconds) * 1000;
  }

  async #refreshPort(e: Engaged, now: number): Promise<string | null> {
    const timeoutSeconds = Math.ceil((Math.max(e.untilMs - now, 0) + this.#quietMs('synproxy')) / 1000) + KERNEL_MARGIN_SECONDS;
    const failed = await this.#apply(synPortText(this.#table, e.port ?? 0, timeoutSeconds));
    if (failed === null) e.kernelUntilMs = now + timeoutSeconds * 1000;
    return failed;
  }

  #looseOff(): void {
    if (this.#looseBefore !== null) return;
    const value = this.#loose.read();
    if (value === null || value === '0') return;
    try {
      this.#loose.write('0');
      this.#looseBefore = value;
      this.#log.info({ 'event.action': 'flood-guard-conntrack-loose', 'flood_guard.loose': 0 }, 'flood guard: nf_conntrack_tcp_loose set to 0 while synproxy is on (a client ACK without SYN must be invalid to reach synproxy)');
    } catch (err) {
      this.#log.warn({ 'event.action': 'flood-guard-conntrack-loose-failed', error: err instanceof Error ? err.message : String(err) }, 'flood guard: cannot set nf_conntrack_tcp_loose to 0; synproxied clients may not get through');
    }
  }

  #looseRestore(): void {
    if (this.#looseBefore === null) return;
    const value = this.#looseBefore;
    this.#looseBefore = null;
    try {
      this.#loose.write(value);
      this.#log.info({ 'event.action': 'flood-guard-conntrack-loose', 'flood_guard.loose': Number(value) }, `flood guard: nf_conntrack_tcp_loose back to ${value}`);
    } catch (err) {
      this.#log.warn({ 'event.action': 'flood-guard-conntrack-loose-failed', error: err instanceof Error ? err.message : String(err) }, `flood guard: cannot put nf_conntrack_tcp_loose back to ${value}`);
    }
  }

  async #apply(text: string): Promise<string | null> {
    try {
      await this.#nft(['-f', '-'], text);
      return null;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.table.inc(C['kernel.failed']);
      this.#log.error({ 'event.action': 'flood-guard-kernel-failed', error: message }, 'flood guard: nft refused a change');
      return `nft refused the change: ${message}`;
    }
  }

  async #readCounters(): Promise<boolean> {
    if (!this.#s.enabled) return false;
    try {
      const { stdout } = await this.#nft(['-j', 'list', 'counters', 'table', 'inet', this.#table]);
      const json = JSON.parse(stdout) as { nftables?: { counter?: { name?: string; packets?: number } }[] };
      const next: Partial<Record<GuardCounterName, number>> = {};
      for (const entry of json.nftables ?? []) {
        const name = entry.counter?.name;
        if (name !== undefined && Object.hasOwn(GUARD_COUNTERS, name)) next[name as GuardCounterName] = entry.counter?.packets ?? 0;
      }
      this.#kernel = next;
      this.#lastReadMs = this.#clock();
      return true;
    } catch (err) {
      this.table.inc(C['kernel.failed']);
      this.#log.debug({ 'event.action': 'flood-guard-counters-failed', error: err instanceof Error ? err.message : String(err) }, 'flood guard: cannot read the kernel counters');
      return false;
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function keyOf(kind: FloodGuardKind, port: number | null): string {
  return kind === 'synproxy' ? `synproxy:${String(port)}` : 'unsolicited';
}

function describe(kind: FloodGuardKind, port: number | null): string {
  return kind === 'synproxy' ? `synproxy on tcp/${String(port)}` : 'drops of unsolicited answers';
}
