/**
 * AbuseIPDB `GET /check` and VirusTotal `GET /ip_addresses/{ip}`, asked on demand (`portwarden lookup`),
 * each answer cached for `cacheSeconds`, and each service held to its free tier: at most `dailyLimit`
 * requests a UTC day and `perMinute` a minute. Past a limit the cached answer (if any) is shown and
 * the service says `limited`; a failed request (network, timeout, HTTP error, an answer of the wrong
 * shape) says `error` with why, and is not cached. Keys come from the environment only.
 */
import type { EnrichmentView } from '../../model/control.js';
import type { EventLogger } from '../../model/logger.js';
import { TokenBucket } from '../../net/rate-limit.js';
import type { EnrichSettings, ServiceSettings } from './settings.js';

type ServiceName = EnrichmentView['service'];
type Summary = NonNullable<EnrichmentView['summary']>;

/** Cached answers per service at most (oldest forgotten first). */
const MAX_CACHED = 10_000;

interface Api {
  request(base: string, address: string, key: string): { url: string; headers: Record<string, string> };
  /** The documented fields we show, or a problem text for an answer of another shape. */
  summary(body: unknown): Summary | string;
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function scalar(v: unknown): number | string | boolean | null {
  return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : null;
}

function abuseipdb(maxAgeInDays: number): Api {
  return {
    request: (base, address, key) => ({
      url: `${base.replace(/\/$/, '')}/check?ipAddress=${encodeURIComponent(address)}&maxAgeInDays=${maxAgeInDays}`,
      headers: { Key: key, Accept: 'application/json' },
    }),
    summary: (body) => {
      const data = obj(obj(body)?.data);
      if (data === null || typeof data.abuseConfidenceScore !== 'number') return 'the answer has no data.abuseConfidenceScore';
      return {
        abuseConfidenceScore: data.abuseConfidenceScore,
        totalReports: scalar(data.totalReports),
        numDistinctUsers: scalar(data.numDistinctUsers),
        lastReportedAt: scalar(data.lastReportedAt),
        countryCode: scalar(data.countryCode),
        isp: scalar(data.isp),
        usageType: scalar(data.usageType),
        isTor: scalar(data.isTor),
        isWhitelisted: scalar(data.isWhitelisted),
      };
    },
  };
}

const virustotal: Api = {
  request: (base, address, key) => ({ url: `${base.replace(/\/$/, '')}/ip_addresses/${encodeURIComponent(address)}`, headers: { 'x-apikey': key, Accept: 'application/json' } }),
  summary: (body) => {
    const attributes = obj(obj(obj(body)?.data)?.attributes);
    const stats = obj(attributes?.last_analysis_stats);
    if (attributes === null || stats === null) return 'the answer has no data.attributes.last_analysis_stats';
    return {
      malicious: scalar(stats.malicious),
      suspicious: scalar(stats.suspicious),
      harmless: scalar(stats.harmless),
      undetected: scalar(stats.undetected),
      reputation: scalar(attributes.reputation),
      asOwner: scalar(attributes.as_owner),
      country: scalar(attributes.country),
    };
  },
};

/** One service: its budget, its cache, its requests. */
export class ReputationService {
  readonly name: ServiceName;
  readonly #s: ServiceSettings;
  readonly #api: Api;
  readonly #env: NodeJS.ProcessEnv;
  readonly #now: () => number;
  readonly #cache = new Map<string, { atMs: number; summary: Summary }>();
  readonly #minute: TokenBucket;
  #day = '';
  #usedToday = 0;
  /** Requests sent (for tests and counters). */
  requests = 0;

  constructor(name: ServiceName, settings: ServiceSettings, api: Api, env: NodeJS.ProcessEnv, now: () => number) {
    this.name = name;
    this.#s = settings;
    this.#api = api;
    this.#env = env;
    this.#now = now;
    this.#minute = new TokenBucket(settings.perMinute / 60, settings.perMinute, now());
  }

  get keyMissing(): boolean {
    return (this.#env[this.#s.keyEnv] ?? '') === '';
  }

  async check(address: string): Promise<EnrichmentView> {
    const now = this.#now();
    const cached = this.#cache.get(address);
    if (cached !== undefined && now - cached.atMs < this.#s.cacheSeconds * 1000) return { service: this.name, status: 'ok', cached: true, fetchedAt: new Date(cached.atMs).toISOString(), summary: cached.summary };
    const key = this.#env[this.#s.keyEnv] ?? '';
    if (key === '') return { service: this.name, status: 'error', error: `no API key: ${this.#s.keyEnv} is not set in the daemon's environment` };
    if (!this.#spend(now)) {
      const stale = cached === undefined ? {} : { cached: true, fetchedAt: new Date(cached.atMs).toISOString(), summary: cached.summary };
      return { service: this.name, status: 'limited', error: `free-tier budget spent (${this.#s.dailyLimit} a day, ${this.#s.perMinute} a minute)`, ...stale };
    }
    const { url, headers } = this.#api.request(this.#s.baseUrl, address, key);
    this.requests++;
    let body: unknown;
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(this.#s.timeoutMs) });
      if (!res.ok) return { service: this.name, status: 'error', error: `HTTP ${res.status} ${res.statusText}`.trim() };
      body = await res.json();
    } catch (err) {
      return { service: this.name, status: 'error', error: err instanceof Error ? (err.name === 'TimeoutError' ? `no answer in ${this.#s.timeoutMs} ms` : err.message) : String(err) };
    }
    const summary = this.#api.summary(body);
    if (typeof summary === 'string') return { service: this.name, status: 'error', error: summary };
    if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(address, { atMs: now, summary });
    return { service: this.name, status: 'ok', cached: false, fetchedAt: new Date(now).toISOString(), summary };
  }

  /** Takes one request from the day's and the minute's budget, if both have one. */
  #spend(now: number): boolean {
    const day = new Date(now).toISOString().slice(0, 10);
    if (day !== this.#day) {
      this.#day = day;
      this.#usedToday = 0;
    }
    if (this.#usedToday >= this.#s.dailyLimit || !this.#minute.take(now)) return false;
    this.#usedToday++;
    return true;
  }
}

/** The enabled services, asked together for `lookup`; none enabled: null. */
export function reputationServices(s: EnrichSettings, log: EventLogger, env: NodeJS.ProcessEnv = process.env, now: () => number = Date.now): ReputationService[] {
  const out: ReputationService[] = [];
  if (s.abuseipdb.enabled) out.push(new ReputationService('abuseipdb', s.abuseipdb, abuseipdb(s.abuseipdb.maxAgeInDays), env, now));
  if (s.virustotal.enabled) out.push(new ReputationService('virustotal', s.virustotal, virustotal, env, now));
  for (const svc of out) {
    if (svc.keyMissing) log.warn({ 'event.action': 'enrich-no-key', service: svc.name }, `enrich.${svc.name} is enabled but its API key variable is not set; lookup will say so`);
  }
  return out;
}

export async function enrichAll(services: readonly ReputationService[], address: string): Promise<EnrichmentView[]> {
  return Promise.all(services.map((s) => s.check(address)));
}
