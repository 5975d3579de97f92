import { PortwardenError } from '../errors.js';
import { loadAddon } from '../kernel/addon.js';

/**
 * Typed access to our NFQUEUE addon (native/nfqueue): one netlink queue, packets handed over in
 * batches, verdicts one by one or many per syscall. (Injected answers leave through
 * src/kernel/raw-send.ts.)
 *
 * Why our own addon and not the npm package `nfqueue` (about 55,000 verdicts/s here): that package
 * has no close, no fail-open flag and no queue length, and calls JavaScript once per packet. Ours
 * sets NFQA_CFG_F_FAIL_OPEN and the queue length, reads many messages per wakeup (recvmmsg), sends a
 * batch of verdicts in one send(), accepts what is still queued on close, and has a watchdog thread
 * for a stalled event loop.
 */

export const VERDICT_DROP = 0;
export const VERDICT_ACCEPT = 1;
export type Verdict = typeof VERDICT_DROP | typeof VERDICT_ACCEPT;

/** Per packet in a batch's metadata: offsets of the fields (the addon's META_FIELDS stride). */
export const Meta = {
  id: 0,
  hwProtocol: 1,
  hook: 2,
  mark: 3,
  indev: 4,
  outdev: 5,
  offset: 6,
  length: 7,
  originalLength: 8,
} as const;

export interface QueueOptions {
  /** Packets the kernel holds for us before fail-open (or drop) applies; 0: the kernel's 1024. */
  maxlen?: number;
  /** Bytes of each packet copied to us (1-65535). */
  copyBytes?: number;
  /** NFQA_CFG_F_FAIL_OPEN: a full queue accepts packets instead of dropping them. */
  failOpen?: boolean;
  /** NFQA_CFG_F_GSO: take GSO super-packets unsegmented (only when nothing rewrites payloads). */
  gso?: boolean;
  /** SO_RCVBUF(FORCE) of the netlink socket; 0: the system default. */
  rcvbufBytes?: number;
  /** NETLINK_NO_ENOBUFS: keep going silently when the socket overflows (the queue's maxlen bounds it). */
  noEnobufs?: boolean;
  /** Messages per recvmmsg() call. */
  batch?: number;
  /** Messages read per wakeup before JavaScript gets them. */
  maxPerWakeup?: number;
  /** Accept what the event loop has not read for this long (a watchdog thread); 0: off. */
  watchdogMs?: number;
}

export interface QueueStats {
  received: number;
  verdicts: number;
  sendErrors: number;
  kernelErrors: number;
  lastKernelError: number;
  recvErrors: number;
  enobufs: number;
  batches: number;
  /** Batches whose delivery failed (arguments not built, or the callback threw). */
  callbackErrors: number;
  /** Of those, batches the addon then accepted up to their highest id. */
  failedBatchAccepts: number;
  malformed: number;
  setupAccepted: number;
  closeAccepted: number;
  watchdogStalls: number;
  watchdogAccepted: number;
  open: number;
}

/** `meta` holds `META_FIELDS` u32 per packet (see Meta); payloads are slices of `data`. */
export type BatchHandler = (meta: Uint32Array, data: Buffer) => void;

interface NativeQueue {
  open(queueNum: number, options: QueueOptions): void;
  verdict(id: number, verdict: Verdict, replacement?: Uint8Array): void;
  verdictMany(ids: Uint32Array, verdicts: Uint8Array, count: number): void;
  verdictUpTo(id: number, verdict: Verdict): void;
  stats(): QueueStats;
  close(): void;
}

interface NativeModule {
  Queue: new (onBatch: BatchHandler) => NativeQueue;
  META_FIELDS: number;
}

let addon: NativeModule | null = null;

/** The addon, loaded on first use (nothing but inline mode needs it). @throws PortwardenError PW_ERR_ADDON when not built or stale. */
export function loadNfqueueAddon(): NativeModule {
  if (addon !== null) return addon;
  const loaded = loadAddon<NativeModule>('nfqueue');
  if (loaded.META_FIELDS !== META_FIELDS) throw new PortwardenError('PW_ERR_ADDON', `the nfqueue addon is stale (META_FIELDS ${loaded.META_FIELDS}, expected ${META_FIELDS}): run \`node scripts/build-native.mjs\``);
  addon = loaded;
  return addon;
}

export const META_FIELDS = 9;

function wrap(err: unknown, what: string): PortwardenError {
  return new PortwardenError('PW_ERR_INLINE', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * One NFQUEUE. Ownership: `onBatch` is called on the event loop with every packet read in one
 * wakeup; it must give each one a verdict (here or later), or the watchdog/close accept it.
 * close() is idempotent and safe after a failed open.
 */
export class NfQueue {
  readonly #native: NativeQueue;
  readonly queueNum: number;

  constructor(queueNum: number, onBatch: BatchHandler) {
    this.queueNum = queueNum;
    this.#native = new (loadNfqueueAddon().Queue)(onBatch);
  }

  /** @throws PortwardenError PW_ERR_INLINE naming the queue and the step that failed. */
  open(options: QueueOptions = {}): void {
    try {
      this.#native.open(this.queueNum, options);
    } catch (err) {
      throw wrap(err, `NFQUEUE ${this.queueNum}`);
    }
  }

  verdict(id: number, verdict: Verdict, replacement?: Uint8Array): void {
    this.#native.verdict(id, verdict, replacement);
  }

  /** The first `count` ids with their verdicts, in as few send() calls as fit. */
  verdictMany(ids: Uint32Array, verdicts: Uint8Array, count: number): void {
    this.#native.verdictMany(ids, verdicts, count);
  }

  /** Every queued packet with an id up to `id` (ids grow monotonically per queue). */
  verdictUpTo(id: number, verdict: Verdict): void {
    this.#native.verdictUpTo(id, verdict);
  }

  stats(): QueueStats {
    return this.#native.stats();
  }

  /** Accepts what is still queued, unbinds, frees. Idempotent. */
  close(): void {
    this.#native.close();
  }
}
