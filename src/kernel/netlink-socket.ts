import { PortwardenError } from '../errors.js';
import { loadAddon } from './addon.js';

/**
 * A raw netlink socket through our own addon (native/netlink): NFLOG capture and the nf_tables
 * enforcement path both speak netlink through it, and build and parse their messages themselves.
 *
 * Why our own addon and not the npm package `netlink` (0.3.0): that one aborted the process when a
 * receive buffer overflowed (ENOBUFS reached its poll handler as an error status and became a C++
 * exception), offered no setsockopt (so NETLINK_NO_ENOBUFS needed a perl child holding the fd), and
 * peeked every message's size with an extra recvmsg. Ours reads up to `maxPerWakeup` datagrams per
 * wakeup with recvmmsg into fixed buffers, calls JavaScript once per wakeup with all of them, and
 * reports an overflow as a count.
 *
 * Errors thrown by the socket's methods carry `code` PW_ERR_NETLINK and, when a system call failed,
 * `errno` (compare with os.constants.errno) and `syscall`; the message names the errno (EPERM, ...).
 */

/** Protocols (linux/netlink.h). */
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

/** Socket option levels and names (asm-generic/socket.h, linux/netlink.h); the test checks them against the addon's. */
export const SOL_SOCKET = 1;
export const SOL_NETLINK = 270;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_DROP_MEMBERSHIP = 2;
export const NETLINK_BROADCAST_ERROR = 4;
export const NETLINK_NO_ENOBUFS = 5;
export const NETLINK_LISTEN_ALL_NSID = 8;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

/**
 * Called once per wakeup on the event loop. `data`: the datagrams read, back to back, each padded
 * to 4 bytes (walk it as one stream of netlink messages), or undefined when only a count changed;
 * a fresh Buffer the callee may keep. `enobufs`: overflows reported by the kernel since the last
 * call (messages were dropped; only without NETLINK_NO_ENOBUFS). `truncated`: datagrams larger than
 * `recvBytes`, dropped. `errno`: another receive error (0 = none); the socket stays open.
 */
export type NetlinkBatchHandler = (data: Buffer | undefined, datagrams: number, enobufs: number, truncated: number, errno: number) => void;

export interface NetlinkSocketOptions {
  /** Receive buffer per datagram (256 B – 16 MiB); default 64 KiB. A netlink dump's parts follow it (up to 32 KiB). */
  recvBytes?: number;
  /** Datagrams per recvmmsg(); default 16. */
  batch?: number;
  /** Most datagrams read per wakeup before JavaScript gets them (the rest waits for the next); default 256. */
  maxPerWakeup?: number;
}

export interface NetlinkSocketStats {
  datagrams: number;
  bytes: number;
  enobufs: number;
  truncated: number;
  recvErrors: number;
  batches: number;
  callbackErrors: number;
  open: number;
  polling: number;
}

interface NativeSocket {
  open(protocol: number, options: NetlinkSocketOptions): void;
  bind(groups?: number): number;
  address(): { port: number; groups: number };
  setsockopt(level: number, name: number, value: number): void;
  getsockopt(level: number, name: number): number;
  send(data: Uint8Array): number;
  ref(): void;
  unref(): void;
  stats(): NetlinkSocketStats;
  close(): void;
}

interface NativeModule {
  Socket: new (onBatch: NetlinkBatchHandler) => NativeSocket;
  constants: Record<string, number>;
  ABI: number;
}

const ADDON_ABI = 1;
let addon: NativeModule | null = null;

/** The addon, loaded on first use. @throws PortwardenError PW_ERR_ADDON when it is not built or stale. */
export function loadNetlinkAddon(): NativeModule {
  if (addon !== null) return addon;
  const loaded = loadAddon<NativeModule>('netlink');
  if (loaded.ABI !== ADDON_ABI) throw new PortwardenError('PW_ERR_ADDON', `the netlink addon is stale (ABI ${loaded.ABI}, expected ${ADDON_ABI}): run \`node scripts/build-native.mjs\``);
  addon = loaded;
  return addon;
}

/**
 * One AF_NETLINK socket (SOCK_RAW, non-blocking, close-on-exec), open from construction until
 * close(). Receiving starts at once; the poll keeps the process alive until unref().
 */
export class NetlinkSocket {
  readonly protocol: number;
  readonly #native: NativeSocket;
  #closed = false;

  /** @throws Error with code PW_ERR_NETLINK, errno and syscall (e.g. errno EPROTONOSUPPORT, syscall 'socket'). */
  constructor(protocol: number, onBatch: NetlinkBatchHandler, options: NetlinkSocketOptions = {}) {
    this.protocol = protocol;
    this.#native = new (loadNetlinkAddon().Socket)(onBatch);
    try {
      this.#native.open(protocol, options);
    } catch (err) {
      this.#native.close();
      this.#closed = true;
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Binds to the multicast `groups` mask (0: none); the kernel picks the port id, returned. */
  bind(groups = 0): number {
    return this.#native.bind(groups);
  }

  /** The port id (0 before bind() or the first send(), and after close()). */
  get portId(): number {
    return this.#closed ? 0 : this.#native.address().port;
  }

  setsockopt(level: number, name: number, value: number): void {
    this.#native.setsockopt(level, name, value);
  }

  getsockopt(level: number, name: number): number {
    return this.#native.getsockopt(level, name);
  }

  /** One datagram to the kernel (port 0). Replies arrive through onBatch. @throws Error with the errno's code (EMSGSIZE, ENOBUFS…). */
  send(data: Uint8Array): number {
    return this.#native.send(data);
  }

  ref(): this {
    this.#native.ref();
    return this;
  }

  /** An idle socket then no longer keeps the process alive. */
  unref(): this {
    this.#native.unref();
    return this;
  }

  stats(): NetlinkSocketStats {
    return this.#native.stats();
  }

  /** Idempotent; safe inside onBatch. */
  close(): void {
    this.#closed = true;
    this.#native.close();
  }
}
