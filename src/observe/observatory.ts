import type { ControlHandler } from '../model/control.js';
import { canonical } from '../net/address-set.js';
import type { IncidentRecord } from '../model/incident.js';
import { PROBE_CLASS_NAMES } from '../model/probe.js';
import { PortwardenError } from '../errors.js';
import { readiness, type HealthSource, type Readiness } from './health.js';
import { ObserveHttpServer, type ObserveApi } from './http-server.js';
import { splitListen } from './listen-address.js';
import type { EventLogger } from '../model/logger.js';
import { DaemonMetrics, type MetricsSource } from './metrics.js';
import type { CounterRegistry } from '../model/counters.js';
import { RecentIncidents } from './recent-incidents.js';
import type { ObserveSettings } from './settings.js';
import { dashboardToken } from './token.js';

export type { ObserveSettings } from './settings.js';

/**
 * What the observatory reads from the daemon: getters, since the daemon builds its parts after it, and
 * the daemon's counter registry (every stage registers its counters there).
 */
export interface ObservatorySource extends Omit<MetricsSource, 'version' | 'lastReconcileMs' | 'counters'>, Omit<HealthSource, 'lastReconcileMs' | 'startedAtMs'> {
  counters: CounterRegistry;
  /** The daemon's control handler: the dashboard lists bans and unbans through it, like the CLI. */
  control(): ControlHandler;
}

export interface ObservatoryOptions {
  settings: ObserveSettings;
  stateDir: string;
  version: string;
  log: EventLogger;
  source: ObservatorySource;
}

type Listener = (event: string, data: unknown) => void;

/**
 * Observability beside the pipeline: Prometheus metrics, health, the recent incidents and the web
 * dashboard, on one HTTP listener. The daemon tells it what happens (incident, ban, unban, commit,
 * reconcile) through the methods below, each a few counter increments; everything else is read from the
 * daemon when someone asks. Nothing here can stop the daemon: a listener that cannot bind is logged
 * (PW_ERR_OBSERVE_LISTEN) and the daemon protects the host without it.
 */
export class Observatory {
  readonly metrics: DaemonMetrics;
  /** What metrics and the dashboard read: the daemon's registry. */
  readonly counters: CounterRegistry;
  readonly incidents: RecentIncidents;
  readonly #options: ObservatoryOptions;
  readonly #startedAtMs = Date.now();
  #lastReconcileMs: number | null = null;
  readonly #listeners = new Set<Listener>();
  #server: ObserveHttpServer | null = null;

  constructor(options: ObservatoryOptions) {
    this.#options = options;
    const { source } = options;
    this.counters = source.counters;
    this.metrics = new DaemonMetrics({ counters: this.counters, bans: () => source.bans(), version: options.version, lastReconcileMs: () => this.#lastReconcileMs ?? this.#startedAtMs });
    this.incidents = new RecentIncidents(options.settings.recentIncidents);
  }

  /** Binds the listener if one is configured; never throws (see the class comment). */
  async listen(): Promise<void> {
    const { settings, log, stateDir } = this.#options;
    if (settings.listen === null) return;
    const address = splitListen(settings.listen);
    if (address === null) throw new PortwardenError('PW_ERR_USAGE', `observe.listen ${settings.listen}: not host:port`);
    try {
      const { token, file } = dashboardToken(settings.token, stateDir);
      this.#server = await ObserveHttpServer.listen(address, this.#api(token));
      const url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${this.#server.address.port}`;
      log.info(
        { 'event.action': 'observe-listening', 'url.full': url, 'token.file': file ?? '(observe.token)' },
        `metrics at ${url}/metrics, health at ${url}/health/ready, dashboard at ${url}/ (actions need the token${file === null ? ' set in observe.token' : ` in ${file}`})`,
      );
    } catch (err) {
      const code = err instanceof PortwardenError ? err.code : 'PW_ERR_OBSERVE_LISTEN';
      log.error({ 'event.action': 'observe-listen-failed', code, error: err instanceof Error ? err.message : String(err) }, 'no metrics, health or dashboard: the observe listener failed; protection goes on');
    }
  }

  /** The bound port (0 without a listener): for tests that listen on port 0. */
  get port(): number {
    return this.#server?.address.port ?? 0;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#server?.close();
    this.#server = null;
  }

  incident(record: IncidentRecord, decision: { action: string; reason: string }): void {
    this.metrics.incident(record.kind);
    const entry = this.incidents.add(record, decision.action, decision.reason);
    if (this.#listeners.size > 0) this.#emit('incident', entry);
  }

  ban(target: string, seconds: number | null, origin: string): void {
    this.metrics.ban(origin);
    if (this.#listeners.size > 0) this.#emit('ban', { target, seconds, origin });
  }

  unban(target: string): void {
    this.metrics.unban();
    if (this.#listeners.size > 0) this.#emit('unban', { target });
  }

  /** A commit applied the decisions queued at these times (performance.now() ms). */
  committed(queuedAtMs: readonly number[], committedAtMs: number): void {
    if (queuedAtMs.length > 0) this.metrics.committed(queuedAtMs, committedAtMs);
  }

  /** The reconciler finished a round (whether it repaired anything or not). */
  reconciled(): void {
    this.#lastReconcileMs = Date.now();
  }

  readiness(): Promise<Readiness> {
    const s = this.#options.source;
    return readiness({
      captureRunning: () => s.captureRunning(),
      tablePresent: () => s.tablePresent(),
      lastReconcileMs: () => this.#lastReconcileMs,
      startedAtMs: this.#startedAtMs,
      reconcileEveryMs: s.reconcileEveryMs,
    });
  }

  #emit(event: string, data: unknown): void {
    for (const l of this.#listeners) l(event, data);
  }

  #api(token: string): ObserveApi {
    const source = this.#options.source;
    return {
      token,
      metrics: async () => ({ contentType: this.metrics.contentType, text: await this.metrics.text() }),
      readiness: () => this.readiness(),
      summary: async () => {
        const status = await source.control().status({ command: 'status' });
        const recent = this.incidents.breakdown();
        const probes: Record<string, number> = {};
        const values = this.counters.values();
        for (const name of PROBE_CLASS_NAMES) probes[name] = values[`probes.class.${name}`] ?? 0;
        return {
          version: status.version,
          startedAt: status.startedAt,
          profile: status.profile,
          backend: status.backend,
          dryRun: status.dryRun,
          bans: status.bans,
          incidents: status.incidents,
          counters: status.counters,
          probesByClass: probes,
          recentByKind: recent.kinds,
          recentByClass: recent.classes,
          perMinute: this.incidents.perMinute(60),
          topOffenders: this.incidents.topOffenders(10),
          health: await this.readiness(),
        };
      },
      incidents: (limit) => this.incidents.list(limit),
      bans: () => source.control().bans({ command: 'bans' }),
      unban: async (target) => {
        let canonicalTarget: string;
        try {
          canonicalTarget = canonical(target);
        } catch {
          throw new PortwardenError('PW_ERR_USAGE', `${target} is not an address or network`);
        }
        const r = await source.control().unban({ command: 'unban', target: canonicalTarget });
        this.#options.log.info({ 'event.action': 'dashboard-unban', 'source.ip': canonicalTarget, removed: r.removed }, `unban ${canonicalTarget} from the dashboard`);
        return r;
      },
      subscribe: (listener) => {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
      },
    };
  }
}
