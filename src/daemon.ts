import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NflogSource, nflogPrefilterRules } from './capture/nflog.js';
import { loadConfigFile, type PortwardenConfig } from './config/load.js';
import type { ControlHandler, BanView } from './control/protocol.js';
import { ControlServer } from './control/server.js';
import { buildAllowlist } from './decide/allowlist.js';
import { lookup } from 'node:dns/promises';
import { canonical } from './decide/address-set.js';
import { LockoutGuard } from './decide/lockout-guard.js';
import { DecisionPolicy, policySettings } from './decide/policy.js';
import type { Incident } from './detect/incident.js';
import type { EnforcementBackend } from './enforce/backend.js';
import { EnforceError } from './enforce/decisions.js';
import { DryRunBackend } from './enforce/dry-run.js';
import { IptablesBackend } from './enforce/iptables.js';
import { NftablesBackend } from './enforce/nftables.js';
import { PortwardenError } from './errors.js';
import type { EventLogger } from './observe/log.js';
import { Pipeline } from './pipeline.js';

export interface DaemonOptions {
  config: PortwardenConfig;
  /** Re-read on reload (SIGHUP, `portwarden reload`); none: reload keeps the built-in defaults. */
  configPath?: string;
  /** Decide and log, but put no ban into the kernel (capture rules are still installed). */
  dryRun: boolean;
  /** On stop, remove the table (and with it every ban); default keeps bans, which expire by themselves. */
  flushOnExit: boolean;
  logger: EventLogger;
  version: string;
}

interface ActiveBan {
  reason: string;
  /** Wall-clock ms when the kernel lifts it; null: no timeout. */
  expiresAtMs: number | null;
  origin: BanView['origin'];
}

const CLOCK_EVERY_MS = 250;
const OFFENDERS_FILE = 'offenders.json';

/**
 * The live daemon: capture (NFLOG, prefiltered in the kernel) → decode → detect → decide → enforce
 * (nftables), with the control socket beside it. Decisions queue changes; a timer commits them every
 * `enforce.commitEveryMs` as one kernel transaction. The kernel owns every ban's timeout, so a daemon
 * that dies leaves no ban forever; the daemon's own list of bans is for status, reload and repair.
 */
export class Daemon {
  readonly #options: DaemonOptions;
  readonly #log: EventLogger;
  readonly #startedAt = new Date();
  #config: PortwardenConfig;
  /** Owns the kernel side: table/chains with the capture rules (and the bans, unless dry-run). */
  #table!: EnforcementBackend;
  #enforcer!: EnforcementBackend;
  #guard!: LockoutGuard;
  #policy!: DecisionPolicy;
  #pipeline!: Pipeline;
  /** The live sources (one NFLOG group today). */
  #captures: NflogSource[] = [];
  #control!: ControlServer;
  readonly #bans = new Map<string, ActiveBan>();
  /** The /64 of every IPv6 target banned (kept in the state directory): repeat offenders get the wider ban. */
  readonly #offences = new Set<string>();
  #queued = 0;
  #committing: Promise<void> | null = null;
  #incidents = 0;
  #repairs = 0;
  readonly #timers: NodeJS.Timeout[] = [];
  #stopped = false;

  private constructor(options: DaemonOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#log = options.logger;
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(options);
    await d.#start();
    return d;
  }

  async #start(): Promise<void> {
    const c = this.#config;
    this.#loadOffenders(c.state.dir);
    await this.#buildDecide(c);
    // Dry run: decisions only go to the log, and the kernel fast path is off too (it would ban by itself).
    const dryRun = this.#options.dryRun || c.enforce.backend === 'dry-run';
    // Default: the interface of the default route; a host without one is watched on every interface
    // but loopback.
    const interfaces = c.capture.interfaces.length > 0 ? c.capture.interfaces : defaultRouteInterface();
    const rules = nflogPrefilterRules(c.capture.nflogGroup, { snaplen: c.capture.snaplenBytes, interfaces: interfaces.length > 0 ? interfaces : undefined });
    this.#table =
      c.enforce.backend === 'iptables'
        ? // iptables has no dynamic sets with meters: no kernel fast path there.
          new IptablesBackend({ nflogGroup: c.capture.nflogGroup, snaplen: c.capture.snaplenBytes })
        : new NftablesBackend({
            ruleset: {
              hooks: { input: true, forward: c.enforce.forward },
              blockedNetworks: c.enforce.blockedNetworks,
              blockedTcpPorts: c.enforce.blockedTcpPorts,
              blockedUdpPorts: c.enforce.blockedUdpPorts,
              prefilter: rules.input,
              prefilterOutput: rules.output,
              fastPath: c.enforce.fastPath.enabled && !dryRun ? c.enforce.fastPath : undefined,
            },
          });
    // A restart must not lift bans: read what the kernel holds before the table is replaced, and put it
    // back with the time it had left.
    const surviving = (await this.#table.present()) ? await this.#table.bans() : [];
    // The table carries the capture rules even in dry-run; then bans only go to the log.
    await this.#table.setup();
    if (dryRun) {
      const dry = new DryRunBackend((entry) => this.#log.info({ 'event.action': `dry-run-${entry.event}`, ...entry }, `dry run: ${entry.event}`));
      await dry.setup();
      this.#enforcer = dry;
    } else this.#enforcer = this.#table;
    await this.#applyAllowlist(c);
    for (const k of surviving) {
      if (k.expiresInSeconds !== null && k.expiresInSeconds <= 0) continue;
      this.#ban(k.target, k.expiresInSeconds, 'kept from before the restart', 'detection');
    }
    if (surviving.length > 0) {
      await this.#commit();
      this.#log.info({ 'event.action': 'bans-restored', count: surviving.length }, `${surviving.length} ban(s) kept across the restart`);
    }

    this.#pipeline = new Pipeline(c.detection, (incident) => this.#onIncident(incident));
    const onError = (err: Error) => this.#log.error({ 'event.action': 'capture-error', error: err.message }, 'live capture failed');
    this.#captures.push(new NflogSource({ group: c.capture.nflogGroup, snaplen: c.capture.snaplenBytes, onFrame: this.#pipeline.onFrame, onError }));
    for (const source of this.#captures) await source.start();
    this.#control = await ControlServer.listen(c.control.socketPath, this.#handler());

    this.#every(c.enforce.commitEveryMs, () => void this.#commit());
    // Detection runs on packet time; on a quiet host the wall clock moves it on, so silent probes time out.
    this.#every(CLOCK_EVERY_MS, () => this.#pipeline.engine.advance(Date.now()));
    this.#every(c.enforce.reconcileEveryMs, () => void this.#reconcile());
    this.#log.info(
      { 'event.action': 'started', profile: c.profile, backend: dryRun ? 'dry-run' : c.enforce.backend, 'nflog.group': c.capture.nflogGroup, socket: c.control.socketPath },
      `portwarden started (profile ${c.profile}${dryRun ? ', dry run' : ''})`,
    );
  }

  /** Stops capture and the control socket; keeps kernel bans (they expire by themselves) unless flushOnExit. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    for (const source of this.#captures) source.stop();
    await this.#committing;
    await this.#commit();
    await this.#control.close();
    if (this.#options.flushOnExit) await this.#table.teardown();
    if (this.#table instanceof NftablesBackend) this.#table.close();
    this.#log.info({ 'event.action': 'stopped', 'flush.on.exit': this.#options.flushOnExit }, this.#options.flushOnExit ? 'portwarden stopped; table removed' : 'portwarden stopped; bans stay until they expire');
  }

  /**
   * Re-reads the config file. An invalid file is refused with its errors and the running config kept;
   * a valid one replaces decisions, allowlist and static rules without dropping bans.
   */
  async reload(): Promise<{ profile: string; changed: boolean }> {
    const path = this.#options.configPath;
    if (path === undefined) return { profile: this.#config.profile, changed: false };
    let next: PortwardenConfig;
    try {
      next = loadConfigFile(path);
    } catch (err) {
      this.#log.error({ 'event.action': 'reload-refused', error: err instanceof Error ? err.message : String(err) }, `reload refused: ${path} is invalid; the running config stays`);
      throw err;
    }
    const changed = JSON.stringify({ ...next, source: '' }) !== JSON.stringify({ ...this.#config, source: '' });
    if (changed) {
      await this.#buildDecide(next);
      await this.#applyAllowlist(next);
      this.#config = next;
    }
    this.#log.info({ 'event.action': 'reloaded', changed }, changed ? `config reloaded from ${path}` : `config unchanged (${path})`);
    return { profile: next.profile, changed };
  }

  async #buildDecide(c: PortwardenConfig): Promise<void> {
    const allowlist = await buildAllowlist(c.allowlist);
    this.#guard = LockoutGuard.discover({
      sshPorts: c.decide.sshPorts,
      allowlist,
      log: (e) => this.#log.warn(e, e.message),
    });
    const { sshPorts: _, ipv6RepeatOffenderPrefix, ...policy } = c.decide;
    this.#policy = new DecisionPolicy(policySettings(c.profile, policy), {
      guard: this.#guard,
      profile: c.profile,
      // A repeat offender's IPv6 source is banned as its whole /64 (by default): one host of a /64
      // usually means its neighbours are one machine or one customer. Kept in the state directory.
      ipv6PrefixFor: (address) => (this.#offences.has(prefix64(address)) ? ipv6RepeatOffenderPrefix : c.decide.ipv6Prefix),
      log: (e) => this.#log.warn(e, e.reason),
    });
  }

  /**
   * Puts the allowlist, and everything the lockout guard protects (own addresses, gateways, resolvers,
   * SSH peers), into the kernel's allow sets: accepted before any drop, the kernel fast path's included.
   */
  async #applyAllowlist(c: PortwardenConfig): Promise<void> {
    this.#allowProtected();
    for (const entry of c.allowlist) {
      const value = typeof entry === 'string' ? entry : entry.value;
      const network = asNetwork(value);
      const targets = network !== null ? [network] : (await lookup(value, { all: true, verbatim: true })).map((a) => a.address);
      for (const t of targets) this.#enforcer.allow(t);
    }
    this.#queued++;
    await this.#commit();
  }

  /** The IPv6 /64s banned before, from the state directory (a damaged file is logged and set aside). */
  #loadOffenders(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, OFFENDERS_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return; // first start
    }
    try {
      const parsed = JSON.parse(text) as { ipv6Prefixes?: unknown };
      if (!Array.isArray(parsed.ipv6Prefixes)) throw new Error('no ipv6Prefixes list');
      for (const p of parsed.ipv6Prefixes) if (typeof p === 'string') this.#offences.add(p);
    } catch (err) {
      renameSync(path, `${path}.damaged`);
      this.#log.warn({ 'event.action': 'state-damaged', file: path, error: err instanceof Error ? err.message : String(err) }, `${path} is damaged: moved aside, starting without repeat offenders`);
    }
  }

  /** Writes the offenders atomically (write, then rename), so a crash leaves the old or the new file. */
  #saveOffenders(): void {
    const path = join(this.#config.state.dir, OFFENDERS_FILE);
    try {
      writeFileSync(`${path}.tmp`, `${JSON.stringify({ ipv6Prefixes: [...this.#offences] })}\n`, { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    } catch (err) {
      this.#log.error({ 'event.action': 'state-write-failed', file: path, error: err instanceof Error ? err.message : String(err) }, `cannot write ${path}`);
    }
  }

  /** Queues an allow for everything the lockout guard protects now. */
  #allowProtected(): void {
    const g = this.#guard.snapshot();
    for (const address of [...g.ownAddresses, ...g.gateways, ...g.resolvers, ...g.sshPeers]) {
      const network = asNetwork(address);
      if (network !== null) this.#enforcer.allow(network);
    }
    this.#queued++;
  }

  #onIncident(incident: Incident): void {
    this.#incidents++;
    const record = incident.toRecord();
    const decision = this.#policy.decide(record, Date.now());
    this.#log.info(
      {
        'event.kind': 'alert',
        'event.action': `incident-${record.kind}`,
        'source.ip': record['source.ip'],
        'destination.ip': record['destination.ip'],
        'destination.port': record['destination.port'],
        'rule.name': `${record.kind}/${record.class}`,
        sources: record.sources,
        decision: decision.action,
      },
      decision.reason,
    );
    if (decision.action !== 'ban') return;
    for (const ban of decision.bans) this.#ban(ban.target, ban.timeoutSeconds, decision.reason, 'detection');
  }

  #ban(target: string, seconds: number | null, reason: string, origin: ActiveBan['origin']): void {
    if (target.includes(':') && !this.#offences.has(prefix64(target))) {
      this.#offences.add(prefix64(target));
      this.#saveOffenders();
    }
    this.#enforcer.ban({ target, timeoutSeconds: seconds });
    this.#bans.set(target, { reason, expiresAtMs: seconds === null ? null : Date.now() + seconds * 1000, origin });
    this.#queued++;
    this.#log.info({ 'event.action': 'ban', 'source.ip': target, 'event.duration': seconds, origin }, `ban ${target} for ${seconds === null ? 'ever' : `${seconds} s`}`);
  }

  #unban(target: string): boolean {
    const had = this.#bans.delete(target);
    this.#enforcer.unban(target);
    this.#policy.forget(target);
    this.#queued++;
    this.#log.info({ 'event.action': 'unban', 'source.ip': target }, `unban ${target}`);
    return had;
  }

  /** Applies everything queued as one transaction; one commit at a time. */
  async #commit(): Promise<void> {
    if (this.#queued === 0 || this.#committing !== null) return;
    this.#queued = 0;
    this.#committing = (async () => {
      try {
        const r = await this.#enforcer.commit();
        if (r.applied > 0) this.#log.debug({ 'event.action': 'commit', applied: r.applied, 'duration.ms': r.durationMs }, `committed ${r.applied} change(s)`);
      } catch (err) {
        // Refused changes are reported one by one; the reconciler repairs what is missing later.
        const failures = err instanceof EnforceError ? err.failures : [];
        for (const f of failures) this.#log.error({ 'event.action': 'enforce-failed', 'source.ip': f.target, error: f.reason, code: 'PW_ERR_ENFORCE' }, `kernel refused ${f.action} ${f.target}: ${f.reason}`);
        if (failures.length === 0) this.#log.error({ 'event.action': 'enforce-failed', error: err instanceof Error ? err.message : String(err) }, 'kernel transaction failed');
      } finally {
        this.#committing = null;
      }
    })();
    await this.#committing;
  }

  /** Compares kernel and daemon: a deleted table is set up again with every ban still due, each repair logged. */
  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    if (await this.#table.present()) {
      // Addresses change (links coming up, DHCP) and SSH sessions come and go: what the guard protects
      // now goes into the kernel allow sets too.
      this.#guard.refresh();
      this.#allowProtected();
      await this.#repairMissingBans();
      return;
    }
    this.#repairs++;
    this.#log.warn({ 'event.action': 'reconcile-table', 'event.reason': 'table missing' }, 'the portwarden table was deleted; restoring it with its bans');
    await this.#table.setup();
    if (this.#enforcer !== this.#table) await this.#enforcer.setup();
    const now = Date.now();
    for (const [target, ban] of this.#bans) {
      if (ban.expiresAtMs !== null && ban.expiresAtMs <= now) {
        this.#bans.delete(target);
        continue;
      }
      this.#enforcer.ban({ target, timeoutSeconds: ban.expiresAtMs === null ? null : Math.ceil((ban.expiresAtMs - now) / 1000) });
      this.#queued++;
    }
    await this.#applyAllowlist(this.#config);
  }

  /** Bans the daemon holds that the kernel lost (someone deleted an element) go back, each repair logged. */
  async #repairMissingBans(): Promise<void> {
    if (this.#enforcer.name === 'dry-run') return;
    const inKernel = new Set((await this.#enforcer.bans()).map((k) => k.target));
    const now = Date.now();
    for (const [target, ban] of this.#bans) {
      if (ban.expiresAtMs !== null && ban.expiresAtMs <= now + 1000) {
        if (ban.expiresAtMs <= now) this.#bans.delete(target);
        continue;
      }
      if (inKernel.has(target)) continue;
      this.#repairs++;
      this.#log.warn({ 'event.action': 'reconcile-element', 'source.ip': target, 'event.reason': 'ban missing from the kernel' }, `ban of ${target} was missing from the kernel; restored`);
      this.#enforcer.ban({ target, timeoutSeconds: ban.expiresAtMs === null ? null : Math.ceil((ban.expiresAtMs - now) / 1000) });
      this.#queued++;
    }
  }

  #every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.#timers.push(t);
  }

  #handler(): ControlHandler {
    return {
      status: async () => ({
        version: this.#options.version,
        startedAt: this.#startedAt.toISOString(),
        profile: this.#config.profile,
        backend: this.#enforcer.name,
        dryRun: this.#enforcer.name === 'dry-run',
        interfaces: this.#config.capture.interfaces,
        bans: (await this.#enforcer.bans()).length,
        incidents: this.#incidents,
        counters: {
          ...this.#pipeline.engine.counterValues(),
          'capture.delivered': this.#captures.reduce((n, source) => n + source.stats.delivered, 0),
          'capture.lost': this.#captures.reduce((n, source) => n + source.stats.lost, 0),
          'reconcile.repairs': this.#repairs,
        },
      }),
      bans: async () =>
        (await this.#enforcer.bans()).map((k) => {
          const known = this.#bans.get(k.target);
          return { target: k.target, expiresInSeconds: k.expiresInSeconds, reason: known?.reason ?? 'in the kernel, not from this run', origin: known?.origin ?? 'config' };
        }),
      ban: async (r) => {
        if (asNetwork(r.target) === null) throw new PortwardenError('PW_ERR_USAGE', `${r.target} is not an address or network`);
        const protectedBy = this.#guard.protects(r.target);
        if (protectedBy !== null) throw new PortwardenError('PW_ERR_USAGE', `refusing to ban ${r.target}: ${protectedBy.reason} (the lockout guard never bans it)`);
        this.#ban(r.target, r.seconds, r.reason || 'operator', 'operator');
        await this.#commit();
        return { target: r.target, expiresInSeconds: r.seconds };
      },
      unban: async (r) => {
        const removed = this.#unban(r.target);
        await this.#commit();
        return { target: r.target, removed };
      },
      allow: async (r) => {
        if (asNetwork(r.target) === null) throw new PortwardenError('PW_ERR_USAGE', `${r.target} is not an address or network`);
        this.#config = { ...this.#config, allowlist: [...this.#config.allowlist, { value: r.target, reason: r.reason || 'operator' }] };
        await this.#buildDecide(this.#config);
        if (this.#bans.has(r.target)) this.#unban(r.target);
        this.#enforcer.allow(r.target);
        this.#queued++;
        await this.#commit();
        this.#log.info({ 'event.action': 'allow', 'source.ip': r.target }, `allow ${r.target}`);
        return { target: r.target };
      },
      reload: async () => this.reload(),
    };
  }
}

/** Canonical text of an address or network, or null for anything else (a host name). */
function asNetwork(text: string): string | null {
  try {
    return canonical(text);
  } catch {
    return null;
  }
}

/**
 * The interface of the default IPv4 route (/proc/net/route): what the daemon watches by default. With
 * no default route: [] (every interface but loopback).
 */
function defaultRouteInterface(): string[] {
  const lines = readFileSync('/proc/net/route', 'utf8').split('\n').slice(1);
  for (const line of lines) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (destination === '00000000' && mask === '00000000' && iface !== undefined) return [iface];
  }
  return [];
}

/** The /64 an IPv6 address or prefix lies in, as canonical text. */
function prefix64(target: string): string {
  const [address] = target.split('/');
  const groups = canonical(address).split(':');
  // Expand '::' so the first four groups are there to take.
  const gap = groups.indexOf('');
  const full = gap < 0 ? groups : [...groups.slice(0, gap), ...Array<string>(8 - groups.filter((g) => g !== '').length).fill('0'), ...groups.slice(gap).filter((g) => g !== '')];
  return `${full.slice(0, 4).join(':')}::/64`;
}
