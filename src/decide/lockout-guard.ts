/**
 * The lockout guard: what portwarden must never ban, however guilty it looks, because banning it
 * cuts the host off (its own addresses, its gateways, its resolvers) or locks out the operator (the
 * peers of established SSH sessions), plus the configured allowlist. Spoofing any of these costs an
 * attacker nothing, so "never ban" must hold even for a perfect-looking scan.
 *
 * Discovery reads the kernel's own view (os.networkInterfaces(), /proc/net/route, /proc/net/ipv6_route,
 * /proc/net/tcp and tcp6) and /etc/resolv.conf. `refresh()` re-reads all of it (the daemon calls it
 * on an interval). SSH peers change fastest but cost most: reading /proc/net/tcp walks the kernel's
 * whole established-connection hash table (about 2 ms per read with 262,144 buckets, growing with
 * the machine's memory, not with the number of connections), so `protects()` re-reads them itself
 * only when it is about to let a ban through and its copy is older than `sshMaxAgeMs`: before any
 * ban the peers are at most that old, and an idle or refusing guard reads nothing.
 *
 * A file that cannot be read keeps its last known contents and is logged (fail safe: never forget
 * a protected address because a read failed); one never read protects nothing from it. A missing
 * file is logged on every refresh; the daemon may rate-limit its log.
 *
 * A target may be a network (a /64 or a widened /24): it is refused when it overlaps anything
 * protected, since banning the prefix bans the protected address inside it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { endianness, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { PortwardenError } from '../errors.js';
import { AddressSet, parseNetwork, type Network } from '../net/address-set.js';

export interface Protection {
  /** Why the target must not be banned: 'loopback', 'own address', 'default gateway', 'resolver', 'ssh peer', 'allowlist: <network> (<reason>)'. */
  reason: string;
  /** The protected address or network that the target is or overlaps. */
  network: string;
}

/** What the policy needs from a guard (tests may pass their own). */
export interface Guard {
  protects(target: string | Network): Protection | null;
}

export interface GuardEvent {
  'event.action': 'lockout-guard-read-failed' | 'lockout-guard-bad-entry';
  /** The file or source concerned. */
  file: string;
  message: string;
}

export interface LockoutGuardOptions {
  /** TCP ports whose established sessions' peers are protected. Default [22]. */
  sshPorts?: readonly number[];
  /** Default /etc/resolv.conf. */
  resolvConfPath?: string;
  /** Where route, ipv6_route, tcp and tcp6 are read from. Default /proc/net (tests point it at files they wrote). */
  procNetPath?: string;
  /** Default os.networkInterfaces. */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** Configured networks never to ban (built from config, see allowlist.ts). */
  allowlist?: AddressSet;
  /** Discovery problems (an unreadable file, a line that does not parse). Default: one JSON line on stderr. */
  log?: (event: GuardEvent) => void;
  /** Oldest copy of the SSH peers `protects()` trusts before it lets a ban through. Default 1000 ms. */
  sshMaxAgeMs?: number;
  /** Milliseconds now, for the age of the SSH peers (the kernel's sessions live on wall-clock time). Default Date.now. */
  clock?: () => number;
}

export const DEFAULT_SSH_MAX_AGE_MS = 1000;

export const DEFAULT_SSH_PORTS: readonly number[] = [22];

const LITTLE_ENDIAN = endianness() === 'LE';

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/**
 * The kernel prints an IPv4 address in /proc/net/{route,tcp} as the 32-bit value of the big-endian
 * address read as a host integer (%08X of a __be32): on a little-endian host "0100007F" is 127.0.0.1.
 */
export function decodeProcIPv4(hex: string): string {
  const v = parseInt(hex, 16) >>> 0;
  const n = LITTLE_ENDIAN ? swap32(v) : v;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * /proc/net/tcp6 prints the address as four such 32-bit host integers, so each word is byte-swapped
 * on a little-endian host ("0000000000000000FFFF00000100007F" is ::ffff:127.0.0.1). The result is
 * canonical text; a mapped address comes out as IPv4.
 */
export function decodeProcIPv6Words(hex: string): string {
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) {
    const v = parseInt(hex.slice(8 * i, 8 * i + 8), 16) >>> 0;
    const n = LITTLE_ENDIAN ? swap32(v) : v;
    groups.push((n >>> 16).toString(16), (n & 0xffff).toString(16));
  }
  return parseNetwork(groups.join(':')).text;
}

/** /proc/net/ipv6_route prints addresses as 32 hex digits in network order (%pi6). */
function decodeProcIPv6Plain(hex: string): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(hex.slice(4 * i, 4 * i + 4));
  return parseNetwork(groups.join(':')).text;
}

/** Default gateways in /proc/net/route (destination 0.0.0.0/0 with a gateway). */
export function parseRouteV4(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 8) continue;
    const [, destination, gateway, , , , , mask] = f;
    if (destination === '00000000' && mask === '00000000' && gateway !== '00000000') out.push(decodeProcIPv4(gateway));
  }
  return out;
}

/** Default gateways in /proc/net/ipv6_route (destination ::/0 with a next hop). */
export function parseRouteV6(text: string): string[] {
  const out: string[] = [];
  const zero = '0'.repeat(32);
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [destination, length, , , nextHop] = f;
    if (destination === zero && length === '00' && nextHop !== zero) out.push(decodeProcIPv6Plain(nextHop));
  }
  return out;
}

/** Remote addresses of ESTABLISHED (state 01) sessions on one of `ports` locally, from /proc/net/tcp or tcp6. */
export function parseTcpPeers(text: string, ports: ReadonlySet<number>, v6: boolean): string[] {
  const out: string[] = [];
  let start = text.indexOf('\n') + 1; // the header
  while (start > 0 && start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const f = line.trim().split(/\s+/, 4);
    if (f.length < 4 || f[3] !== '01') continue;
    const [local, remote] = [f[1], f[2]];
    const colon = local.indexOf(':');
    if (!ports.has(parseInt(local.slice(colon + 1), 16))) continue;
    const address = remote.slice(0, remote.indexOf(':'));
    out.push(v6 ? decodeProcIPv6Words(address) : decodeProcIPv4(address));
  }
  return out;
}

/** Nameserver addresses in a resolv.conf (a zone index on a link-local resolver is dropped). */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m === null) continue;
    const zone = m[1].indexOf('%');
    out.push(zone === -1 ? m[1] : m[1].slice(0, zone));
  }
  return out;
}

const LOOPBACK = ['127.0.0.0/8', '::1'];
const UNSPECIFIED = ['0.0.0.0', '::'];

function stderrLog(event: GuardEvent): void {
  process.stderr.write(`${JSON.stringify({ 'event.kind': 'event', 'event.module': 'decide', ...event })}\n`);
}

/** What the guard protects now, for status output and tests. */
export interface GuardSnapshot {
  ownAddresses: string[];
  gateways: string[];
  resolvers: string[];
  sshPeers: string[];
  allowlist: number;
}

export class LockoutGuard implements Guard {
  readonly #sshPorts: ReadonlySet<number>;
  readonly #resolvConf: string;
  readonly #procNet: string;
  readonly #interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  readonly #allowlist: AddressSet;
  readonly #log: (event: GuardEvent) => void;
  readonly #sshMaxAgeMs: number;
  readonly #clock: () => number;

  readonly #fixed = new AddressSet();
  #own: string[] = [];
  #gateways: string[] = [];
  #resolvers: string[] = [];
  #sshPeers: string[] = [];
  /** One set per kind, checked in order of importance: a prefix overlapping several names the first. */
  #ownSet = new AddressSet();
  #gatewaySet = new AddressSet();
  #resolverSet = new AddressSet();
  #ssh = new AddressSet();
  /** What each file gave when it was last read and parsed. */
  readonly #lastRead = new Map<string, string[]>();
  #sshReadAtMs = -Infinity;
  #sshReads = 0;

  private constructor(opts: LockoutGuardOptions) {
    const ports = opts.sshPorts ?? DEFAULT_SSH_PORTS;
    for (const p of ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new PortwardenError('PW_ERR_DECIDE_INPUT', `ssh port ${p} is not a TCP port (1–65535)`);
    }
    this.#sshPorts = new Set(ports);
    this.#resolvConf = opts.resolvConfPath ?? '/etc/resolv.conf';
    this.#procNet = opts.procNetPath ?? '/proc/net';
    this.#interfaces = opts.interfaces ?? networkInterfaces;
    this.#allowlist = opts.allowlist ?? new AddressSet();
    this.#log = opts.log ?? stderrLog;
    this.#sshMaxAgeMs = opts.sshMaxAgeMs ?? DEFAULT_SSH_MAX_AGE_MS;
    this.#clock = opts.clock ?? Date.now;
    for (const n of LOOPBACK) this.#fixed.add(n, 'loopback');
    for (const n of UNSPECIFIED) this.#fixed.add(n, 'unspecified address');
  }

  /** Reads everything once; call `refresh()` later to follow changes (SSH sessions come and go). */
  static discover(opts: LockoutGuardOptions = {}): LockoutGuard {
    const guard = new LockoutGuard(opts);
    guard.refresh();
    return guard;
  }

  /**
   * Re-reads own addresses, default gateways, resolvers and SSH peers. The allowlist is the
   * caller's (it changes with the config, not with the network).
   */
  refresh(): void {
    this.#own = this.#readOwn() ?? this.#own;
    this.#gateways = [...this.#source(join(this.#procNet, 'route'), parseRouteV4), ...this.#source(join(this.#procNet, 'ipv6_route'), parseRouteV6)];
    this.#resolvers = this.#source(this.#resolvConf, parseResolvConf);
    this.#ownSet = this.#setOf(this.#own, 'own address', 'interfaces');
    this.#gatewaySet = this.#setOf(this.#gateways, 'default gateway', 'route');
    this.#resolverSet = this.#setOf(this.#resolvers, 'resolver', this.#resolvConf);
    this.refreshSshPeers();
  }

  /** Re-reads the peers of established SSH sessions only. */
  refreshSshPeers(): void {
    this.#sshPeers = [
      ...this.#source(join(this.#procNet, 'tcp'), (t) => parseTcpPeers(t, this.#sshPorts, false)),
      ...this.#source(join(this.#procNet, 'tcp6'), (t) => parseTcpPeers(t, this.#sshPorts, true)),
    ];
    this.#ssh = this.#setOf(this.#sshPeers, 'ssh peer', 'tcp');
    this.#sshReadAtMs = this.#clock();
    this.#sshReads++;
  }

  /**
   * Why `target` (an address or network) must not be banned, or null when it may be. Loopback and
   * unspecified first, then own addresses, default gateways, resolvers, SSH peers (re-read first
   * when older than `sshMaxAgeMs`), the allowlist. Throws PW_ERR_DECIDE_INPUT when the target is not
   * an address or network.
   */
  protects(target: string | Network): Protection | null {
    const net = typeof target === 'string' ? parseNetwork(target) : target;
    const found =
      this.#fixed.overlapping(net) ??
      this.#ownSet.overlapping(net) ??
      this.#gatewaySet.overlapping(net) ??
      this.#resolverSet.overlapping(net) ??
      this.#ssh.overlapping(net);
    if (found !== null) return { reason: found.reason, network: found.network };
    const allowed = this.#allowlist.overlapping(net);
    if (allowed !== null) return { reason: `allowlist: ${allowed.network} (${allowed.reason})`, network: allowed.network };
    if (this.#clock() - this.#sshReadAtMs > this.#sshMaxAgeMs) {
      this.refreshSshPeers();
      const peer = this.#ssh.overlapping(net);
      if (peer !== null) return { reason: peer.reason, network: peer.network };
    }
    return null;
  }

  /** Times the SSH peers were read (a counter for metrics and tests). */
  get sshReads(): number {
    return this.#sshReads;
  }

  snapshot(): GuardSnapshot {
    return {
      ownAddresses: [...this.#own],
      gateways: [...this.#gateways],
      resolvers: [...this.#resolvers],
      sshPeers: [...this.#sshPeers],
      allowlist: this.#allowlist.size,
    };
  }

  #readOwn(): string[] | null {
    let table: NodeJS.Dict<NetworkInterfaceInfo[]>;
    try {
      table = this.#interfaces();
    } catch (err) {
      this.#log({ 'event.action': 'lockout-guard-read-failed', file: 'interfaces', message: String(err) });
      return null;
    }
    const out: string[] = [];
    for (const list of Object.values(table)) for (const info of list ?? []) out.push(info.address);
    return out;
  }

  /** A file's addresses; when it cannot be read or parsed, what it gave last time (never forget a protected address). */
  #source(path: string, parse: (text: string) => string[]): string[] {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      this.#log({ 'event.action': 'lockout-guard-read-failed', file: path, message: (err as Error).message });
      return this.#lastRead.get(path) ?? [];
    }
    try {
      const addresses = parse(text);
      this.#lastRead.set(path, addresses);
      return addresses;
    } catch (err) {
      this.#log({ 'event.action': 'lockout-guard-bad-entry', file: path, message: (err as Error).message });
      return this.#lastRead.get(path) ?? [];
    }
  }

  #setOf(addresses: readonly string[], reason: string, file: string): AddressSet {
    const set = new AddressSet();
    for (const a of addresses) {
      try {
        set.add(a, reason);
      } catch (err) {
        this.#log({ 'event.action': 'lockout-guard-bad-entry', file, message: (err as Error).message });
      }
    }
    return set;
  }
}
