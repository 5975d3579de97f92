/**
 * The configured allowlist as an AddressSet: addresses and networks as written, host names resolved
 * once at load (every A and AAAA record), each entry keeping the reason the config gave it. Names
 * are resolved at load, not per decision: a lookup per ban would put DNS on the ban path, and a
 * resolver an attacker can slow down would slow down bans. A name that does not resolve fails the
 * load (PW_ERR_DECIDE_INPUT naming it): starting with less allowed than the operator wrote risks the
 * lockout the allowlist exists to prevent.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { PortwardenError } from '../errors.js';
import { AddressSet } from '../net/address-set.js';
import { isAllowlistHostName } from './settings.js';

export interface AllowlistEntry {
  /** An address ('192.0.2.7'), a network ('198.51.100.0/24', '2001:db8::/48') or a host name ('bastion.example.com'). */
  value: string;
  /** Why it is allowed; shown in every refusal it causes. Default 'configured'. */
  reason?: string;
}

/** Resolves a host name to all its addresses. */
export type HostResolver = (host: string) => Promise<string[]>;

const defaultResolver: HostResolver = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);


export async function buildAllowlist(
  entries: readonly (string | AllowlistEntry)[],
  resolve: HostResolver = defaultResolver,
): Promise<AddressSet> {
  const set = new AddressSet();
  const names: { name: string; reason: string }[] = [];
  for (const entry of entries) {
    const { value, reason = 'configured' } = typeof entry === 'string' ? { value: entry } : entry;
    if (isAllowlistHostName(value)) {
      names.push({ name: value, reason });
      continue;
    }
    set.add(value, reason); // throws PW_ERR_DECIDE_INPUT quoting the entry
  }
  const resolved = await Promise.all(
    names.map(async ({ name, reason }) => {
      try {
        const addresses = await resolve(name);
        if (addresses.length === 0) throw new Error('no addresses');
        return { name, reason, addresses };
      } catch (err) {
        throw new PortwardenError('PW_ERR_DECIDE_INPUT', `allowlist host name ${JSON.stringify(name)} does not resolve: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }),
  );
  for (const { name, reason, addresses } of resolved) {
    for (const a of addresses) set.add(a.split('%')[0], `${reason} (${name})`); // a link-local answer's zone is no part of a ban set
  }
  return set;
}
