import { join } from 'node:path';
import { LiveCapture } from './capture/live-capture.js';
import { CounterRegistry } from './model/counters.js';
import { CounterLog } from './observe/counter-log.js';
import { Alerting } from './alert/alerting.js';
import { feedStaleAlert } from './alert/alert.js';
import { FeedsStage } from './intel/feeds/stage.js';
import { hostExclusionInput } from './intel/feeds/exclusions.js';
import { feedView } from './control/feed-view.js';
import type { PortwardenConfig } from './config/load.js';
import { controlHandlers } from './control/handlers.js';
import { logReloaded, RunningConfig } from './control/running-config.js';
import { InstanceLock } from './control/instance-lock.js';
import { ControlServer } from './control/server.js';
import { logStarted } from './control/start-summary.js';
import { Pipeline } from './detect/pipeline.js';
import { backendKind } from './enforce/backends.js';
import { DecideStage } from './decide/decider.js';
import { Enforcement } from './enforce/enforcement.js';
import { FloodGuard } from './enforce/flood-guard.js';
import { Fleet } from './fleet/fleet.js';
import { ConfigError } from './errors.js';
import { InlineController } from './inline/controller.js';
import type { LapiServer } from './lapi/server.js';
import { serveDecisions } from './lapi/serve.js';
import type { ControlHandler, ResultOf } from './model/control.js';
import type { Decider, Decision } from './model/decision.js';
import type { IncidentRecord } from './model/incident.js';
import type { EventLogger } from './model/logger.js';
import { Observatory, type ObservatorySource } from './observe/observatory.js';
import { StateHistory } from './observe/address-history.js';
import { Responder } from './respond/responder.js';
import { restoreKept, restoreReplaced } from './state/ban-restore.js';
import { StateKeeper } from './state/keeper.js';
import { BaselineKeeper } from './state/baseline-keeper.js';
import { net64 } from './state/offender-store.js';
import { GeoStage } from './intel/geo/geo-stage.js';
import { enrichingListener } from './intel/enrich.js';
import { FeedTrust } from './intel/feed-trust.js';
import { lookupAddress } from './control/lookup.js';
import { enrichAll, reputationServices } from './intel/enrich/services.js';
import { FrameDecoder } from './capture/source.js';
import type { FeedMembership } from './model/intel.js';
import type { Packet } from './model/packet.js';
import type { IncidentHandle } from './state/state-store.js';
import { buildRuleEngine, type RuleEngine } from './rules/index.js';
import { PlaybookRunner } from './playbook/runner.js';
import { daemonPlaybookActions } from './playbook/daemon-actions.js';

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

const CLOCK_EVERY_MS = 250;
/** How often the counter log line says what changed (every stage's counters, from the registry). */
const COUNTER_LOG_EVERY_MS = 60_000;

/**
 * The live daemon, as wiring: capture → detect (Pipeline) → decide and enforce (IncidentFlow: policy,
 * then the BanBook, which batches changes into one kernel transaction every `enforce.commitEveryMs`),
 * with the state database, restore, reconcile, alerts, observability, responder, inline mode and the
 * control socket beside it. Each part lives in its stage's folder; this file builds them in data-flow
 * order, plugs them together once, and rebuilds what a reload changes.
 */
export class Daemon {
  readonly #options: DaemonOptions;
  readonly #log: EventLogger;
  readonly #startedAt = new Date();
  /** The config in force: changed by reload and `portwarden allow`. */
  readonly #running: RunningConfig;
  // The parts, built by #start; after a failed start some are missing, and stop() skips them.
  #keeper?: StateKeeper;
  #baselines: BaselineKeeper | null = null;
  #observatory?: Observatory;
  #alerts?: Alerting;
  /** The lockout guard in force (rebuilt with the decision policy on reload and `portwarden allow`). */
  #decide?: DecideStage;
  /** The table (capture rules, allow sets, bans), the ban book and the reconciler. */
  #enforcement?: Enforcement<IncidentHandle>;
  #capture?: LiveCapture;
  /** Every stage's counters, read by metrics, status and the counter log. */
  readonly #counters = new CounterRegistry();
  #counterLog?: CounterLog;
  #responder: Responder | null = null;
  /** The threat feeds' membership (the feeds stage plugs in here); none: no feed configured. */
  #feeds: FeedMembership | null = null;
  #inline: InlineController | null = null;
  /** Kernel rate limits, synproxy and unsolicited-answer drops (nftables only). */
  #floodGuard: FloodGuard | null = null;
  /** The CrowdSec decision stream for bouncers (lapi.listen); null: not serving. */
  #lapi: LapiServer | null = null;
  /** Threat feeds in their kernel sets (intel/feeds). */
  #feedStage?: FeedsStage;
  #handler?: ControlHandler;
  /** The fleet over NATS (fleet.servers set), or null. */
  #fleet: Fleet | null = null;
  #control?: ControlServer;
  /** The background comparison after a restart that kept the kernel's bans (stop waits for it). */
  #restoring: Promise<void> | null = null;
  readonly #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  #lock?: InstanceLock;
  /** User rules (rebuilt on reload) and the playbooks. */
  #rules: RuleEngine | null = null;
  #playbooks?: PlaybookRunner<IncidentHandle>;
  /** The decider in force (playbook bans go through it). */
  #decider?: Decider;

  private constructor(options: DaemonOptions) {
    this.#options = options;
    this.#running = new RunningConfig({ config: options.config, path: options.configPath, overrides: options.overrides, log: options.logger });
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
    const c = this.#running.current;
    const log = this.#log;
    // Before anything is touched: a second daemon on the same state or socket must change nothing of the first.
    this.#lock = InstanceLock.acquire([join(c.state.dir, 'portwarden.pid'), `${c.control.socketPath}.lock`]);
    const keeper = (this.#keeper = StateKeeper.open(c.state.dir, log));
    const observatory = (this.#observatory = new Observatory({ settings: c.observe, stateDir: c.state.dir, version: this.#options.version, log, source: this.#observeSource(), history: new StateHistory(c.state.dir, c.decide.escalation.scoreHalfLifeSeconds) }));
    // Outcomes go to the alert-delivery metric (suppressed ones are only counted in the channel's stats).
    this.#alerts = new Alerting(c.alerts, log, { onDelivery: (channel, outcome, n) => outcome !== 'suppressed' && observatory.metrics.alertDelivery(channel, outcome === 'delivered' ? 'sent' : outcome, n) });
    const deciding = (this.#decide = new DecideStage({
      ...{ offenders: keeper.store, net64, log, counters: this.#counters },
      remainingSeconds: (target, nowMs) => this.#enforcement?.book?.remainingSeconds(target, nowMs),
      refused: (e) => this.#alerts?.refused(e),
      adopt: (decider) => ((this.#decider = decider), this.#enforcement !== undefined && (this.#enforcement.decider = decider)),
    }));
    const decider = await deciding.build(c);
    // Rules before anything touches the kernel: a bad rule file stops the start with its file:line:column.
    const rules = (this.#rules = buildRuleEngine(c.rules, c.source));
    this.#counters.add(rules.counters);
    const kind = backendKind(c.enforce.backend, this.#options.dryRun);
    const capture = (this.#capture = new LiveCapture(c.capture));
    if (kind.answersScanners) this.#responder = new Responder({ settings: c.respond, captureGroup: c.capture.nflogGroup, guard: () => deciding.guard, log });
    const responder = this.#responder;
    if (kind.fastPath) this.#floodGuard = new FloodGuard({ settings: c.floodGuard, log });
    const floodGuard = this.#floodGuard;
    if (floodGuard !== null) this.#counters.add(floodGuard.counterGroup);
    const geo = GeoStage.open(c.geo, log);
    if (responder !== null) this.#counters.add(responder.counterGroup);
    // Feed sets need the nftables table and real enforcement (a dry run or iptables has none).
    const feedsInKernel = c.enforce.backend === 'nftables' && !kind.dryRun;
    const feeds = (this.#feedStage = new FeedsStage({
      ...{ settings: feedsInKernel ? c.feeds : [], stateDir: c.state.dir, table: 'portwarden', forward: c.enforce.forward, log },
      exclusionInput: () => hostExclusionInput(deciding.guard.snapshot(), this.#running.current.allowlist),
      onStale: (report) => this.#alerts?.publish(feedStaleAlert(report)),
    }));
    // Reputation, feed trust and lookup ask the feeds through their membership (none without a feed in the kernel).
    this.#feeds = feeds.feeds.length > 0 ? feeds.membership : null;
    if (c.fleet.servers.length > 0) this.#fleet = Fleet.open({ settings: c.fleet, stateDir: c.state.dir, book: () => this.#enforcement?.book, guard: () => deciding.guard, log });
    const fleet = this.#fleet;
    if (fleet !== null) this.#counters.add(fleet.counters);
    const enforcement = (this.#enforcement = new Enforcement<IncidentHandle>({
      kind,
      table: {
        ...c.enforce,
        interfaces: capture.interfaces,
        capture: capture.rules,
        respond: responder?.kernelRuleset(),
        guard: floodGuard?.kernelRuleset(),
        geo: geo.contribution(c.enforce.forward),
        extra: [feeds.contribution()].filter((x) => x !== undefined),
      },
      recorder: keeper,
      decider,
      listeners: [
        observatory,
        this.#alerts.listener,
        // Floods stop answers (their sources may be forged); a banned scanner is answered per respond.mode.
        ...(responder !== null ? [{ incident: (record: IncidentRecord, decision: Decision) => (responder.onIncident(record), responder.onDecision(decision)) }] : []),
        ...(floodGuard !== null ? [{ incident: (record: IncidentRecord) => floodGuard.onIncident(record) }] : []),
        ...(fleet !== null ? [fleet.listener] : []),
      ],
      guard: () => deciding.guard,
      allowlist: () => this.#running.current.allowlist,
      afterTableRestored: async () => {
        await capture.restoreKernelRules();
        await responder?.restore();
        await floodGuard?.restore();
        await geo.restore();
        await feeds.tableRestored();
      },
      log,
      flow: { rules: () => this.#rules, recorded: (record, decision, stored) => this.#playbooks?.onRecorded(record, decision, stored) },
    }));
    // A restart must not lift bans: the table keeps its ban sets, or they are read out and put back.
    const { book, allowSets, flow, tableStart } = await enforcement.start();
    if (tableStart.kept) this.#restoring = restoreKept(book, keeper, enforcement.table, log);
    else await restoreReplaced(book, keeper, tableStart.surviving, tableStart.present, log);
    // Feeds: the stored copies into the kernel now, fetches in the background (never blocks the start).
    if (!feedsInKernel && c.feeds.length > 0) log.warn({ 'event.action': 'feeds-off', 'enforce.backend': c.enforce.backend, 'dry.run': kind.dryRun }, 'threat feeds need the nftables backend without --dry-run; they are not loaded');
    await feeds.start();
    this.#counters.add(feeds.counterGroup);
    await geo.start(enforcement.table.nfTableName, c.enforce.forward, kind.dryRun);
    // detect → (intel's enrichment) → decide → enforce, connected once.
    const onIncident = enrichingListener({ geo: geo.database, feeds: this.#feeds }, flow.onIncident);
    const pipeline = new Pipeline(c.detection, onIncident, c.baseline, c.anomaly, { probes: rules.hasProbeRules ? (p, cls, port, now) => this.#rules?.onProbe(p, cls, port, now) : null });
    // A probe rule's overflow is an incident like detection's, decided by its rule's action.
    rules.onRuleIncident = (record) => onIncident({ toRecord: () => record });
    this.#playbooks = new PlaybookRunner<IncidentHandle>({
      settings: () => this.#running.current.playbooks,
      actions: daemonPlaybookActions({ book, decider: () => this.#decider ?? decider, alerts: this.#alerts, floodGuard, decide: deciding, running: this.#running, log }),
      log,
      annotate: (stored, record) => (keeper.annotateIncident(stored, record), keeper.persist()),
    });
    this.#counters.add(this.#playbooks.counters);
    const baselines = (this.#baselines = pipeline.baseline === null ? null : new BaselineKeeper(keeper.store, pipeline.baseline, log));
    baselines?.restore();
    // Feed trust sees detection's packets beside the engine (decide.feedTrust; needs the feeds).
    const trust = c.decide.feedTrust === null || this.#feeds === null ? null : new FeedTrust(c.decide.feedTrust, this.#feeds, onIncident);
    const onPacket = trust === null ? pipeline.onPacket : (p: Packet) => (trust.onPacket(p), pipeline.onPacket(p));
    const decoder = trust === null ? pipeline.decoder : new FrameDecoder('decode', onPacket);
    for (const group of [pipeline.counters, decoder.counters, enforcement.counters]) this.#counters.add(group);
    await capture.start(decoder, onPacket, this.#counters, (err) => log.error({ 'event.action': 'capture-error', error: err.message }, 'live capture failed'));
    if (capture.arpUnwatched !== null) log.warn({ 'event.action': 'capture-arp-unwatched', error: capture.arpUnwatched }, 'ARP is not watched (no arp table): ARP sweeps on the link go unseen');
    await this.#responder?.start();
    floodGuard?.start();
    this.#lapi = await serveDecisions(c.lapi, book, log);
    if (this.#lapi !== null) this.#counters.add(this.#lapi.counters);
    fleet?.start();
    // On-demand reputation services (enrich.*): asked only by `lookup`.
    const services = reputationServices(c.enrich, log);
    this.#handler = controlHandlers({
      ...{ book, allowSets, running: this.#running, version: this.#options.version, startedAt: this.#startedAt, log },
      guard: () => deciding.guard,
      watching: capture.watching,
      incidents: () => enforcement.incidents,
      counters: async () => {
        await this.#responder?.counters(); // refreshes the kernel's answer counts in the registry
        await this.#floodGuard?.counters();
        return this.#counters.values();
      },
      redecide: (config) => deciding.build(config),
      reload: () => this.reload(),
      lapi: () => this.#lapi?.status() ?? null,
      fleet: () => this.#fleet?.status() ?? null,
      lookup: lookupAddress({
        ...{ book, geo: geo.database, feeds: this.#feeds, offenders: keeper.store },
        guard: () => deciding.guard,
        geoSettings: () => geo.settings,
        halfLifeSeconds: () => this.#running.current.decide.escalation.scoreHalfLifeSeconds,
        ...(services.length === 0 ? {} : { enrich: (address: string) => enrichAll(services, address) }),
      }),
      feeds: { list: async () => (await feeds.reports()).map(feedView), update: async (name) => (await feeds.update(name)).map((u) => ({ name: u.name, outcome: u.outcome, feed: u.report === null ? null : feedView(u.report) })) },
    });
    this.#control = await ControlServer.listen(c.control.socketPath, this.#handler);
    await observatory.listen();
    this.#inline = new InlineController(log, book.active.addresses);
    this.#inline.start(c);
    this.#counters.add(this.#inline.counterGroup);
    this.#counterLog = new CounterLog(log, this.#counters, COUNTER_LOG_EVERY_MS);
    this.#counterLog.start();

    this.#every(c.enforce.commitEveryMs, () => void book.commit());
    // Detection runs on packet time; on a quiet host the wall clock moves it on, so silent probes time out.
    this.#every(CLOCK_EVERY_MS, () => pipeline.advance(Date.now()));
    if (baselines !== null) this.#every(c.baseline.saveEveryMs, () => baselines.save(Date.now()));
    this.#every(c.enforce.reconcileEveryMs, () => void enforcement.reconcile().then(() => observatory.reconciled()));
    this.#every(c.state.purgeEveryMs, () => keeper.purge(this.#running.current.state));
    logStarted(log, { watching: capture.watching, guard: deciding.guard.snapshot(), profile: c.profile, dryRun: kind.dryRun, backend: c.enforce.backend, config: c.source, stateDir: c.state.dir, socket: c.control.socketPath, nflogGroup: capture.rules !== undefined ? c.capture.nflogGroup : undefined });
  }

  /** Stops capture and the control socket; keeps kernel bans (they expire by themselves) unless flushOnExit. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#capture?.close();
    await this.#capture?.removeKernelRules().catch((err: unknown) => this.#log.warn({ 'event.action': 'capture-arp-remove-failed', error: err instanceof Error ? err.message : String(err) }, 'the arp table could not be removed'));
    this.#inline?.stop();
    await this.#responder?.stop();
    await this.#floodGuard?.stop();
    await this.#fleet?.stop();
    this.#counterLog?.stop();
    await this.#restoring;
    await this.#playbooks?.settle();
    await this.#keeper?.settle();
    await this.#feedStage?.close();
    this.#baselines?.save(Date.now(), true);
    await this.#enforcement?.stop();
    await this.#control?.close();
    await this.#lapi?.close();
    await this.#alerts?.close();
    await this.#observatory?.close();
    await this.#enforcement?.close(this.#options.flushOnExit);
    this.#keeper?.close();
    this.#lock?.release();
    this.#log.info({ 'event.action': 'stopped', 'flush.on.exit': this.#options.flushOnExit }, this.#options.flushOnExit ? 'portwarden stopped; table removed' : 'portwarden stopped; bans stay until they expire');
  }

  /**
   * Re-reads the config file. An invalid file is refused with its errors and the running config kept;
   * a valid one replaces decisions, allowlist, responses, alerts and inline mode without dropping bans.
   * Keys only a restart applies (running-config.ts RESTART_KEYS) keep their running values and are
   * named in the answer and the log. Every refusal is logged, whoever asked (SIGHUP or the socket).
   */
  async reload(): Promise<ResultOf['reload']> {
    try {
      return await this.#reload();
    } catch (err) {
      // An invalid file was logged by reread (reload-refused); anything else failing is logged here.
      if (!(err instanceof ConfigError)) this.#log.error({ 'event.action': 'reload-failed', error: err instanceof Error ? err.message : String(err) }, 'reload failed; the running config stays');
      throw err;
    }
  }

  async #reload(): Promise<ResultOf['reload']> {
    const reread = this.#running.reread();
    if (reread === null) {
      this.#inline?.reload(this.#running.current); // blocklist files are re-read even without a config file
      return { profile: this.#running.current.profile, changed: false, restartNeeded: [] };
    }
    const { next, changed, restartNeeded, path } = reread;
    if (changed) {
      // Rules first: a bad rule file refuses the reload before anything changed. New rules start with
      // empty buckets; probe rules added by a reload need a restart (the pipeline is built once).
      const rules = buildRuleEngine(next.rules, next.source);
      rules.onRuleIncident = this.#rules?.onRuleIncident ?? null;
      this.#rules = rules;
      await this.#decide?.build(next);
      await this.#enforcement?.allowSets?.apply(next.allowlist);
      await this.#responder?.reload(next.respond);
      this.#floodGuard?.reload(next.floodGuard);
      this.#alerts?.reload(next.alerts);
      this.#running.adopt(next);
      await this.#feedStage?.exclusionsChanged(); // the new allowlist is subtracted from every feed
    }
    this.#inline?.reload(next);
    logReloaded(this.#log, changed, restartNeeded, path);
    return { profile: next.profile, changed, restartNeeded };
  }

  /** What metrics, health and the dashboard read; getters, since most parts are built after the observatory. */
  #observeSource(): ObservatorySource {
    return {
      counters: this.#counters,
      captureRunning: () => this.#capture?.running ?? false,
      bans: () => this.#enforcement?.book?.active ?? new Map(),
      tablePresent: async () => (await this.#enforcement?.table.present()) ?? false,
      reconcileEveryMs: this.#running.current.enforce.reconcileEveryMs,
      control: () => this.#handler!,
      lapi: () => this.#lapi?.status() ?? null,
      fleet: () => this.#fleet?.status() ?? null,
    };
  }

  #every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.#timers.push(t);
  }
}
