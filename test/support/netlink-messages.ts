/**
 * Test helper, not shipped behaviour: netlink messages for the netlink addon's tests (socket.test.ts,
 * socket.netns.test.ts). Builds NLMSG_NOOP and RTM_GETLINK requests, walks received batches as
 * messages, and collects a socket's batches so a test can wait for what it expects.
 */
import { NetlinkSocket, type NetlinkBatchHandler } from '../../src/kernel/netlink-socket.js';

const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
export const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
export const IFLA_IFNAME = 3;

export interface Message {
  type: number;
  seq: number;
  /** For NLMSG_ERROR: the positive errno (0 = ACK) and the sequence number of the message answered. */
  errno?: number;
  answered?: number;
  body: Buffer;
}

/** Walks a batch (datagrams back to back) as one stream of netlink messages. */
export function messages(data: Buffer): Message[] {
  const out: Message[] = [];
  for (let o = 0; o + 16 <= data.length; ) {
    const len = data.readUInt32LE(o);
    if (len < 16 || o + len > data.length) throw new Error(`bad message length ${len} at ${o} of ${data.length}`);
    const m: Message = { type: data.readUInt16LE(o + 4), seq: data.readUInt32LE(o + 8), body: data.subarray(o + 16, o + len) };
    if (m.type === NLMSG_ERROR) {
      m.errno = 0 - data.readInt32LE(o + 16);
      m.answered = data.readUInt32LE(o + 20 + 8);
    }
    out.push(m);
    o += (len + 3) & ~3;
  }
  return out;
}

export function noop(seq: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(16, 0);
  b.writeUInt16LE(NLMSG_NOOP, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

export function getLinkDump(seq: number): Buffer {
  const b = Buffer.alloc(32); // nlmsghdr + struct ifinfomsg (all zero: every family, every link)
  b.writeUInt32LE(32, 0);
  b.writeUInt16LE(RTM_GETLINK, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

export interface Batch {
  data: Buffer | undefined;
  datagrams: number;
  enobufs: number;
  truncated: number;
  errno: number;
}

/** A socket whose batches are collected; `until` waits for the collected ones to satisfy a test. */
export function collecting(protocol: number, options = {}): { socket: NetlinkSocket; batches: Batch[]; until: (pred: (all: Batch[]) => boolean) => Promise<void> } {
  const batches: Batch[] = [];
  let wake: (() => void) | null = null;
  const onBatch: NetlinkBatchHandler = (data, datagrams, enobufs, truncated, errno) => {
    batches.push({ data, datagrams, enobufs, truncated, errno });
    wake?.();
  };
  const socket = new NetlinkSocket(protocol, onBatch, options);
  // A safety bound, not a measurement: what is awaited normally arrives within milliseconds.
  const until = async (pred: (all: Batch[]) => boolean, timeoutMs = 15_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pred(batches)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`nothing more arrived (${batches.length} batches so far): ${JSON.stringify(socket.stats())}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    wake = null;
  };
  return { socket, batches, until };
}

export const allMessages = (batches: Batch[]): Message[] => batches.flatMap((b) => (b.data === undefined ? [] : messages(b.data)));
