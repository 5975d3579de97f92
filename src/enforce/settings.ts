/**
 * Enforcement's settings (the config's `enforce` section): backend, batching, repair, the kernel fast
 * path and the static drops. The same for every profile. `blockedNetworks` is parsed here with the
 * parser the backends use (net/target.ts), so a network they would refuse at start is refused by the
 * config parser first.
 */
import { z } from 'zod';
import { parseTarget } from '../net/target.js';
import { describe, listOf, onOff, oneOf, port, positiveInt, REQUIRED, section, type SettingsSection } from '../model/settings-kit.js';

const network = z.string({ error: (issue) => (issue.input === undefined ? REQUIRED : `must be an address or network, got ${describe(issue.input)}`) }).superRefine((value, ctx) => {
  const parsed = parseTarget(value);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', input: value, message: `${JSON.stringify(value)}: ${parsed.reason}` });
});

export const enforceSchema = section({
  backend: oneOf(['nftables', 'iptables', 'dry-run']),
  forward: onOff,
  commitEveryMs: positiveInt,
  reconcileEveryMs: positiveInt,
  /** The longest ban an operator may ask for with `ban --for` (`--permanent` is the way to ban without end). */
  maxOperatorBanSeconds: positiveInt,
  /** The kernel fast path (nft-ruleset.ts): peers the host answers with RST/unreachable too often. */
  fastPath: section({
    enabled: onOff,
    answersPerSecond: positiveInt,
    burst: positiveInt,
    banSeconds: positiveInt,
  }),
  blockedNetworks: listOf(network),
  blockedTcpPorts: listOf(port, 'a list of ports'),
  blockedUdpPorts: listOf(port, 'a list of ports'),
});

export type EnforceSettings = z.output<typeof enforceSchema>;

export const ENFORCE_DEFAULTS: Readonly<EnforceSettings> = Object.freeze({
  backend: 'nftables',
  forward: false,
  commitEveryMs: 5,
  reconcileEveryMs: 30_000,
  maxOperatorBanSeconds: 365 * 86_400,
  fastPath: { enabled: true, answersPerSecond: 5, burst: 5, banSeconds: 60 },
  blockedNetworks: [],
  blockedTcpPorts: [],
  blockedUdpPorts: [],
});

/** The config's `enforce` section. */
export const enforceSettings: SettingsSection<EnforceSettings> = {
  schema: enforceSchema,
  defaults: () => structuredClone(ENFORCE_DEFAULTS) as EnforceSettings,
};

