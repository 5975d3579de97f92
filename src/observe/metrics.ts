import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DecodeEventDoc, type DecodeEventName } from '../decode/events.js';
import { DETECTION_COUNTER_NAMES } from '../detect/counters.js';
import type { LapiStatusView } from '../model/control.js';
import type { CounterRegistry } from '../model/counters.js';
import { GUARD_COUNTERS } from '../enforce/flood-guard-rules.js';
import type { FleetStatusView } from '../model/fleet.js';
import type { IncidentKind } from '../model/incident.js';
import { PROBE_CLASS_NAMES } from '../model/probe.js';

/**
 * Prometheus metrics of the live daemon. Metric names are a public vocabulary (dashboards and alert
 * rules depend on them), kept in one table with their help text; docs/reference.md lists it.
 *
 * Most series are read from the counter registry (src/model/counters.ts) when Prometheus scrapes
 * (pull): the packet path pays nothing for them, and status and the log line read the same counts.
 * Which registry name feeds which series is in `collect` below (`decode.frames` →
 * portwarden_packets_seen_total, …). Only what has no counter elsewhere is pushed: incidents, bans and unbans (a few
 * per incident), the decision-to-kernel latency histogram (per commit), alert deliveries (per message).
 */
export const METRICS = {
  portwarden_build_info: 'always 1; the version label names the running build',
  portwarden_packets_seen_total: 'frames handed to the decoder (what the kernel prefilter let through)',
  portwarden_packets_decoded_total: 'frames that decoded without a malformed event',
  portwarden_packets_malformed_total: 'frames that stopped at a malformed layer, by decoder event (reason)',
  portwarden_decoder_notices_total: 'decoder notices: noteworthy but still valid frames, by event',
  portwarden_detection_events_total: 'detection counters (docs/reference.md "Detection counters"), by counter name',
  portwarden_probes_total: 'probes seen, by probe class (repeats included)',
  portwarden_incidents_total: 'incidents detected, by kind',
  portwarden_bans_active: 'bans the daemon holds in the kernel now, by address family (ipv4, ipv6)',
  portwarden_bans_total: 'bans decided (detection) or requested (operator), by origin',
  portwarden_unbans_total: 'bans lifted by an operator (CLI, dashboard) or an allow',
  portwarden_decision_to_kernel_seconds: 'time from a ban or unban queued in the daemon to the end of the kernel transaction that applied it',
  portwarden_capture_received_total: 'packets the kernel logged to the daemon (NFLOG messages read)',
  portwarden_capture_drops_total: 'packets the kernel logged but could not queue to the daemon (receive buffer full)',
  portwarden_queue_verdicts_total: 'inline mode (NFQUEUE) verdicts, by verdict',
  portwarden_reconcile_repairs_total: 'drift the reconciler repaired (a deleted table, a ban missing from the kernel)',
  portwarden_reconcile_last_timestamp_seconds: 'Unix time the reconciler last finished comparing kernel and daemon (the daemon\'s start before its first round)',
  portwarden_alert_deliveries_total: 'alert messages by channel and outcome (sent, failed, dropped)',
  portwarden_flood_guard_dropped_total: 'packets the flood guard dropped in the kernel, by reason (its nft counters, as last read)',
  portwarden_flood_guard_transitions_total: 'flood guard turned on or off, by kind (synproxy, unsolicited) and action (engaged, released)',
  portwarden_flood_guard_engaged: 'flood guards engaged now (synproxy ports, unsolicited drops)',
  portwarden_lapi_decisions_served_total: 'CrowdSec decision stream: decisions served, by bouncer and kind (new, deleted)',
  portwarden_lapi_pulls_total: 'CrowdSec decision stream: stream pulls answered, by bouncer',
  portwarden_lapi_bouncers_seen: 'CrowdSec decision stream: configured bouncers that pulled since the daemon started',
  portwarden_lapi_last_pull_timestamp_seconds: 'CrowdSec decision stream: Unix time of each bouncer\'s last pull (bouncers seen since the start)',
  portwarden_lapi_refused_total: 'CrowdSec decision stream: requests refused for a missing or unknown X-Api-Key',
  portwarden_feed_entries: 'entries of each threat feed\'s copy in force, by feed',
  portwarden_feed_age_seconds: 'seconds since each threat feed was last fetched or confirmed, by feed (absent: never)',
  portwarden_feed_fetch_errors_total: 'failed fetches and refused copies of each threat feed, by feed',
  portwarden_feed_matches_total: 'packets from addresses each threat feed lists, counted by the kernel, by feed',
  portwarden_fleet_connected: '1 while the daemon is connected to its fleet\'s NATS, 0 while not (absent without a fleet)',
  portwarden_fleet_peer_bans_total: 'bans of each fleet host seen here, by host and outcome (applied, refused, capped)',
  portwarden_fleet_peer_last_seen_timestamp_seconds: 'Unix time a verified message of each fleet host last arrived, by host',
  portwarden_fleet_peer_lag_seconds: 'from a fleet host\'s decision to this host reading it, for its last message, by host',
  portwarden_fleet_dropped_total: 'fleet messages dropped (bad signature), by the host they claimed to come from',
} as const;

export type MetricName = keyof typeof METRICS;

/** Buckets for the decision-to-kernel latency: the design goal is a median under 5 ms, p99 under 25 ms. */
const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The flood guard's kernel drop counters (`floodGuard.kernel.<name>` in the registry), as metric reasons. */
const FLOOD_GUARD_DROP_REASONS = Object.keys(GUARD_COUNTERS)
  .filter((n) => n.endsWith('_dropped') || n.endsWith('_invalid'))
  .map((n) => n.replace(/^guard_/, ''));

const INCIDENT_KINDS: readonly IncidentKind[] = ['scan', 'sweep', 'distributed-scan', 'decoy-scan', 'flood', 'anomaly'];

const MALFORMED_EVENTS = (Object.keys(DecodeEventDoc) as DecodeEventName[]).filter((n) => DecodeEventDoc[n].startsWith('malformed:'));
const NOTICE_EVENTS = (Object.keys(DecodeEventDoc) as DecodeEventName[]).filter((n) => DecodeEventDoc[n].startsWith('notice:'));

/**
 * What the metrics read on a scrape. The registry is read each time (stages register and remove their
 * counters as they start and stop); `bans` and `lastReconcileMs` are getters for the same reason.
 */
export interface MetricsSource {
  version: string;
  /** Every counter: `decode.*` (detection's decoder), detection's, `probes.class.*`, `capture.*`, `reconcile.repairs`, `inline.*` … */
  counters: CounterRegistry;
  /** Active bans: target → wall-clock expiry (null: none). Expired entries are skipped, not trusted. */
  bans(): ReadonlyMap<string, { readonly expiresAtMs: number | null }>;
  lastReconcileMs(): number | null;
  /** The CrowdSec decision stream's bouncers; absent or null: not serving (its series stay empty). */
  lapi?(): LapiStatusView | null;
  /** The fleet as the daemon sees it; absent or null: no fleet. */
  fleet?(): FleetStatusView | null;
}

/** Inline mode's counters (src/inline/inline.ts InlineCounterDoc) as verdict counts. */
export function queueVerdicts(counters: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  if (counters['inline.accepted'] !== undefined) out.accept = counters['inline.accepted'];
  if (counters['inline.dropped'] !== undefined) out.drop = counters['inline.dropped'];
  return out;
}

/** Inline mode's verdict counts (verdict name → total so far); see registerQueueVerdicts. */
export type QueueVerdictProvider = () => Readonly<Record<string, number>>;

export type AlertOutcome = 'sent' | 'failed' | 'dropped';

/** What an alert channel reports after each delivery attempt. Cheap: one counter increment. */
export interface AlertDeliveryMetrics {
  alertDelivery(channel: string, outcome: AlertOutcome, messages?: number): void;
}

export class DaemonMetrics implements AlertDeliveryMetrics {
  readonly registry = new Registry();
  readonly #incidents: Counter<'kind'>;
  readonly #bans: Counter<'origin'>;
  readonly #unbans: Counter;
  readonly #latency: Histogram;
  readonly #alerts: Counter<'channel' | 'outcome'>;
  readonly #queueProviders: QueueVerdictProvider[] = [];

  constructor(source: MetricsSource, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const help = (name: MetricName) => ({ name, help: METRICS[name], registers });
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters: promtool (and Prometheus' naming rules) reject them; the same counts
      // are in nodejs_active_handles, nodejs_active_requests and nodejs_active_resources, by type.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    }

    new Gauge({ ...help('portwarden_build_info'), labelNames: ['version'] }).set({ version: source.version }, 1);

    // Pulled counters: reset and refilled from the daemon's totals on each scrape.
    const pulled = <L extends string>(name: MetricName, labelNames: readonly L[], fill: (set: (labels: Partial<Record<L, string>>, value: number) => void) => void) =>
      new Counter<L>({
        ...help(name),
        labelNames,
        collect(this: Counter<L>) {
          this.reset();
          fill((labels, value) => this.inc(labels, value));
        },
      });

    const counters = source.counters;
    pulled('portwarden_packets_seen_total', [], (set) => set({}, counters.value('decode.frames')));
    pulled('portwarden_packets_decoded_total', [], (set) => set({}, counters.value('decode.decoded')));
    pulled('portwarden_packets_malformed_total', ['reason'], (set) => {
      const values = counters.values();
      for (const name of MALFORMED_EVENTS) set({ reason: name }, values[`decode.${name}`] ?? 0);
    });
    pulled('portwarden_decoder_notices_total', ['event'], (set) => {
      const values = counters.values();
      for (const name of NOTICE_EVENTS) set({ event: name }, values[`decode.${name}`] ?? 0);
    });
    pulled('portwarden_detection_events_total', ['counter'], (set) => {
      const values = counters.values();
      for (const name of DETECTION_COUNTER_NAMES) set({ counter: name }, values[name] ?? 0);
    });
    pulled('portwarden_probes_total', ['class'], (set) => {
      const values = counters.values();
      for (const name of PROBE_CLASS_NAMES) set({ class: name }, values[`probes.class.${name}`] ?? 0);
    });
    pulled('portwarden_capture_received_total', [], (set) => set({}, counters.value('capture.received')));
    pulled('portwarden_capture_drops_total', [], (set) => set({}, counters.value('capture.lost')));
    pulled('portwarden_reconcile_repairs_total', [], (set) => set({}, counters.value('reconcile.repairs')));
    pulled('portwarden_flood_guard_dropped_total', ['reason'], (set) => {
      const values = counters.values();
      for (const reason of FLOOD_GUARD_DROP_REASONS) if (values[`floodGuard.kernel.${reason}`] !== undefined) set({ reason }, values[`floodGuard.kernel.${reason}`]);
    });
    pulled('portwarden_flood_guard_transitions_total', ['kind', 'action'], (set) => {
      const values = counters.values();
      for (const kind of ['synproxy', 'unsolicited']) for (const action of ['engaged', 'released']) if (values[`floodGuard.${kind}.${action}`] !== undefined) set({ kind, action }, values[`floodGuard.${kind}.${action}`]);
    });
    new Gauge({
      ...help('portwarden_flood_guard_engaged'),
      collect(this: Gauge) {
        this.set(counters.values()['floodGuard.engaged'] ?? 0);
      },
    });
    const providers = this.#queueProviders;
    pulled('portwarden_queue_verdicts_total', ['verdict'], (set) => {
      // Inline mode registered in the registry, or (older wiring) through registerQueueVerdicts.
      const values = counters.values();
      const fromRegistry: Record<string, number> = queueVerdicts(values);
      for (const [verdict, n] of Object.entries(fromRegistry)) set({ verdict }, n);
      for (const provide of providers) for (const [verdict, n] of Object.entries(provide())) set({ verdict }, n);
    });

    // Threat feeds (intel/feeds): the registry's feeds.<name>.<what> counters, one series per feed.
    const perFeed = (what: string, set: (labels: { feed: string }, value: number) => void) => {
      for (const [name, value] of Object.entries(counters.values())) {
        const m = /^feeds\.([a-z0-9-]+)\.(\w+)$/.exec(name);
        if (m !== null && m[2] === what && value >= 0) set({ feed: m[1] }, value);
      }
    };
    pulled('portwarden_feed_fetch_errors_total', ['feed'], (set) => perFeed('fetch_errors', set));
    pulled('portwarden_feed_matches_total', ['feed'], (set) => perFeed('matches', set));
    for (const [metric, what] of [['portwarden_feed_entries', 'entries'], ['portwarden_feed_age_seconds', 'age_seconds']] as const) {
      new Gauge<'feed'>({
        ...help(metric),
        labelNames: ['feed'],
        collect(this: Gauge<'feed'>) {
          this.reset();
          perFeed(what, (labels, value) => this.set(labels, value));
        },
      });
    }
    new Gauge<'family'>({
      ...help('portwarden_bans_active'),
      labelNames: ['family'],
      collect(this: Gauge<'family'>) {
        const now = Date.now();
        let v4 = 0;
        let v6 = 0;
        for (const [target, ban] of source.bans()) {
          if (ban.expiresAtMs !== null && ban.expiresAtMs <= now) continue;
          if (target.includes(':')) v6++;
          else v4++;
        }
        this.set({ family: 'ipv4' }, v4);
        this.set({ family: 'ipv6' }, v6);
      },
    });
    pulled('portwarden_lapi_refused_total', [], (set) => set({}, counters.value('lapi.refused')));
    const bouncers = () => source.lapi?.()?.bouncers ?? [];
    pulled('portwarden_lapi_decisions_served_total', ['bouncer', 'kind'], (set) => {
      for (const b of bouncers()) (set({ bouncer: b.name, kind: 'new' }, b.servedNew), set({ bouncer: b.name, kind: 'deleted' }, b.servedDeleted));
    });
    pulled('portwarden_lapi_pulls_total', ['bouncer'], (set) => {
      for (const b of bouncers()) set({ bouncer: b.name }, b.pulls);
    });
    new Gauge({
      ...help('portwarden_lapi_bouncers_seen'),
      collect(this: Gauge) {
        this.set(bouncers().filter((b) => b.lastPullAt !== null).length);
      },
    });
    new Gauge<'bouncer'>({
      ...help('portwarden_lapi_last_pull_timestamp_seconds'),
      labelNames: ['bouncer'],
      collect(this: Gauge<'bouncer'>) {
        this.reset();
        for (const b of bouncers()) if (b.lastPullAt !== null) this.set({ bouncer: b.name }, Date.parse(b.lastPullAt) / 1000);
      },
    });
    new Gauge({
      ...help('portwarden_reconcile_last_timestamp_seconds'),
      collect(this: Gauge) {
        const at = source.lastReconcileMs();
        if (at === null) this.reset();
        else this.set(at / 1000);
      },
    });

    const fleetGauge = <L extends string>(name: MetricName, labelNames: readonly L[], fill: (v: FleetStatusView, set: (labels: Partial<Record<L, string>>, value: number) => void) => void) =>
      new Gauge<L>({
        ...help(name),
        labelNames,
        collect(this: Gauge<L>) {
          this.reset();
          const v = source.fleet?.() ?? null;
          if (v !== null) fill(v, (labels, value) => this.set(labels, value));
        },
      });
    fleetGauge('portwarden_fleet_connected', [], (v, set) => set({}, v.state === 'connected' ? 1 : 0));
    // Counts, so counters (pulled like the registry's); the levels below are gauges.
    pulled('portwarden_fleet_peer_bans_total', ['host', 'outcome'], (set) => {
      for (const p of source.fleet?.()?.peers ?? []) for (const [outcome, n] of [['applied', p.bansApplied], ['refused', p.bansRefused], ['capped', p.bansCapped]] as const) set({ host: p.host, outcome }, n);
    });
    fleetGauge('portwarden_fleet_peer_last_seen_timestamp_seconds', ['host'], (v, set) => {
      for (const p of v.peers) if (p.lastSeen !== null) set({ host: p.host }, Date.parse(p.lastSeen) / 1000);
    });
    fleetGauge('portwarden_fleet_peer_lag_seconds', ['host'], (v, set) => {
      for (const p of v.peers) if (p.lagMs !== null) set({ host: p.host }, p.lagMs / 1000);
    });
    pulled('portwarden_fleet_dropped_total', ['host'], (set) => {
      for (const p of source.fleet?.()?.peers ?? []) set({ host: p.host }, p.dropped);
    });

    // Pushed: no counter elsewhere holds these.
    this.#incidents = new Counter({ ...help('portwarden_incidents_total'), labelNames: ['kind'] });
    for (const kind of INCIDENT_KINDS) this.#incidents.inc({ kind }, 0);
    this.#bans = new Counter({ ...help('portwarden_bans_total'), labelNames: ['origin'] });
    for (const origin of ['detection', 'operator']) this.#bans.inc({ origin }, 0);
    this.#unbans = new Counter(help('portwarden_unbans_total'));
    this.#latency = new Histogram({ ...help('portwarden_decision_to_kernel_seconds'), buckets: LATENCY_BUCKETS_SECONDS });
    this.#alerts = new Counter({ ...help('portwarden_alert_deliveries_total'), labelNames: ['channel', 'outcome'] });
  }

  incident(kind: IncidentKind): void {
    this.#incidents.inc({ kind });
  }

  ban(origin: string): void {
    this.#bans.inc({ origin });
  }

  unban(): void {
    this.#unbans.inc();
  }

  /** One observation per decision the commit applied, each from when it was queued (performance.now() ms). */
  committed(queuedAtMs: readonly number[], committedAtMs: number): void {
    for (const at of queuedAtMs) this.#latency.observe(Math.max(0, committedAtMs - at) / 1000);
  }

  alertDelivery(channel: string, outcome: AlertOutcome, messages = 1): void {
    this.#alerts.inc({ channel, outcome }, messages);
  }

  /**
   * Inline mode (NFQUEUE) verdict counters, for wiring that does not put inline mode's counters into
   * the registry (with them in the registry, do not call this: they would count twice). Read on each
   * scrape. Returns the function that removes the registration (when the queue closes).
   */
  registerQueueVerdicts(provider: QueueVerdictProvider): () => void {
    this.#queueProviders.push(provider);
    return () => {
      const i = this.#queueProviders.indexOf(provider);
      if (i >= 0) this.#queueProviders.splice(i, 1);
    };
  }

  /** The exposition text for a scrape. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
