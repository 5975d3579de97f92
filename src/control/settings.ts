/** The control socket's settings (the config's `control` section). The same for every profile. */
import { z } from 'zod';
import { DEFAULT_SOCKET_PATH } from '../model/control.js';
import { section, text, type SettingsSection } from '../model/settings-kit.js';

export const controlSchema = section({ socketPath: text });

export type ControlSettings = z.output<typeof controlSchema>;

/** The config's `control` section. */
export const controlSettings: SettingsSection<ControlSettings> = {
  schema: controlSchema,
  defaults: () => ({ socketPath: DEFAULT_SOCKET_PATH }),
};
