/**
 * What no feed may block, whatever it lists: subtracted from every feed before it reaches the kernel.
 * - ranges never a legitimate source to drop: this-network (0/8, DHCP clients), loopback, link-local
 *   (IPv6 neighbour discovery lives there), multicast, ::, ::1;
 * - a private range (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) as a whole when the host has an
 *   address in it: FireHOL level1 lists 10/8 and 192.168/16, and the host's own LAN must stay reachable;
 * - the host's connected subnets (its addresses with their prefix), whatever range they are in;
 * - what the lockout guard protects (own addresses, gateways, resolvers, SSH peers) and the allowlist.
 * The kernel's allow sets are matched before the feed sets as well; this keeps the sets honest (what
 * `portwarden feeds` counts is what the kernel would drop) and level1 from blocking the LAN.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { parseNetworkInto } from '../../net/address-set.js';
import { mergeV4, mergeV6, type RangeSet } from './ranges.js';

const ALWAYS = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '255.255.255.255', '::/128', '::1', 'fe80::/10', 'ff00::/8'];
const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'];

export interface ExclusionInput {
  /** The host's addresses with their prefix length ('10.77.0.2/24', 'fe80::1/64'), as os.networkInterfaces gives them. */
  interfaceCidrs: readonly string[];
  /** Protected addresses and networks (guard and allowlist), canonical. */
  protectedNetworks: readonly string[];
}

export interface Exclusions {
  ranges: RangeSet;
  /** Each excluded network with why, for the log and `portwarden feeds`. */
  reasons: { network: string; reason: string }[];
}

const W = new Uint32Array(4);

/** [start, end) of a network; host bits are masked (an interface's 10.77.0.2/24 is 10.77.0.0/24). Null when not an address. */
function span(text: string): { family: 4 | 6; start: bigint; end: bigint } | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const r = parseNetworkInto(address, W);
  if (typeof r === 'string') return null;
  const family = (r >> 8) as 4 | 6;
  const bits = family === 4 ? 32 : 128;
  const length = slash === -1 ? bits : Number(text.slice(slash + 1));
  if (!Number.isInteger(length) || length < 0 || length > bits) return null;
  const value = family === 4 ? BigInt(W[3]) : (BigInt(W[0]) << 96n) | (BigInt(W[1]) << 64n) | (BigInt(W[2]) << 32n) | BigInt(W[3]);
  const size = 1n << BigInt(bits - length);
  const start = value - (value % size);
  return { family, start, end: start + size };
}

export function buildExclusions(input: ExclusionInput): Exclusions {
  const reasons: { network: string; reason: string }[] = [];
  const s4: number[] = [];
  const e4: number[] = [];
  const s6: bigint[] = [];
  const e6: bigint[] = [];
  const add = (network: string, reason: string): void => {
    const s = span(network);
    if (s === null) return;
    reasons.push({ network, reason });
    if (s.family === 4) {
      s4.push(Number(s.start));
      e4.push(Number(s.end));
    } else {
      s6.push(s.start);
      e6.push(s.end);
    }
  };
  for (const n of ALWAYS) add(n, 'never a source to drop (reserved)');
  const own = input.interfaceCidrs.map((c) => ({ cidr: c, s: span(c) })).filter((o) => o.s !== null);
  for (const p of PRIVATE) {
    const block = span(p)!;
    const user = own.find((o) => o.s!.family === block.family && o.s!.start >= block.start && o.s!.start < block.end);
    if (user !== undefined) add(p, `private range the host uses (${user.cidr})`);
  }
  for (const o of own) add(o.cidr, 'connected subnet of the host');
  for (const n of input.protectedNetworks) add(n, 'protected (lockout guard or allowlist)');
  return { ranges: { v4: mergeV4(Float64Array.from(s4), Float64Array.from(e4), s4.length), v6: mergeV6(s6, e6) }, reasons };
}

/**
 * The exclusion input of a running host: its interfaces' addresses with their prefixes, and what the
 * lockout guard protects plus the allowlist's addresses and networks (host names are left to the
 * kernel's allow sets, which are matched first anyway).
 */
export function hostExclusionInput(
  guard: { ownAddresses: readonly string[]; gateways: readonly string[]; resolvers: readonly string[]; sshPeers: readonly string[] },
  allowlist: readonly (string | { readonly value: string })[],
  interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces,
): ExclusionInput {
  const cidrs = Object.values(interfaces()).flatMap((list) => (list ?? []).map((i) => i.cidr).filter((c): c is string => c !== null));
  const allowed = allowlist.map((e) => (typeof e === 'string' ? e : e.value)).filter((v) => span(v) !== null);
  return { interfaceCidrs: cidrs, protectedNetworks: [...guard.ownAddresses, ...guard.gateways, ...guard.resolvers, ...guard.sshPeers, ...allowed] };
}
