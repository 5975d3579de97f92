/**
 * DNS filtering's settings (the config's `dns` section): blocklists and what a blocked query gets. The
 * sinkhole addresses are parsed with the parser the filter uses (net/address.ts), so the config parser
 * refuses what inline mode would at start. The same for every profile.
 */
import { z } from 'zod';
import { parseAddressBytes } from '../net/address.js';
import { describe, intRange, onOff, oneOf, positiveInt, section, stringList, type SettingsSection } from '../model/settings-kit.js';

function address(version: 4 | 6) {
  return z.string({ error: (issue) => `must be an IPv${version} address, got ${describe(issue.input)}` }).refine((value) => parseAddressBytes(value)?.version === version, {
    error: (issue) => `must be an IPv${version} address, got ${describe(issue.input)}`,
  });
}

export const dnsSchema = section({
  blocklists: stringList,
  strictLists: onOff,
  action: oneOf(['drop', 'nxdomain', 'sinkhole']),
  sinkhole4: address(4),
  sinkhole6: address(6),
  answerTtlSeconds: intRange(0, 2_147_483_647),
  malformed: oneOf(['accept', 'drop']),
  logQueries: oneOf(['all', 'blocked', 'none']),
  answerMaxPerSecond: positiveInt,
  answerBurst: positiveInt,
  answerPerSourcePerSecond: positiveInt,
  answerPerSourceBurst: positiveInt,
  answerMaxSources: positiveInt,
});

export interface DnsSettings {
  blocklists: readonly string[];
  strictLists: boolean;
  action: 'drop' | 'nxdomain' | 'sinkhole';
  sinkhole4: string;
  sinkhole6: string;
  answerTtlSeconds: number;
  malformed: 'accept' | 'drop';
  logQueries: 'all' | 'blocked' | 'none';
  answerMaxPerSecond: number;
  answerBurst: number;
  answerPerSourcePerSecond: number;
  answerPerSourceBurst: number;
  answerMaxSources: number;
}

export const DNS_DEFAULTS: Readonly<DnsSettings> = Object.freeze({
  blocklists: [],
  strictLists: false,
  action: 'nxdomain',
  sinkhole4: '0.0.0.0',
  sinkhole6: '::',
  answerTtlSeconds: 60,
  malformed: 'accept',
  logQueries: 'all',
  answerMaxPerSecond: 200,
  answerBurst: 400,
  answerPerSourcePerSecond: 5,
  answerPerSourceBurst: 20,
  answerMaxSources: 65536,
});

/** The config's `dns` section. */
export const dnsSettings: SettingsSection<DnsSettings> = {
  schema: dnsSchema satisfies z.ZodType<DnsSettings>,
  defaults: () => ({ ...DNS_DEFAULTS, blocklists: [] }),
};
