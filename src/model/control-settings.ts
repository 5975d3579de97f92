/**
 * The control socket's settings (the config's `control` section; the same for every profile). They live with the
 * control protocol on the ground floor: the CLI's client and the daemon's server both need where the socket is,
 * and config/, which assembles every section, sits below the control room.
 */
import { z } from 'zod';
import { DEFAULT_SOCKET_PATH } from './control.js';
import { section, text, type SettingsSection } from './settings-kit.js';

export const controlSchema = section({ socketPath: text });

export type ControlSettings = z.output<typeof controlSchema>;

/** The config's `control` section. */
export const controlSettings: SettingsSection<ControlSettings> = {
  schema: controlSchema,
  defaults: () => ({ socketPath: DEFAULT_SOCKET_PATH }),
};
