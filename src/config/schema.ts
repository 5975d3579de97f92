/**
 * The config file's schema, assembled from the sections the stages own: each stage keeps its schema,
 * defaults and per-profile values in its own settings.ts (detect/settings.ts, decide/settings.ts, …).
 * A new section is one more entry in SECTIONS; the document's schema, its defaults (load.ts) and the
 * messages that list the sections all follow from that list.
 *
 * The schemas validate a COMPLETE document (the profile's defaults with the file laid over them, see
 * load.ts), so cross-field rules always see both sides. Every object is strict: an unknown key is an
 * error, never silently ignored.
 */
import { z } from 'zod';
import { PROFILE_NAMES, type ProfileName } from '../model/profile.js';
import { describe, isRecord, type CrossFieldParams, type SettingsSection } from '../model/settings-kit.js';
import { detectionSettings } from '../detect/settings.js';
import { captureSettings } from '../capture/settings.js';
import { enforceSettings } from '../enforce/settings.js';
import { allowlistSettings, decideSettings } from '../decide/settings.js';
import { controlSettings } from '../model/control-settings.js';
import { stateSettings } from '../state/settings.js';
import { observeSettings } from '../observe/settings.js';
import { alertSettings } from '../alert/settings.js';
import { respondGroupConflict, respondSettings } from '../respond/settings.js';
import { inlineSettings } from '../inline/settings.js';
import { dnsSettings } from '../dns/settings.js';
import { floodGuardSettings } from '../enforce/flood-guard-settings.js';
import { lapiSettings } from '../lapi/settings.js';
import { geoSettings } from '../intel/geo-settings.js';
import { enrichSettings } from '../intel/enrich/settings.js';
import { feedsSettings } from '../intel/settings.js';
import { baselineSettings } from '../detect/baseline/settings.js';
import { anomalySettings } from '../detect/anomaly/settings.js';
import { rulesSettings } from '../rules/settings.js';
import { playbookSettings } from '../playbook/settings.js';
import { fleetSettings } from '../fleet/settings.js';

export { isCrossFieldParams, type CrossFieldParams } from '../model/settings-kit.js';

/** Every section of the document, in the order an operator meets them (the example file's). */
export const SECTIONS = {
  detection: detectionSettings,
  capture: captureSettings,
  enforce: enforceSettings,
  decide: decideSettings,
  allowlist: allowlistSettings,
  control: controlSettings,
  state: stateSettings,
  observe: observeSettings,
  alerts: alertSettings,
  respond: respondSettings,
  inline: inlineSettings,
  dns: dnsSettings,
  floodGuard: floodGuardSettings,
  lapi: lapiSettings,
  geo: geoSettings,
  enrich: enrichSettings,
  feeds: feedsSettings,
  baseline: baselineSettings,
  anomaly: anomalySettings,
  rules: rulesSettings,
  playbooks: playbookSettings,
  fleet: fleetSettings,
} as const;

export type SectionName = keyof typeof SECTIONS;
type SettingsOf<T> = T extends SettingsSection<infer S> ? S : never;
/** Each section's settings, as the stage that owns it defines them. */
export type Sections = { [K in SectionName]: SettingsOf<(typeof SECTIONS)[K]> };

/** The top-level keys of a config file: `profile`, then every section. */
export const TOP_LEVEL_KEYS: readonly string[] = ['profile', ...Object.keys(SECTIONS)];

export function isProfileName(value: unknown): value is ProfileName {
  return typeof value === 'string' && (PROFILE_NAMES as readonly string[]).includes(value);
}

export const profileSchema = z.enum(PROFILE_NAMES, {
  error: (issue) => `must be one of ${PROFILE_NAMES.join(', ')}, got ${issue.input === undefined ? 'nothing' : describe(issue.input)}`,
});

const sectionSchemas = Object.fromEntries(Object.entries(SECTIONS).map(([name, s]) => [name, s.schema])) as { [K in SectionName]: (typeof SECTIONS)[K]['schema'] };

/** The whole config document: `profile` and every section, and the rules between sections. */
export const configSchema = z
  .strictObject(
    { profile: profileSchema, ...sectionSchemas },
    {
      error: (issue) => (issue.code === 'invalid_type' ? `the config file must be a mapping of sections (${TOP_LEVEL_KEYS.join(', ')}), got ${describe(issue.input)}` : undefined),
    },
  )
  .superRefine((doc, ctx) => {
    // Read defensively: runs even when a section has problems of its own.
    const geoConflict = geoBackendConflict(doc.geo as unknown, doc.enforce as unknown);
    if (geoConflict !== null) {
      ctx.addIssue({ code: 'custom', path: ['geo', geoConflict.key], input: geoConflict.value, params: { alsoAt: ['enforce.backend'], fromRoot: true } satisfies CrossFieldParams, message: geoConflict.message });
    }
    const respond: unknown = doc.respond;
    const capture: unknown = doc.capture;
    if (!isRecord(respond) || !isRecord(capture)) return;
    const r = respond as { mode?: unknown; nflogGroup?: unknown };
    const group = (capture as { nflogGroup?: unknown }).nflogGroup;
    if (typeof r.nflogGroup !== 'number' || typeof group !== 'number' || typeof r.mode !== 'string') return;
    const conflict = respondGroupConflict({ mode: r.mode as Sections['respond']['mode'], nflogGroup: r.nflogGroup }, group);
    if (conflict !== null) {
      ctx.addIssue({ code: 'custom', path: ['respond', 'nflogGroup'], input: r.nflogGroup, params: { alsoAt: ['capture.nflogGroup', 'respond.mode'], fromRoot: true } satisfies CrossFieldParams, message: conflict });
    }
  }, { when: (payload) => isRecord(payload.value) });

/** Country rules are interval sets in the nftables table: the iptables backend cannot carry them (start refuses it too). */
function geoBackendConflict(geoValue: unknown, enforceValue: unknown): { key: 'block' | 'allowOnly'; value: unknown; message: string } | null {
  if (!isRecord(geoValue) || !isRecord(enforceValue)) return null;
  const geo = geoValue as { block?: unknown; allowOnly?: unknown };
  if ((enforceValue as { backend?: unknown }).backend !== 'iptables') return null;
  const key = Array.isArray(geo.block) && geo.block.length > 0 ? 'block' : isRecord(geo.allowOnly) ? 'allowOnly' : null;
  if (key === null) return null;
  return { key, value: geo[key], message: 'geo.block and geo.allowOnly need enforce.backend nftables (interval sets of country networks); the iptables backend cannot carry them' };
}

export type ConfigDocument = { profile: ProfileName } & Sections;

/** The complete document before any file: the profile's values of every section, fresh copies. */
export function baseDocument(profile: ProfileName): ConfigDocument {
  const sections = Object.fromEntries(Object.entries(SECTIONS).map(([name, s]) => [name, (s as SettingsSection<unknown>).defaults(profile)])) as Sections;
  return { profile, ...sections };
}
