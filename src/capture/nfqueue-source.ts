/**
 * NFQUEUE as a packet source: the kernel holds each queued packet until we give it a verdict, so
 * this source's consumer returns one per packet (an InlineSource: the PacketSource shape plus the
 * verdict). The decode step is the shared FrameDecoder; the batch loop, the verdict sending and the
 * fail-open fallbacks live here, so the consumer only decides.
 *
 * Fail-open (each counted, `<prefix>.*`):
 * - a verdict that cannot be computed (the handler throws) is accept, for the rest of the batch
 *   too (`failed_open`);
 * - verdicts that cannot be sent: the batch is accepted up to its highest id (`verdict_fallback`),
 *   and the addon does the same for a batch it cannot hand over or whose callback throws;
 * - a watchdog thread in the addon accepts what the event loop has not read for `watchdogMs`
 *   (logged here once per stall, counted by the addon);
 * - close accepts what is still queued.
 *
 * Ownership and back-pressure: the addon hands over every packet read in one wakeup; this source
 * answers all of them before returning (one send() of verdicts per batch), so nothing waits on
 * JavaScript beyond the batch.
 *
 * Timestamps: the queue's messages carry none we read, so each batch is stamped with the time it
 * was read (one Date.now() per batch).
 */
import type { CounterGroup } from '../model/counters.js';
import { CounterTable } from '../model/counters.js';
import type { EventLogger } from '../model/logger.js';
import { LinkType, type Packet } from '../model/packet.js';
import { META_FIELDS, Meta, NfQueue, VERDICT_ACCEPT, type QueueOptions, type Verdict } from './nfqueue.js';
import { FrameDecoder, type SourceStats } from './source.js';

/** The verdict for one decoded queued packet; `hook` is the netfilter hook it was queued at (NF_INET_*). */
export type VerdictHandler = (packet: Packet, hook: number) => Verdict;

/** A packet source whose consumer gives each packet a verdict (NFQUEUE). */
export interface InlineSource {
  readonly name: string;
  readonly running: boolean;
  readonly decoder: FrameDecoder;
  /** Binds the queues; verdicts are asked of `onPacket` from then on. @throws PortwardenError PW_ERR_INLINE */
  start(onPacket: VerdictHandler): void;
  /** Accepts what is still queued, unbinds. Idempotent. */
  close(): void;
  stats(): SourceStats;
  readonly counters: CounterGroup;
}

export interface NfqueueSourceOptions {
  /** First queue number; `queues` consecutive ones are bound. */
  queue: number;
  queues: number;
  queueOptions: QueueOptions;
  log: EventLogger;
  /** Counter names' prefix; default `inline` (the names status has always shown). */
  counterPrefix?: string;
  decoder?: FrameDecoder;
  /** Count into this table (NfqueueCounterDoc, the consumer's prefix) instead of a new one: the consumer's counts then outlive a re-bind. */
  table?: CounterTable<keyof typeof NfqueueCounterDoc>;
}

export const NfqueueCounterDoc = {
  packets: 'packets given a verdict (all queues)',
  failed_open: 'packets accepted because their verdict could not be computed (an exception)',
  verdict_errors: 'packets whose verdicts could not be sent',
  verdict_fallback: 'of those, packets accepted by the fallback (the batch accepted up to its highest id)',
  verdict_fallback_failed: 'of those, packets even the fallback could not accept (held until the queue closes)',
} as const;

const QUEUE_DOCS: Readonly<Record<string, string>> = {
  'queue.received': 'packets the queues read from the kernel',
  'queue.enobufs': 'receive-buffer overflows of the queue sockets',
  'watchdog.stalls': 'times the addon watchdog found the event loop stalled',
  'watchdog.accepted': 'packets the watchdog accepted unfiltered during stalls',
  'queue.malformed': 'queue messages the addon could not parse',
  'queue.callback_errors': 'batches the addon could not hand over, or whose callback threw',
  'queue.failed_batch_accepts': 'of those, batches the addon accepted up to their highest id',
};

export class NfqueueSource implements InlineSource {
  readonly name: string;
  readonly decoder: FrameDecoder;
  readonly counters: CounterGroup;
  /** The source's own counts, by handle. */
  readonly table: CounterTable<keyof typeof NfqueueCounterDoc>;
  readonly #options: NfqueueSourceOptions;
  readonly #log: EventLogger;
  #handler: VerdictHandler | null = null;
  #queues: NfQueue[] = [];
  #ids = new Uint32Array(1024);
  #verdicts = new Uint8Array(1024);
  #watchdogTimer: NodeJS.Timeout | null = null;
  #watchdogSeen = 0;
  #lastErrorLogMs = 0;

  constructor(options: NfqueueSourceOptions) {
    this.#options = options;
    this.#log = options.log;
    this.name = `nfqueue ${options.queue}${options.queues > 1 ? `-${options.queue + options.queues - 1}` : ''}`;
    this.decoder = options.decoder ?? new FrameDecoder(`${options.counterPrefix ?? 'inline'}.decode`);
    const prefix = options.counterPrefix ?? 'inline';
    this.table = options.table ?? new CounterTable('nfqueue', NfqueueCounterDoc, { prefix });
    const table = this.table;
    this.counters = {
      group: 'nfqueue',
      forEach: (visit) => {
        table.forEach(visit);
        const sums: Record<string, number> = {};
        for (const k of Object.keys(QUEUE_DOCS)) sums[k] = 0;
        for (const q of this.#queues) {
          const s = q.stats();
          sums['queue.received'] += s.received;
          sums['queue.enobufs'] += s.enobufs;
          sums['watchdog.stalls'] += s.watchdogStalls;
          sums['watchdog.accepted'] += s.watchdogAccepted;
          sums['queue.malformed'] += s.malformed;
          sums['queue.callback_errors'] += s.callbackErrors;
          sums['queue.failed_batch_accepts'] += s.failedBatchAccepts;
          // Per queue too: with several queues, whether the kernel spreads the traffic over them.
          visit(`${prefix}.queue.${q.queueNum}.received`, s.received, 'packets this queue read from the kernel');
        }
        for (const k of Object.keys(QUEUE_DOCS)) visit(`${prefix}.${k}`, sums[k], QUEUE_DOCS[k]);
      },
    };
  }

  get running(): boolean {
    return this.#queues.length > 0;
  }

  start(onPacket: VerdictHandler): void {
    const o = this.#options;
    this.#handler = onPacket;
    try {
      for (let i = 0; i < o.queues; i++) {
        const queue = new NfQueue(o.queue + i, (meta, data) => this.#onBatch(queue, meta, data));
        this.#queues.push(queue);
        queue.open(o.queueOptions);
      }
    } catch (err) {
      this.close();
      throw err;
    }
    const every = Math.max(250, o.queueOptions.watchdogMs ?? 0);
    this.#watchdogTimer = setInterval(() => this.#checkWatchdog(), every);
    this.#watchdogTimer.unref();
  }

  close(): void {
    if (this.#watchdogTimer !== null) clearInterval(this.#watchdogTimer);
    this.#watchdogTimer = null;
    this.#checkWatchdog();
    for (const q of this.#queues) q.close();
    this.#queues = [];
  }

  stats(): SourceStats {
    let received = 0;
    for (const q of this.#queues) received += q.stats().received;
    return { received, delivered: this.table.values[this.table.id.packets], lost: 0 };
  }

  #onBatch(queue: NfQueue, meta: Uint32Array, data: Buffer): void {
    const n = (meta.length / META_FIELDS) | 0;
    if (n > this.#ids.length) {
      this.#ids = new Uint32Array(n * 2);
      this.#verdicts = new Uint8Array(n * 2);
    }
    const ids = this.#ids;
    const verdicts = this.#verdicts;
    const c = this.table.values;
    const id = this.table.id;
    const decoder = this.decoder;
    const handler = this.#handler;
    const tsUs = Date.now() * 1000;
    let i = 0;
    let maxId = n > 0 ? meta[Meta.id] : 0;
    for (let k = 1; k < n; k++) {
      const qid = meta[k * META_FIELDS + Meta.id];
      if (((qid - maxId) | 0) > 0) maxId = qid; // ids grow per queue (and wrap)
    }
    try {
      if (handler === null) throw new Error('no consumer attached');
      for (; i < n; i++) {
        const base = i * META_FIELDS;
        ids[i] = meta[base + Meta.id];
        const p = decoder.decode(data, meta[base + Meta.offset], meta[base + Meta.length], tsUs, LinkType.RAW);
        verdicts[i] = handler(p, meta[base + Meta.hook]);
      }
    } catch (err) {
      // A verdict that cannot be computed is accept: the rest of the batch too.
      for (; i < n; i++) {
        ids[i] = meta[i * META_FIELDS + Meta.id];
        verdicts[i] = VERDICT_ACCEPT;
        c[id.failed_open]++;
      }
      this.#logError('inline-verdict-failed', 'a verdict could not be computed; accepted', err);
    }
    c[id.packets] += n;
    try {
      queue.verdictMany(ids, verdicts, n);
    } catch (err) {
      // The watchdog only accepts packets nobody read and fail-open only new arrivals: these were
      // read, so without a verdict they would stay held until close. Accept the batch at once.
      c[id.verdict_errors] += n;
      try {
        queue.verdictUpTo(maxId, VERDICT_ACCEPT);
        c[id.verdict_fallback] += n;
        this.#logError('inline-verdict-send-failed', 'verdicts could not be sent; the batch was accepted unfiltered', err);
      } catch (again) {
        c[id.verdict_fallback_failed] += n;
        this.#logError('inline-verdict-send-failed', `verdicts could not be sent, nor the batch accepted (${again instanceof Error ? again.message : String(again)}); its packets stay queued until the queue closes`, err);
      }
    }
  }

  #checkWatchdog(): void {
    let accepted = 0;
    for (const q of this.#queues) accepted += q.stats().watchdogAccepted;
    if (accepted > this.#watchdogSeen) {
      this.#log.warn({ 'event.action': 'inline-watchdog', 'inline.watchdog.accepted': accepted - this.#watchdogSeen, 'inline.watchdog.total': accepted }, `the event loop stalled: the watchdog accepted ${accepted - this.#watchdogSeen} queued packet(s) unfiltered`);
      this.#watchdogSeen = accepted;
    }
  }

  /** Errors on the packet path are logged at most once a second (they are counted every time). */
  #logError(action: string, message: string, err: unknown): void {
    const now = Date.now();
    if (now - this.#lastErrorLogMs < 1000) return;
    this.#lastErrorLogMs = now;
    this.#log.error({ 'event.action': action, error: err instanceof Error ? err.message : String(err) }, message);
  }
}
