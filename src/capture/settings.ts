/**
 * Live capture's settings (the config's `capture` section): where and how the kernel hands packets to
 * detection. The same for every profile.
 */
import { z } from 'zod';
import { intRange, oneOf, positiveInt, section, stringList, type SettingsSection } from '../model/settings-kit.js';

export const captureSchema = section({
  /** nflog: the kernel logs what detection needs (default); pcap: libpcap on the interfaces (a mirror port). */
  method: oneOf(['nflog', 'pcap']),
  /** Interfaces to watch; empty: the default route's (every interface but loopback without one, nflog only). */
  interfaces: stringList,
  /** NFLOG groups are 16 bits (capture/nflog.ts refuses more). */
  nflogGroup: intRange(1, 65535),
  snaplenBytes: positiveInt,
});

export type CaptureSettings = z.output<typeof captureSchema>;

export const CAPTURE_DEFAULTS: Readonly<CaptureSettings> = Object.freeze({ method: 'nflog', interfaces: [], nflogGroup: 7311, snaplenBytes: 128 });

/** The config's `capture` section. */
export const captureSettings: SettingsSection<CaptureSettings> = {
  schema: captureSchema,
  defaults: () => structuredClone(CAPTURE_DEFAULTS) as CaptureSettings,
};
