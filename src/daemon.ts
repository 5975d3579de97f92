import { readFileSync } from 'node:fs';
import { NflogSource, nflogPrefilterRules } from './capture/nflog.js';
import { PcapLiveSource } from './capture/pcap-live.js';
import { banAlert, decideAlert, dispatcherFromConfig, enforceFailureAlert, incidentAlert, type AlertDispatcher } from './alert/index.js';
import { loadConfigFile, type PortwardenConfig } from './config/load.js';
import type { ControlHandler, BanView } from './model/control.js';
import { ControlServer } from './control/server.js';
import { buildAllowlist } from './decide/allowlist.js';
import { lookup } from 'node:dns/promises';
import { canonical } from './net/address-set.js';
import { AddressIndexedMap } from './net/address-map.js';
import { LockoutGuard } from './decide/lockout-guard.js';
import { DecisionPolicy, policySettings } from './decide/policy.js';
import { Escalation } from './decide/escalation.js';
import { openState, type IncidentHandle, type StateStore } from './state/state-store.js';
import { net64 } from './state/offender-store.js';
import { planRestore, type Repair } from './state/restore.js';
import type { Incident } from './detect/incident.js';
import type { EnforcementBackend } from './enforce/backend.js';
import type { KernelBan } from './model/ban.js';
import { EnforceError } from './enforce/decisions.js';
import { DryRunBackend } from './enforce/dry-run.js';
import { IptablesBackend } from './enforce/iptables.js';
import { NftablesBackend } from './enforce/nftables.js';
import { PortwardenError } from './errors.js';
import type { EventLogger } from './model/logger.js';
import { Observatory, type ObservatorySource } from './observe/observatory.js';
import { queueVerdicts } from './observe/metrics.js';
import { Pipeline } from './detect/pipeline.js';
import { Responder } from './respond/responder.js';
import { InlineController } from './inline/controller.js';

export interface DaemonOptions {
  config: PortwardenConfig;
  /** Re-read on reload (SIGHUP, `portwarden reload`); none: reload keeps the built-in defaults. */
  configPath?: string;
  /** Laid over every config read on reload (the command line's options, which win over the file). */
  overrides?: (config: PortwardenConfig) => PortwardenConfig;
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
  /** The live sources: one NFLOG group, or libpcap on each watched interface. */
  #captures: (NflogSource | PcapLiveSource)[] = [];
  #control!: ControlServer;
  /** Answers banned scanners (src/respond/); null without the nftables backend or in a dry run. */
  #responder: Responder | null = null;
  /** Inline mode (src/inline/): NFQUEUE verdicts, DNS blocklists; idle unless inline.enabled. */
  #inline: InlineController | null = null;
  /** Alert channels (src/alert/): publish() only queues, delivery never holds up detection. */
  #alerts!: AlertDispatcher;
  /** Metrics, health and the dashboard (src/observe/observatory.ts). */
  #observatory!: Observatory;
  /** When each ban or unban waiting for the next commit was queued (performance.now()), for the latency metric. */
  #queuedAt: number[] = [];
  /** Keyed by target; `.addresses` indexes them (prefixes included) for inline mode's per-packet check. */
  readonly #bans = new AddressIndexedMap<ActiveBan>();
  /** The reconciler lists the kernel's bans again from then on (Date.now() ms). */
  #nextBanListingMs = 0;
  /** The allowlist's networks (host names resolved), as last applied. */
  #allowlisted = new Set<string>();
  /** What the kernel allow sets hold: the allowlist and what the lockout guard protects. */
  #allowed = new Set<string>();
  /** Bans, incidents and offenders in the state database (src/state/), or memory when it is unusable. */
  #state!: StateStore;
  /** Repeat offenders get longer bans (decide/escalation.ts); its offenders live in #state. */
  #escalation!: Escalation;
  /** A purge in progress (stop waits for it before closing the database). */
  #purgeRun: Promise<void> | null = null;
  /** Targets unbanned while the restart's background comparison runs: not to be recorded back from the kernel's list. */
  #unbannedWhileComparing: Set<string> | null = null;
  /** `portwarden allow` entries: kept across reloads (until the daemon stops). */
  readonly #operatorAllows: { value: string; reason: string }[] = [];
  /** The background comparison after a restart that kept the kernel's bans (stop waits for it). */
  #restoring: Promise<void> | null = null;
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
    try {
      await d.#start();
    } catch (err) {
      // Whatever did start (capture, the control socket, the listener, the database) stops, so the
      // process can exit with the error instead of hanging half started.
      await d.stop().catch((e: unknown) => options.logger.error({ 'event.action': 'stop-failed', error: e instanceof Error ? e.message : String(e) }, 'stopping after a failed start failed'));
      throw err;
    }
    return d;
  }

  async #start(): Promise<void> {
    const c = this.#config;
    this.#openState(c);
    this.#observatory = new Observatory({ settings: c.observe, stateDir: c.state.dir, version: this.#options.version, log: this.#log, source: this.#observeSource() });
    this.#alerts = this.#buildAlerts(c);
    await this.#buildDecide(c);
    // Dry run: decisions only go to the log, and the kernel fast path is off too (it would ban by itself).
    const dryRun = this.#options.dryRun || c.enforce.backend === 'dry-run';
    const nflog = c.capture.method === 'nflog';
    // Default: the interface of the default route; a host without one is watched on every interface
    // but loopback (NFLOG), or refused (libpcap needs a name).
    const interfaces = c.capture.interfaces.length > 0 ? c.capture.interfaces : defaultRouteInterface();
    if (!nflog && interfaces.length === 0) throw new PortwardenError('PW_ERR_CAPTURE_LIVE', 'no default route, so no interface for libpcap to watch: name one with --interface');
    // With libpcap capture the kernel logs nothing for detection; the table still enforces.
    const rules = nflog ? nflogPrefilterRules(c.capture.nflogGroup, { snaplen: c.capture.snaplenBytes, interfaces: interfaces.length > 0 ? interfaces : undefined }) : { input: [], output: [] };
    // Responses need the nftables table (its answered sets and respond chain); a dry run answers nobody.
    if (c.enforce.backend === 'nftables' && !dryRun) {
      this.#responder = new Responder({ settings: c.respond, captureGroup: c.capture.nflogGroup, guard: () => this.#guard, log: this.#log });
    }
    this.#table =
      c.enforce.backend === 'iptables'
        ? // iptables has no dynamic sets with meters: no kernel fast path there.
          new IptablesBackend({
            ...(nflog ? { nflogGroup: c.capture.nflogGroup, snaplen: c.capture.snaplenBytes } : {}),
            interfaces: interfaces.length > 0 ? interfaces : undefined,
            forward: c.enforce.forward,
            blockedNetworks: c.enforce.blockedNetworks,
            blockedTcpPorts: c.enforce.blockedTcpPorts,
            blockedUdpPorts: c.enforce.blockedUdpPorts,
          })
        : new NftablesBackend({
            ruleset: {
              hooks: { input: true, forward: c.enforce.forward },
              blockedNetworks: c.enforce.blockedNetworks,
              blockedTcpPorts: c.enforce.blockedTcpPorts,
              blockedUdpPorts: c.enforce.blockedUdpPorts,
              prefilter: rules.input,
              prefilterOutput: rules.output,
              fastPath: c.enforce.fastPath.enabled && !dryRun ? c.enforce.fastPath : undefined,
              respond: this.#responder?.kernelRuleset(),
            },
          });
    // A restart must not lift bans. nftables: the rules are replaced around the ban sets, which keep
    // their elements (no gap in enforcement, nothing copied out and back in); the comparison with the
    // database runs once started. Otherwise (iptables, or nft refused): read what the kernel holds
    // before the table is replaced, and put it back with the time it had left.
    const tablePresent = await this.#table.present();
    let kept = false;
    if (tablePresent && !dryRun && this.#table instanceof NftablesBackend) {
      const refused = await this.#table.setupKeepingBans();
      kept = refused === null;
      if (!kept) this.#log.warn({ 'event.action': 'restore-fallback', 'event.reason': refused }, `the table cannot be kept across the restart (${refused}); replacing it, bans are read out and put back`);
    }
    const surviving = tablePresent && !kept ? await this.#table.bans() : [];
    // The table carries the capture rules even in dry-run; then bans only go to the log.
    if (!kept) await this.#table.setup();
    if (dryRun) {
      const dry = new DryRunBackend((entry) => this.#log.info({ 'event.action': `dry-run-${entry.event}`, ...entry }, `dry run: ${entry.event}`));
      await dry.setup();
      this.#enforcer = dry;
    } else this.#enforcer = this.#table;
    await this.#applyAllowlist(c);
    if (kept) this.#restoreKept(this.#table as NftablesBackend);
    else await this.#restore(surviving, tablePresent);

    this.#pipeline = new Pipeline(c.detection, (incident) => this.#onIncident(incident));
    const onError = (err: Error) => this.#log.error({ 'event.action': 'capture-error', error: err.message }, 'live capture failed');
    if (nflog) this.#captures.push(new NflogSource({ group: c.capture.nflogGroup, snaplen: c.capture.snaplenBytes, onFrame: this.#pipeline.onFrame, onError }));
    else for (const name of interfaces) this.#captures.push(new PcapLiveSource({ interface: name, snaplen: c.capture.snaplenBytes, onFrame: this.#pipeline.onFrame, onError }));
    for (const source of this.#captures) await source.start();
    await this.#responder?.start();
    this.#control = await ControlServer.listen(c.control.socketPath, this.#handler());
    await this.#observatory.listen();
    this.#inline = new InlineController(this.#log, this.#bans.addresses);
    this.#inline.start(c);
    this.#observatory.metrics.registerQueueVerdicts(() => queueVerdicts(this.#inline?.counters() ?? {}));

    this.#every(c.enforce.commitEveryMs, () => void this.#commit());
    // Detection runs on packet time; on a quiet host the wall clock moves it on, so silent probes time out.
    this.#every(CLOCK_EVERY_MS, () => this.#pipeline.engine.advance(Date.now()));
    this.#every(c.enforce.reconcileEveryMs, () => void this.#reconcile().then(() => this.#observatory.reconciled()));
    this.#every(c.state.purgeEveryMs, () => this.#purge());
    this.#log.info(
      { 'event.action': 'started', profile: c.profile, backend: dryRun ? 'dry-run' : c.enforce.backend, capture: c.capture.method, 'nflog.group': nflog ? c.capture.nflogGroup : undefined, socket: c.control.socketPath },
      `portwarden started (profile ${c.profile}${dryRun ? ', dry run' : ''})`,
    );
  }

  /** Stops capture and the control socket; keeps kernel bans (they expire by themselves) unless flushOnExit. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    for (const source of this.#captures) source.stop();
    this.#inline?.stop();
    await this.#responder?.stop();
    await this.#restoring;
    await this.#purgeRun;
    await this.#committing;
    // After a failed start some parts were never built.
    if (this.#enforcer !== undefined) await this.#commit();
    await this.#control?.close();
    await this.#alerts?.close(this.#config.alerts.shutdownTimeoutMs);
    await this.#observatory?.close();
    if (this.#options.flushOnExit) await this.#table?.teardown();
    if (this.#table instanceof NftablesBackend) this.#table.close();
    if (this.#state !== undefined) this.#closeState();
    this.#log.info({ 'event.action': 'stopped', 'flush.on.exit': this.#options.flushOnExit }, this.#options.flushOnExit ? 'portwarden stopped; table removed' : 'portwarden stopped; bans stay until they expire');
  }

  /**
   * Re-reads the config file. An invalid file is refused with its errors and the running config kept;
   * a valid one replaces decisions, allowlist and static rules without dropping bans.
   */
  async reload(): Promise<{ profile: string; changed: boolean }> {
    const path = this.#options.configPath;
    if (path === undefined) {
      this.#inline?.reload(this.#config); // blocklist files are re-read even without a config file
      return { profile: this.#config.profile, changed: false };
    }
    let next: PortwardenConfig;
    try {
      next = (this.#options.overrides ?? ((c: PortwardenConfig) => c))(loadConfigFile(path));
      next = { ...next, allowlist: [...next.allowlist, ...this.#operatorAllows] };
    } catch (err) {
      this.#log.error({ 'event.action': 'reload-refused', error: err instanceof Error ? err.message : String(err) }, `reload refused: ${path} is invalid; the running config stays`);
      throw err;
    }
    const changed = JSON.stringify({ ...next, source: '' }) !== JSON.stringify({ ...this.#config, source: '' });
    if (changed) {
      await this.#buildDecide(next);
      await this.#applyAllowlist(next);
      await this.#responder?.reload(next.respond);
      if (JSON.stringify(next.alerts) !== JSON.stringify(this.#config.alerts)) {
        // New channels take alerts from now on; the old ones send what they hold, in the background.
        const old = this.#alerts;
        this.#alerts = this.#buildAlerts(next);
        void old.close(next.alerts.shutdownTimeoutMs);
      }
      this.#config = next;
    }
    this.#inline?.reload(next);
    this.#log.info({ 'event.action': 'reloaded', changed }, changed ? `config reloaded from ${path}` : `config unchanged (${path})`);
    return { profile: next.profile, changed };
  }

  /** The alert channels of `c`; outcomes go to the alert-delivery metric (suppressed ones are only counted in the channel's stats). */
  #buildAlerts(c: PortwardenConfig): AlertDispatcher {
    return dispatcherFromConfig(c.alerts, {
      log: this.#log,
      observers: [{ onDelivery: (channel, outcome, n) => outcome !== 'suppressed' && this.#observatory.metrics.alertDelivery(channel, outcome === 'delivered' ? 'sent' : outcome, n) }],
    });
  }

  async #buildDecide(c: PortwardenConfig): Promise<void> {
    const allowlist = await buildAllowlist(c.allowlist);
    this.#guard = LockoutGuard.discover({
      sshPorts: c.decide.sshPorts,
      allowlist,
      log: (e) => this.#log.warn(e, e.message),
    });
    const { sshPorts: _, ipv6RepeatOffenderPrefix, escalation, ...policy } = c.decide;
    this.#escalation = new Escalation(escalation, this.#state);
    this.#policy = new DecisionPolicy(policySettings(c.profile, policy), {
      guard: this.#guard,
      profile: c.profile,
      // A repeat offender's IPv6 source is banned as its whole /64 (by default): one host of a /64
      // usually means its neighbours are one machine or one customer. Offenders live in the state database.
      ipv6PrefixFor: (address) => (this.#state.hasOffenderIn64(net64(address) ?? '') ? ipv6RepeatOffenderPrefix : c.decide.ipv6Prefix),
      durationFor: (target, base) => {
        // Still banned: probes that raced the kernel commit were re-reported. The same ban with the
        // time it has left, and no new offence.
        const now = Date.now();
        const active = this.#bans.get(target);
        if (active !== undefined && (active.expiresAtMs === null || active.expiresAtMs > now)) return active.expiresAtMs === null ? null : Math.ceil((active.expiresAtMs - now) / 1000);
        return this.#escalation.durationFor(target, base, now);
      },
      log: (e) => {
        this.#log.warn(e, e.reason);
        this.#alerts.publish(decideAlert(e));
      },
    });
  }

  /**
   * Puts the allowlist, and everything the lockout guard protects (own addresses, gateways, resolvers,
   * SSH peers), into the kernel's allow sets: accepted before any drop, the kernel fast path's included.
   */
  async #applyAllowlist(c: PortwardenConfig): Promise<void> {
    const listed = new Set<string>();
    for (const entry of c.allowlist) {
      const value = typeof entry === 'string' ? entry : entry.value;
      const network = asNetwork(value);
      const targets = network !== null ? [network] : (await lookup(value, { all: true, verbatim: true })).map((a) => a.address);
      for (const t of targets) listed.add(asNetwork(t) ?? t);
    }
    this.#allowlisted = listed;
    this.#allowProtected();
    await this.#commit();
  }

  /**
   * Opens the state database (src/state/). One that cannot be used (corrupt, locked) is logged as
   * PW_ERR_STATE naming the file, and the daemon goes on with in-memory state: it still enforces.
   */
  #openState(c: PortwardenConfig): void {
    this.#state = openState(
      c.state.dir,
      (err) => this.#log.error({ 'event.action': 'state-unavailable', code: err.code, error: err.message }, `${err.message}; going on with in-memory state (bans and offenders of this run only)`),
      (count, file) => this.#log.info({ 'event.action': 'state-imported', count, file }, `${count} repeat IPv6 offender(s) imported from ${file} into the state database`),
    );
  }

  /**
   * Restart: every unexpired ban of the database goes back into the kernel with the time it has left,
   * in one transaction, after comparing it with what the kernel held (state/restore.ts); each repair
   * (a ban in one but not the other) is logged.
   */
  async #restore(kernel: KernelBan[], tablePresent: boolean): Promise<void> {
    const now = Date.now();
    let stored: ReturnType<StateStore['liveBans']> = [];
    try {
      stored = this.#state.liveBans(now);
    } catch (err) {
      this.#stateFailed(err);
    }
    const plan = planRestore(stored, kernel, tablePresent, now);
    for (const b of plan.restore) {
      this.#enforcer.ban({ target: b.target, timeoutSeconds: b.seconds });
      this.#bans.set(b.target, { reason: b.reason, expiresAtMs: b.expiresMs, origin: b.origin });
    }
    for (const b of plan.record) this.#state.addBan({ target: b.target, reason: b.reason, createdMs: now, expiresMs: b.expiresMs, origin: b.origin, durationWhy: 'the time the kernel had left' }, null);
    this.#logRepairs(plan.repairs);
    if (plan.restore.length === 0 && plan.record.length === 0) return;
    this.#queued++;
    await this.#commit();
    this.#log.info(
      { 'event.action': 'bans-restored', count: plan.restore.length, 'from.database': plan.restore.length - plan.record.length, repairs: plan.repairs.length, 'duration.ms': Date.now() - now },
      `${plan.restore.length} ban(s) restored across the restart (${plan.repairs.length} repair(s))`,
    );
  }

  /**
   * After a restart that kept the kernel's bans (no gap in enforcement): the database's bans are taken
   * as present at once (status, unban, planning), and compared with the kernel's list in the
   * background, since listing 100,000 bans takes the kernel a second or two. A ban only the database
   * has goes back, one only the kernel has is recorded; each repair is logged.
   */
  #restoreKept(table: NftablesBackend): void {
    const started = Date.now();
    try {
      const stored = this.#state.liveBans(started);
      for (const b of stored) this.#bans.set(b.target, { reason: b.reason, expiresAtMs: b.expiresMs, origin: b.origin });
      table.adoptBans(stored.map((b) => ({ target: b.target, expiresAtMs: b.expiresMs })));
    } catch (err) {
      this.#stateFailed(err);
    }
    this.#unbannedWhileComparing = new Set();
    this.#restoring = (async () => {
      try {
        const kernel = await table.bans();
        const now = Date.now();
        // Read after the listing: a ban decided meanwhile is in the database before the kernel.
        const plan = planRestore(this.#state.liveBans(now), kernel, true, now);
        // An unban that raced the listing is in the database but was still in the kernel's list.
        const unbanned = this.#unbannedWhileComparing ?? new Set<string>();
        plan.record = plan.record.filter((b) => !unbanned.has(b.target));
        plan.repairs = plan.repairs.filter((r) => !unbanned.has(r.target));
        const missing = new Set(plan.repairs.filter((r) => r.kind === 'missing-from-kernel').map((r) => r.target));
        for (const b of plan.restore) {
          if (!missing.has(b.target)) continue;
          table.forgetBan(b.target);
          this.#enforcer.ban({ target: b.target, timeoutSeconds: b.seconds });
          this.#queued++;
        }
        for (const b of plan.record) {
          this.#bans.set(b.target, { reason: b.reason, expiresAtMs: b.expiresMs, origin: b.origin });
          this.#state.addBan({ target: b.target, reason: b.reason, createdMs: now, expiresMs: b.expiresMs, origin: b.origin, durationWhy: 'the time the kernel had left' }, null);
          this.#queued++;
        }
        table.adoptBans(plan.record.map((b) => ({ target: b.target, expiresAtMs: b.expiresMs })));
        this.#logRepairs(plan.repairs);
        await this.#commit();
        this.#log.info(
          { 'event.action': 'bans-restored', count: plan.restore.length, kept: true, repairs: plan.repairs.length, 'duration.ms': Date.now() - started },
          `${plan.restore.length} ban(s) kept in the kernel across the restart and compared with the database (${plan.repairs.length} repair(s))`,
        );
      } catch (err) {
        this.#log.error({ 'event.action': 'restore-failed', error: err instanceof Error ? err.message : String(err) }, 'comparing kernel and database bans after the restart failed; the reconciler puts back what is missing');
      } finally {
        this.#unbannedWhileComparing = null;
      }
    })();
  }

  #logRepairs(repairs: readonly Repair[]): void {
    for (const r of repairs) {
      this.#repairs++;
      const what = r.kind === 'missing-from-kernel' ? 'in the state database but missing from the kernel: put back' : 'in the kernel but missing from the state database: recorded';
      this.#log.warn({ 'event.action': 'state-repair', 'source.ip': r.target, 'event.reason': r.kind }, `ban of ${r.target} was ${what}`);
    }
  }

  /** Writes what the state queued (one fsynced transaction); a failure is logged, the kernel still gets the bans. */
  #persist(): void {
    try {
      this.#state.flush();
    } catch (err) {
      this.#stateFailed(err);
    }
  }

  /** Retention: old incidents, ended bans and forgotten offenders go; the file is compacted. */
  #purge(): void {
    if (this.#purgeRun !== null || this.#stopped) return;
    this.#purgeRun = this.#purgeOnce().finally(() => (this.#purgeRun = null));
  }

  async #purgeOnce(): Promise<void> {
    try {
      const r = await this.#state.purge(Date.now(), this.#config.state);
      if (r.incidents + r.bans + r.offenders + r.vacuumedPages > 0) this.#log.info({ 'event.action': 'state-purged', ...r }, `purged ${r.incidents} incident(s), ${r.bans} ban(s), ${r.offenders} offender(s); ${r.vacuumedPages} page(s) given back`);
    } catch (err) {
      this.#stateFailed(err);
    }
  }

  #closeState(): void {
    try {
      this.#state.close();
    } catch (err) {
      this.#stateFailed(err);
    }
  }

  #stateFailed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.#log.error({ 'event.action': 'state-write-failed', code: err instanceof PortwardenError ? err.code : 'PW_ERR_STATE', error: message }, message);
  }

  /**
   * Makes the kernel allow sets hold exactly the allowlist and what the lockout guard protects now:
   * what is new is allowed, and what is no longer protected (an SSH session that ended, an address the
   * host gave up, an entry taken out of the config) is disallowed, each logged.
   */
  #allowProtected(): void {
    const g = this.#guard.snapshot();
    const wanted = new Set(this.#allowlisted);
    for (const address of [...g.ownAddresses, ...g.gateways, ...g.resolvers, ...g.sshPeers]) {
      const network = asNetwork(address);
      if (network !== null) wanted.add(network);
    }
    for (const target of wanted) if (!this.#allowed.has(target)) this.#enforcer.allow(target);
    for (const target of this.#allowed) {
      if (wanted.has(target)) continue;
      this.#enforcer.disallow(target);
      this.#log.info({ 'event.action': 'disallow', 'source.ip': target }, `${target} is no longer allowlisted or protected; removed from the kernel allow set`);
    }
    this.#allowed = wanted;
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
    this.#alerts.publish(incidentAlert(decision));
    this.#observatory.incident(record, decision);
    const stored = this.#state.addIncident({ atMs: Date.now(), record, decision: decision.action, reason: decision.reason });
    // Floods stop answers (their sources may be forged); a banned scanner is answered per respond.mode.
    this.#responder?.onIncident(record);
    this.#responder?.onDecision(decision);
    if (decision.action !== 'ban') return;
    for (const ban of decision.bans) this.#ban(ban.target, ban.timeoutSeconds, decision.reason, 'detection', this.#escalation.takeWhy(ban.target), stored);
    for (const ban of decision.bans) this.#alerts.publish(banAlert(ban.target, ban.timeoutSeconds, decision.reason, 'detection'));
  }

  /** Queues a ban for the kernel and the state database; both are written by the next #commit, database first. */
  #ban(target: string, seconds: number | null, reason: string, origin: ActiveBan['origin'], why = '', incident: IncidentHandle | null = null): void {
    const now = Date.now();
    const expiresAtMs = seconds === null ? null : now + seconds * 1000;
    this.#state.addBan({ target, reason, createdMs: now, expiresMs: expiresAtMs, origin, durationWhy: why }, incident);
    this.#enforcer.ban({ target, timeoutSeconds: seconds });
    this.#bans.set(target, { reason, expiresAtMs, origin });
    this.#queued++;
    this.#queuedAt.push(performance.now());
    this.#observatory.ban(target, seconds, origin);
    this.#log.info({ 'event.action': 'ban', 'source.ip': target, 'event.duration': seconds, origin, 'ban.duration_why': why || undefined }, `ban ${target} for ${seconds === null ? 'ever' : `${seconds} s`}${why ? ` (${why})` : ''}`);
  }

  #unban(target: string): boolean {
    this.#unbannedWhileComparing?.add(target);
    const had = this.#bans.delete(target);
    this.#state.liftBan(target, Date.now());
    this.#enforcer.unban(target);
    this.#policy.forget(target);
    this.#queued++;
    this.#queuedAt.push(performance.now());
    this.#observatory.unban(target);
    this.#log.info({ 'event.action': 'unban', 'source.ip': target }, `unban ${target}`);
    return had;
  }

  /**
   * Applies everything queued as one transaction; one commit at a time. A caller arriving during a
   * commit waits for it and then commits its own changes, so a control request is answered only once
   * its ban is in the state database (written first, fsynced) and in the kernel.
   */
  async #commit(): Promise<void> {
    while (this.#committing !== null) await this.#committing;
    if (this.#queued === 0) {
      this.#persist(); // incidents that led to no ban
      return;
    }
    this.#queued = 0;
    this.#persist();
    const queuedAt = this.#queuedAt;
    this.#queuedAt = [];
    this.#committing = (async () => {
      try {
        const r = await this.#enforcer.commit();
        this.#observatory.committed(queuedAt, performance.now());
        if (r.applied > 0) this.#log.debug({ 'event.action': 'commit', applied: r.applied, 'duration.ms': r.durationMs }, `committed ${r.applied} change(s)`);
      } catch (err) {
        // Refused changes are reported one by one; the reconciler repairs what is missing later.
        const failures = err instanceof EnforceError ? err.failures : [];
        for (const f of failures) this.#log.error({ 'event.action': 'enforce-failed', 'source.ip': f.target, error: f.reason, code: 'PW_ERR_ENFORCE' }, `kernel refused ${f.action} ${f.target}: ${f.reason}`);
        if (failures.length === 0) this.#log.error({ 'event.action': 'enforce-failed', error: err instanceof Error ? err.message : String(err) }, 'kernel transaction failed');
        for (const f of failures) this.#alerts.publish(enforceFailureAlert(`kernel refused ${f.action} ${f.target}: ${f.reason}`, f.target));
        if (failures.length === 0) this.#alerts.publish(enforceFailureAlert(`kernel transaction failed: ${err instanceof Error ? err.message : String(err)}`, undefined));
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
    this.#allowed.clear(); // the new table's allow sets are empty
    await this.#responder?.restore();
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
    if (this.#enforcer.name === 'dry-run' || Date.now() < this.#nextBanListingMs) return;
    // Listing the ban sets costs the kernel time quadratic in their size (1-2 s for 100,000 bans) and
    // holds back commits meanwhile: with large sets, list at most 2 % of the time.
    const listedAt = performance.now();
    const inKernel = new Set((await this.#enforcer.bans()).map((k) => k.target));
    const now = Date.now();
    this.#nextBanListingMs = now + 50 * (performance.now() - listedAt);
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

  /** What metrics, health and the dashboard read; getters, since most parts are built after the observatory. */
  #observeSource(): ObservatorySource {
    const handler = this.#handler();
    return {
      decodeStats: () => this.#pipeline?.decodeStats ?? null,
      detectionCounters: () => this.#pipeline?.engine.counterValues() ?? null,
      probesByClass: () => this.#pipeline?.engine.probesByClass ?? null,
      captures: () => this.#captures.map((source) => source.stats),
      captureRunning: () => this.#captures.length > 0 && this.#captures.every((source) => source.running),
      bans: () => this.#bans,
      repairs: () => this.#repairs,
      tablePresent: () => this.#table.present(),
      reconcileEveryMs: this.#config.enforce.reconcileEveryMs,
      control: () => handler,
    };
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
          ...(await this.#responder?.counters()),
          ...this.#inline?.counters(),
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
        this.#alerts.publish(banAlert(r.target, r.seconds, r.reason || 'operator', 'operator'));
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
        const entry = { value: r.target, reason: r.reason || 'operator' };
        this.#operatorAllows.push(entry);
        this.#config = { ...this.#config, allowlist: [...this.#config.allowlist, entry] };
        await this.#buildDecide(this.#config);
        if (this.#bans.has(r.target)) this.#unban(r.target);
        this.#allowlisted.add(asNetwork(r.target) ?? r.target);
        this.#allowProtected();
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
