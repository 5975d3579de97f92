/**
 * Inline mode's settings (the config's `inline` section): what is queued to the daemon for a verdict,
 * and how the queue fails open. The same for every profile.
 */
import { z } from 'zod';
import { alsoWhenInvalid, isRecord, type CrossFieldParams, intRange, listOf, onOff, oneOf, port, positiveInt, section, type SettingsSection } from '../model/settings-kit.js';

export interface InlineSettings {
  enabled: boolean;
  /** auto: nft's queue statement when the kernel has it, else iptables-nft. */
  backend: 'auto' | 'nft' | 'iptables';
  queue: number;
  queues: number;
  cpuFanout: boolean;
  dns: boolean;
  tcpPorts: readonly number[];
  forward: boolean;
  failOpen: boolean;
  maxlen: number;
  copyBytes: number;
  rcvbufBytes: number;
  watchdogMs: number;
}

export const inlineSchema = section({
  enabled: onOff,
  backend: oneOf(['auto', 'nft', 'iptables']),
  queue: intRange(0, 65535),
  queues: positiveInt,
  cpuFanout: onOff,
  dns: onOff,
  tcpPorts: listOf(port, 'a list of ports'),
  forward: onOff,
  failOpen: onOff,
  maxlen: positiveInt,
  copyBytes: intRange(128, 65535),
  rcvbufBytes: intRange(0),
  watchdogMs: intRange(0),
})
  .superRefine((s, ctx) => {
    // Queues queue … queue + queues − 1 must all be queue numbers (16 bits): the kernel refuses the rule otherwise.
    const { queue, queues } = s as { queue?: unknown; queues?: unknown };
    if (typeof queue === 'number' && typeof queues === 'number' && Number.isInteger(queue) && Number.isInteger(queues) && queues > 0 && queue + queues - 1 > 65535) {
      ctx.addIssue({ code: 'custom', path: ['queues'], input: queues, params: { alsoAt: ['queue'] } satisfies CrossFieldParams, message: `queues ${queues} from queue ${queue} reach queue ${queue + queues - 1}; the last queue number is 65535` });
    }
  }, alsoWhenInvalid(isRecord)) satisfies z.ZodType<InlineSettings>;

export const INLINE_DEFAULTS: Readonly<InlineSettings> = Object.freeze({
  enabled: false,
  backend: 'auto',
  queue: 7400,
  queues: 1,
  cpuFanout: true,
  dns: true,
  tcpPorts: [],
  forward: false,
  failOpen: true,
  maxlen: 4096,
  copyBytes: 4096,
  rcvbufBytes: 4_194_304,
  watchdogMs: 250,
});

/** The config's `inline` section. */
export const inlineSettings: SettingsSection<InlineSettings> = {
  schema: inlineSchema,
  defaults: () => ({ ...INLINE_DEFAULTS, tcpPorts: [] }),
};
