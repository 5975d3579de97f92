/**
 * The observe listener's settings (the config's `observe` section): /metrics, /health, the dashboard
 * and its API on one port. The listen address is checked with the splitter the observatory binds with
 * (listen-address.ts), so the config parser refuses what it would. The same for every profile.
 */
import { z } from 'zod';
import { describe, positiveInt, section, type SettingsSection } from '../model/settings-kit.js';
import { splitListen } from './listen-address.js';

/** host:port, the host an IP literal (IPv6 in brackets): `127.0.0.1:9717`, `[::1]:9717`. */
const listenAddress = z.string().refine((value) => splitListen(value) !== null, {
  error: (issue) => `must be host:port with an IP address (127.0.0.1:9717, [::1]:9717), or null for no listener, got ${describe(issue.input)}`,
});

export const observeSchema = section({
  listen: z.union([z.literal(null), listenAddress], { error: (issue) => `must be host:port or null, got ${describe(issue.input)}` }),
  /** Needed by the dashboard's actions (unban); null: generated into state.dir/dashboard.token (0600). */
  token: z.union([z.literal(null), z.string().min(16, { error: 'must be at least 16 characters' })], { error: (issue) => `must be a string of 16 characters or more, or null, got ${describe(issue.input)}` }),
  /** Incidents the dashboard keeps in memory (the newest). */
  recentIncidents: positiveInt,
  /** The dashboard's read endpoints (bans, incidents, an address's history) answer without the token. */
  publicRead: z.boolean({ error: (issue) => `must be true or false, got ${describe(issue.input)}` }),
});

export type ObserveSettings = z.output<typeof observeSchema>;

/** The config's `observe` section. */
export const observeSettings: SettingsSection<ObserveSettings> = {
  schema: observeSchema,
  defaults: () => ({ listen: '127.0.0.1:9717', token: null, recentIncidents: 1000, publicRead: false }),
};
