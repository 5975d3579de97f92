/**
 * On-demand reputation services' settings (the config's `enrich` section): AbuseIPDB `check` and
 * VirusTotal `ip_addresses`, asked only when an operator runs `portwarden lookup` (never for an
 * incident, never on the packet path). Off by default. The API keys come from the environment
 * (`keyEnv` names the variable), never from the file. Defaults hold each service's free tier:
 * AbuseIPDB 1,000 checks a day; VirusTotal's public API 4 requests a minute and 500 a day.
 */
import { z } from 'zod';
import { describe, intRange, onOff, positiveInt, section, type SettingsSection } from '../../model/settings-kit.js';

export interface ServiceSettings {
  enabled: boolean;
  /** The API's base URL (a local server in tests). */
  baseUrl: string;
  /** The environment variable holding the API key. */
  keyEnv: string;
  /** Requests a UTC day at most (the free tier's). */
  dailyLimit: number;
  /** Requests a minute at most. */
  perMinute: number;
  /** How long an answer is reused. */
  cacheSeconds: number;
  timeoutMs: number;
}

export interface EnrichSettings {
  abuseipdb: ServiceSettings & { maxAgeInDays: number };
  virustotal: ServiceSettings;
}

const url = z.string({ error: (issue) => `must be an http(s) URL, got ${describe(issue.input)}` }).refine((v) => /^https?:\/\/[^\s]+$/.test(v), { error: (issue) => `must be an http(s) URL, got ${describe(issue.input)}` });
const envName = z.string({ error: (issue) => `must name an environment variable, got ${describe(issue.input)}` }).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: (issue) => `must name an environment variable (letters, digits, _), got ${describe(issue.input)}` });

const service = {
  enabled: onOff,
  baseUrl: url,
  keyEnv: envName,
  dailyLimit: positiveInt,
  perMinute: positiveInt,
  cacheSeconds: intRange(0, 30 * 86_400),
  timeoutMs: intRange(100, 60_000),
};

export const enrichSchema = section({
  abuseipdb: section({ ...service, maxAgeInDays: intRange(1, 365) }),
  virustotal: section(service),
});

export const ENRICH_DEFAULTS: Readonly<EnrichSettings> = Object.freeze({
  abuseipdb: Object.freeze({ enabled: false, baseUrl: 'https://api.abuseipdb.com/api/v2', keyEnv: 'ABUSEIPDB_KEY', dailyLimit: 1000, perMinute: 60, cacheSeconds: 86_400, timeoutMs: 5000, maxAgeInDays: 90 }),
  virustotal: Object.freeze({ enabled: false, baseUrl: 'https://www.virustotal.com/api/v3', keyEnv: 'VT_API_KEY', dailyLimit: 500, perMinute: 4, cacheSeconds: 86_400, timeoutMs: 5000 }),
});

/** The config's `enrich` section. */
export const enrichSettings: SettingsSection<EnrichSettings> = {
  schema: enrichSchema satisfies z.ZodType<EnrichSettings, unknown>,
  defaults: () => ({ abuseipdb: { ...ENRICH_DEFAULTS.abuseipdb }, virustotal: { ...ENRICH_DEFAULTS.virustotal } }),
};
