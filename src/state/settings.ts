/**
 * The state database's settings (the config's `state` section): where the daemon keeps what must
 * outlive it, and for how long. The same for every profile.
 */
import { z } from 'zod';
import { positiveInt, section, text, type SettingsSection } from '../model/settings-kit.js';

const DAY = 86_400;

export const stateSchema = section({
  dir: text,
  incidentRetentionSeconds: positiveInt,
  banRetentionSeconds: positiveInt,
  offenderRetentionSeconds: positiveInt,
  purgeEveryMs: positiveInt,
});

export type StateSettings = z.output<typeof stateSchema>;

export const STATE_DEFAULTS: Readonly<StateSettings> = Object.freeze({
  dir: '/var/lib/portwarden',
  incidentRetentionSeconds: 90 * DAY,
  banRetentionSeconds: 90 * DAY,
  offenderRetentionSeconds: 365 * DAY,
  purgeEveryMs: 3_600_000,
});

/** The config's `state` section. */
export const stateSettings: SettingsSection<StateSettings> = {
  schema: stateSchema,
  defaults: () => ({ ...STATE_DEFAULTS }),
};
