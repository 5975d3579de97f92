/**
 * The rule engine: user rules over incidents (before decide) and over probes (beside detection).
 *
 * Incident rules run in order, and the first that matches rules the incident (a rule with a bucket
 * matches when its bucket overflows). Probe rules see every probe detection sees; their filters run on
 * the fast path (probe-filter.ts) when they can, indexed by the port they require, else in CEL; a match
 * pours into the rule's bucket, and an overflow becomes an incident of kind `rule` (class: the probe's
 * class, evidence.rule: the rule), which the incident flow then handles with that rule's action.
 *
 * Evaluation never throws into its caller: a filter that fails at run time (a missing map key) is a
 * non-match, counted in `rules.errors`. Time is the probes' and incidents' own (packet time).
 */
import type { CounterGroup } from '../model/counters.js';
import type { IncidentRecord } from '../model/incident.js';
import type { Packet } from '../model/packet.js';
import type { ProbeListener } from '../model/probe.js';
import type { IncidentRules, RuleRuling } from '../model/rule.js';
import { distinctValues, LeakyBuckets, type Bucket } from './bucket.js';
import { compileFilter, type CompiledFilter } from './cel.js';
import { incidentContext } from './fields.js';
import { compileProbePredicate, requiredPorts, type ProbePredicate } from './probe-filter.js';
import { ProbeView } from './probe-view.js';
import type { PlacedRule } from './rule-file.js';
import type { RuleLimits, RuleSpec } from './settings.js';

export interface CompiledRule {
  readonly spec: RuleSpec;
  readonly file: string;
  readonly line: number;
  readonly filter: CompiledFilter;
  /** Probe rules whose filter has a fast form. */
  readonly fast: ProbePredicate | null;
}

/** Per rule: how often its filter matched, its bucket overflowed (the rule fired), and its filter failed. */
export interface RuleStats {
  matches: number;
  fired: number;
  errors: number;
}

const RulesCounterDoc = {
  'rules.incident_matches': 'incidents an incident rule fired on (its filter matched, its bucket overflowed)',
  'rules.probe_matches': 'probes a probe rule filter matched',
  'rules.incidents': "incidents of kind 'rule' made by probe rules' buckets",
  'rules.errors': 'filter evaluations that failed at run time (counted as no match)',
  'rules.buckets_dropped': 'leaky buckets dropped because rules.limits.maxBuckets were alive',
} as const;

/** ISO text of a packet time in ms. */
function iso(ms: number): string {
  return new Date(Number.isFinite(ms) ? Math.floor(ms) : 0).toISOString();
}

export function compileRules(rules: readonly PlacedRule[], limits: RuleLimits): CompiledRule[] {
  return rules.map(({ spec, file, line }) => {
    const filter = compileFilter(spec.filter, spec.on, limits);
    return { spec, file, line, filter, fast: spec.on === 'probe' ? compileProbePredicate(filter.ast) : null };
  });
}

export type RuleIncidentListener = (record: IncidentRecord) => void;

export class RuleEngine implements IncidentRules {
  readonly rules: readonly CompiledRule[];
  readonly stats = new Map<string, RuleStats>();
  readonly #incidentRules: CompiledRule[];
  readonly #byName = new Map<string, CompiledRule>();
  /** Probe rules that need a given port, and those that take any. */
  readonly #probeByPort = new Map<number, CompiledRule[]>();
  readonly #probeAnyPort: CompiledRule[] = [];
  /** Each bucketed rule's buckets (limits.maxBuckets per rule). */
  readonly #buckets = new Map<string, LeakyBuckets>();
  readonly #view = new ProbeView();
  readonly #counts = { incidentMatches: 0, probeMatches: 0, incidents: 0, errors: 0 };
  /** Where rule-made incidents go (the pipeline's incident listener); null: only counted and kept. */
  onRuleIncident: RuleIncidentListener | null = null;
  /** Rule-made incidents so far (analyze and `rules test` list them; the daemon does not keep them). */
  readonly made: IncidentRecord[] = [];
  readonly #keepMade: boolean;

  constructor(rules: readonly CompiledRule[], limits: RuleLimits, options: { keepMade?: boolean } = {}) {
    this.rules = rules;
    this.#keepMade = options.keepMade ?? false;
    this.#incidentRules = rules.filter((r) => r.spec.on === 'incident');
    for (const r of rules) {
      this.#byName.set(r.spec.name, r);
      this.stats.set(r.spec.name, { matches: 0, fired: 0, errors: 0 });
      if (r.spec.capacity !== null) this.#buckets.set(r.spec.name, new LeakyBuckets(limits.maxBuckets));
      if (r.spec.on !== 'probe') continue;
      const ports = r.fast !== null ? requiredPorts(r.filter.ast) : null;
      if (ports === null) this.#probeAnyPort.push(r);
      else
        for (const p of new Set(ports)) {
          const list = this.#probeByPort.get(p) ?? [];
          list.push(r);
          this.#probeByPort.set(p, list);
        }
    }
  }

  get hasProbeRules(): boolean {
    return this.#probeAnyPort.length > 0 || this.#probeByPort.size > 0;
  }

  /** The ruling on an incident: its maker's, for a rule-made one; else the first incident rule that fires; null if none. */
  rule(record: IncidentRecord): RuleRuling | null {
    const maker = record.kind === 'rule' && typeof record.evidence.rule === 'string' ? this.#byName.get(record.evidence.rule) : undefined;
    if (maker !== undefined) return { rule: maker.spec.name, action: maker.spec.action };
    if (this.#incidentRules.length === 0) return null;
    const context = incidentContext(record);
    const nowMs = Date.parse(record.last_seen);
    for (const r of this.#incidentRules) if (this.#fires(r, context, nowMs)) return { rule: r.spec.name, action: r.spec.action };
    return null;
  }

  /** Every incident rule's verdict on `record` without a ruling stopping at the first (for `rules test`); buckets fill as in `rule`. */
  ruleAll(record: IncidentRecord): RuleRuling[] {
    const maker = record.kind === 'rule' && typeof record.evidence.rule === 'string' ? this.#byName.get(record.evidence.rule) : undefined;
    if (maker !== undefined) return [{ rule: maker.spec.name, action: maker.spec.action }];
    const context = incidentContext(record);
    const nowMs = Date.parse(record.last_seen);
    return this.#incidentRules.filter((r) => this.#fires(r, context, nowMs)).map((r) => ({ rule: r.spec.name, action: r.spec.action }));
  }

  #fires(r: CompiledRule, context: Record<string, unknown>, nowMs: number): boolean {
    const stats = this.stats.get(r.spec.name)!;
    let matched: boolean;
    try {
      matched = r.filter.evaluate(context);
    } catch {
      stats.errors++;
      this.#counts.errors++;
      return false;
    }
    if (!matched) return false;
    stats.matches++;
    const s = r.spec;
    if (s.capacity !== null) {
      const key = s.groupby.map((f) => String(context[f])).join('\u0000');
      const poured = this.#buckets.get(s.name)!.pour(key, s.capacity, s.leakSeconds * 1000, nowMs, s.distinct !== null ? String(context[s.distinct]) : null, null, s.blackholeSeconds * 1000);
      if (poured === null || !poured.overflowed) return false;
    }
    stats.fired++;
    this.#counts.incidentMatches++;
    return true;
  }

  /** Detection's probe listener: every probe through the probe rules. Bound once. */
  readonly onProbe: ProbeListener = (packet: Packet, cls: number, portKey: number, nowMs: number): void => {
    const v = this.#view;
    v.set(packet, cls, portKey, nowMs);
    const anyPort = this.#probeAnyPort;
    for (let i = 0; i < anyPort.length; i++) this.#probeRule(anyPort[i], v);
    if (this.#probeByPort.size === 0) return;
    const byPort = this.#probeByPort.get(v.port);
    if (byPort !== undefined) for (let i = 0; i < byPort.length; i++) this.#probeRule(byPort[i], v);
  };

  #probeRule(r: CompiledRule, v: ProbeView): void {
    let matched: boolean;
    if (r.fast !== null) matched = r.fast(v);
    else {
      try {
        matched = r.filter.evaluate(v.context());
      } catch {
        this.stats.get(r.spec.name)!.errors++;
        this.#counts.errors++;
        return;
      }
    }
    if (!matched) return;
    const stats = this.stats.get(r.spec.name)!;
    stats.matches++;
    this.#counts.probeMatches++;
    const s = r.spec;
    let bucket: Bucket | null = null;
    if (s.capacity !== null) {
      // No text on the packet path: a single field keys the bucket by its number (IPv4, port, class).
      const g = s.groupby;
      const key = g.length === 0 ? 0 : g.length === 1 ? v.key(g[0]) : g.map((f) => v.text(f)).join('\u0000');
      const poured = this.#buckets.get(s.name)!.pour(key, s.capacity, s.leakSeconds * 1000, v.nowMs, s.distinct !== null ? v.key(s.distinct) : null, g.includes('source') ? null : v.key('source'), s.blackholeSeconds * 1000);
      if (poured === null || !poured.overflowed) return;
      bucket = poured.bucket;
    }
    stats.fired++;
    this.#emit(this.#ruleIncident(r, v, bucket));
  }

  #emit(record: IncidentRecord): void {
    this.#counts.incidents++;
    if (this.#keepMade) this.made.push(record);
    this.onRuleIncident?.(record);
  }

  /** The incident a probe rule's overflow makes: the overflowing probe's facts, the bucket's counts. */
  #ruleIncident(r: CompiledRule, v: ProbeView, bucket: Bucket | null): IncidentRecord {
    const s = r.spec;
    const service = `${v.protocol}/${v.protocol === 'icmp' ? 'echo' : v.port}`;
    const distinct = bucket !== null && s.distinct !== null ? distinctValues(bucket).map((x) => ProbeView.formatKey(s.distinct!, x)) : [];
    const sources = bucket?.sources !== null && bucket?.sources !== undefined ? [...bucket.sources].map((x) => ProbeView.formatKey('source', x)) : [];
    const bySource = s.groupby.includes('source') || bucket === null;
    const record: IncidentRecord = {
      kind: 'rule',
      class: v.className as IncidentRecord['class'],
      probes: bucket?.poured ?? 1,
      first_seen: iso(bucket?.firstMs ?? v.nowMs),
      last_seen: iso(v.nowMs),
      confidence: 1,
      evidence: {
        rule: s.name,
        trigger: bucket === null ? `rule ${s.name}: a matching probe` : `rule ${s.name}: bucket over capacity ${s.capacity} (leakspeed ${s.leakSeconds}s${s.groupby.length > 0 ? `, by ${s.groupby.join(', ')}` : ''}${s.distinct !== null ? `, distinct ${s.distinct}` : ''})`,
        ...(s.distinct !== null ? { distinct: s.distinct, distinct_count: distinct.length } : {}),
      },
    };
    if (bySource) record['source.ip'] = v.source;
    else record.sources = sources;
    if (s.distinct !== 'destination') record['destination.ip'] = v.destination;
    else record.hosts = { count: distinct.length, sample: distinct.slice(0, 20) };
    if (s.distinct !== 'port') record['destination.port'] = service;
    else record.ports = { count: distinct.length, sample: distinct.slice(0, 20).map((p) => `${v.protocol}/${p}`) };
    return record;
  }

  /** The engine's counters for the registry (`rules.*`). */
  readonly counters: CounterGroup = {
    group: 'rules',
    forEach: (visit) => {
      const c = this.#counts;
      const values: Record<keyof typeof RulesCounterDoc, number> = {
        'rules.incident_matches': c.incidentMatches,
        'rules.probe_matches': c.probeMatches,
        'rules.incidents': c.incidents,
        'rules.errors': c.errors,
        'rules.buckets_dropped': [...this.#buckets.values()].reduce((n, b) => n + b.dropped, 0),
      };
      for (const [name, doc] of Object.entries(RulesCounterDoc)) visit(name, values[name as keyof typeof RulesCounterDoc], doc);
    },
  };
}
