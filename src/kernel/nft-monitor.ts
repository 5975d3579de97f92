/**
 * nf_tables change notifications, as `nft monitor` hears them: a NETLINK_NETFILTER socket bound to the
 * multicast group NFNLGRP_NFTABLES. The kernel sends one message per change of every committed
 * transaction (tables, chains, rules, sets, elements), then a NEWGEN naming the generation and the
 * process that committed it. Only table creations and deletions and the generation messages are
 * decoded here; everything else is skipped by its header, so a large element batch costs a header read
 * per element.
 *
 * An overflow of the receive buffer drops notifications; it is reported (`lost`), so the listener can
 * check what it cares about instead of trusting it saw every deletion.
 */
import { endianness } from 'node:os';
import { NETLINK_NETFILTER, NetlinkSocket, SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE, type NetlinkSocketStats } from './netlink-socket.js';

/** linux/netfilter/nfnetlink.h */
export const NFNLGRP_NFTABLES = 7;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_DELTABLE = 2;
const NFT_MSG_NEWGEN = 15;
const NFTA_TABLE_NAME = 1;
const NFTA_GEN_ID = 1;
const NFTA_GEN_PROC_PID = 2;
const NFTA_GEN_PROC_NAME = 3;
/** linux/netfilter.h: the family of `table inet …`. */
export const NFPROTO_INET = 1;
const NLA_TYPE_MASK = 0x3fff;
const HEADER_BYTES = 16;
const NFGEN_BYTES = 4;
/** Room for a burst (`nft flush ruleset` on a large ruleset, or 100,000 bans at once) before the kernel drops. */
const RCVBUF_BYTES = 8 << 20;

const LITTLE = endianness() === 'LE';
const readU16 = (buf: Buffer, at: number): number => (LITTLE ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
const readU32 = (buf: Buffer, at: number): number => (LITTLE ? buf.readUInt32LE(at) : buf.readUInt32BE(at));

/** A table created or deleted. `portId`: the netlink port of the socket whose transaction it was. */
export interface NftTableChange {
  change: 'new' | 'delete';
  /** NFPROTO_* (1: inet, 2: ip, 10: ip6). */
  family: number;
  table: string;
  portId: number;
}

/** The end of one committed transaction: its generation and who committed it (null when the kernel did not say). */
export interface NftGeneration {
  id: number;
  pid: number | null;
  process: string | null;
  portId: number;
}

export interface NftMonitorHandlers {
  table?(change: NftTableChange): void;
  generation?(gen: NftGeneration): void;
  /** Notifications were dropped (receive buffer overflow, or datagrams larger than the buffer). */
  lost?(count: number): void;
}

/** Walks a batch of notifications (datagrams back to back, 4-byte aligned) and calls the handlers. */
export function decodeNotifications(data: Buffer, handlers: NftMonitorHandlers): void {
  let at = 0;
  while (at + HEADER_BYTES <= data.length) {
    const len = readU32(data, at);
    if (len < HEADER_BYTES || at + len > data.length) return; // malformed: the rest cannot be trusted
    const type = readU16(data, at + 4);
    if (type >> 8 === NFNL_SUBSYS_NFTABLES && len >= HEADER_BYTES + NFGEN_BYTES) {
      const msg = type & 0xff;
      if (msg === NFT_MSG_NEWTABLE || msg === NFT_MSG_DELTABLE) {
        if (handlers.table !== undefined) {
          const attrs = attributes(data, at + HEADER_BYTES + NFGEN_BYTES, at + len);
          const name = attrs.get(NFTA_TABLE_NAME);
          if (name !== undefined) {
            handlers.table({ change: msg === NFT_MSG_NEWTABLE ? 'new' : 'delete', family: data[at + HEADER_BYTES], table: cstring(data, name), portId: readU32(data, at + 12) });
          }
        }
      } else if (msg === NFT_MSG_NEWGEN && handlers.generation !== undefined) {
        const attrs = attributes(data, at + HEADER_BYTES + NFGEN_BYTES, at + len);
        const id = attrs.get(NFTA_GEN_ID);
        const pid = attrs.get(NFTA_GEN_PROC_PID);
        const name = attrs.get(NFTA_GEN_PROC_NAME);
        handlers.generation({
          id: id !== undefined && id[1] - id[0] >= 4 ? data.readUInt32BE(id[0]) : 0,
          pid: pid !== undefined && pid[1] - pid[0] >= 4 ? data.readUInt32BE(pid[0]) : null,
          process: name !== undefined ? cstring(data, name) : null,
          portId: readU32(data, at + 12),
        });
      }
    }
    at += (len + 3) & ~3;
  }
}

/** Top-level attributes between `from` and `to`: type → [payload start, payload end]. */
function attributes(data: Buffer, from: number, to: number): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  let at = from;
  while (at + 4 <= to) {
    const len = readU16(data, at);
    if (len < 4 || at + len > to) break;
    out.set(readU16(data, at + 2) & NLA_TYPE_MASK, [at + 4, at + len]);
    at += (len + 3) & ~3;
  }
  return out;
}

function cstring(data: Buffer, [from, to]: [number, number]): string {
  const nul = data.indexOf(0, from);
  return data.toString('utf8', from, nul >= 0 && nul < to ? nul : to);
}

/**
 * Subscribes to nf_tables notifications in the caller's network namespace until close(). Needs
 * CAP_NET_ADMIN (the kernel only lets privileged sockets join NFNLGRP_NFTABLES). The socket does not
 * keep the process alive.
 * @throws Error with code PW_ERR_NETLINK (errno, syscall) when the socket cannot be opened or bound.
 */
export class NftMonitor {
  readonly #socket: NetlinkSocket;

  constructor(handlers: NftMonitorHandlers) {
    this.#socket = new NetlinkSocket(NETLINK_NETFILTER, (data, _datagrams, enobufs, truncated) => {
      if (data !== undefined) decodeNotifications(data, handlers);
      if (enobufs + truncated > 0) handlers.lost?.(enobufs + truncated);
    });
    try {
      try {
        this.#socket.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES);
      } catch {
        this.#socket.setsockopt(SOL_SOCKET, SO_RCVBUF, RCVBUF_BYTES); // capped by net.core.rmem_max
      }
      // Groups 1-32 fit the bind mask (group n is bit n-1); no NETLINK_ADD_MEMBERSHIP needed.
      this.#socket.bind(1 << (NFNLGRP_NFTABLES - 1));
    } catch (err) {
      this.#socket.close();
      throw err;
    }
    this.#socket.unref();
  }

  /** Our port id (notifications of our own socket's transactions carry it). */
  get portId(): number {
    return this.#socket.portId;
  }

  /** What the socket received (datagrams, bytes, overflows). */
  stats(): NetlinkSocketStats {
    return this.#socket.stats();
  }

  /** Idempotent. */
  close(): void {
    this.#socket.close();
  }
}
