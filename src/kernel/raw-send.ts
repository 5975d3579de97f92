/**
 * The raw sockets replies leave through: our own N-API addon native/rawsend (Node has no raw
 * sockets). One socket per address family, opened on first use; needs CAP_NET_RAW.
 *
 * Failure policy: a missing or stale addon is a PortwardenError PW_ERR_ADDON at open, a socket
 * that cannot be opened PW_ERR_RESPOND naming the errno; a send the kernel refuses now (buffer
 * full, no route, dropped by a firewall) is returned as an errno name for the caller to count: a
 * reply is never worth blocking or crashing for. close() is idempotent.
 */
import { constants as osConstants } from 'node:os';
import { PortwardenError } from '../errors.js';
import { loadAddon as loadNativeAddon } from './addon.js';

interface RawsendAddon {
  open(family: 4 | 6): number;
  send(fd: number, packet: Buffer, address: string, family: 4 | 6): number;
  close(fd: number): boolean;
}

let addon: RawsendAddon | null = null;

function loadAddon(): RawsendAddon {
  addon ??= loadNativeAddon<RawsendAddon>('rawsend');
  return addon;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

/** Outcome of one send: 'sent', or the errno name the kernel gave (EAGAIN, ENOBUFS, EPERM, …). */
export type SendOutcome = 'sent' | string;

export class RawSender {
  readonly #fds: { 4: number; 6: number } = { 4: -1, 6: -1 };
  #closed = false;

  /** Opens both sockets now, so a missing addon or capability is reported at start, not at the first scanner. */
  open(): void {
    if (this.#closed) throw new PortwardenError('PW_ERR_RESPOND', 'raw sender is closed');
    const a = loadAddon();
    for (const family of [4, 6] as const) {
      if (this.#fds[family] >= 0) continue;
      try {
        this.#fds[family] = a.open(family);
      } catch (cause) {
        throw new PortwardenError('PW_ERR_RESPOND', `cannot open an IPv${family} raw socket (needs CAP_NET_RAW): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      }
    }
  }

  send(packet: Buffer, address: string, family: 4 | 6): SendOutcome {
    if (this.#fds[family] < 0) this.open();
    const n = loadAddon().send(this.#fds[family], packet, address, family);
    if (n >= 0) return n === packet.length ? 'sent' : 'ESHORT';
    return ERRNO_NAMES.get(-n) ?? `errno ${-n}`;
  }

  close(): void {
    this.#closed = true;
    for (const family of [4, 6] as const) {
      const fd = this.#fds[family];
      this.#fds[family] = -1;
      if (fd < 0 || addon === null) continue;
      try {
        addon.close(fd);
      } catch {
        // Nothing useful is left to do with a socket that will not close; the fd is forgotten either way.
      }
    }
  }
}
