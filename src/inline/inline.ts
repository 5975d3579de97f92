/**
 * Inline mode: the traffic the config selects is queued to the daemon (NFQUEUE), which gives each
 * packet a verdict: DNS queries through the DNS filter (src/dns/), new TCP connections to the
 * chosen ports through `isBlocked` (a source the daemon has decided to ban is dropped before the
 * ban reaches the kernel).
 *
 * Fail-open everywhere (each counted):
 * - the queue rules use bypass: no daemon bound, the kernel accepts;
 * - the queue has NFQA_CFG_F_FAIL_OPEN and a bounded length: a full queue accepts;
 * - a watchdog thread in the addon accepts what the event loop has not read for `watchdogMs`;
 * - a verdict that cannot be computed (an exception) is accept (`inline.failed_open`);
 * - verdicts that cannot be sent: the batch is accepted up to its highest id (`inline.verdict_fallback`),
 *   and the addon does the same for a batch it cannot hand over or whose callback throws;
 * - a packet that does not decode is accept (`inline.undecodable`);
 * - stop removes the rules first, then accepts what is still queued.
 *
 * Ownership and back-pressure: the addon hands over every packet read in one wakeup; this module
 * answers all of them before returning (one send() of verdicts per batch), so nothing waits on
 * JavaScript beyond the batch.
 *
 * Answers to blocked DNS queries leave through the raw sockets of src/respond/rawsend.ts, rate-limited
 * by the DNS filter (a query's source can be spoofed); a send the kernel refuses is counted
 * (`inline.inject_failed`), never thrown.
 */
import { decodeFrame } from '../decode/decoder.js';
import { DecodeStats } from '../decode/events.js';
import { LinkType, Packet } from '../model/packet.js';
import { PortwardenError } from '../errors.js';
import type { EventLogger } from '../model/logger.js';
import { loadBlocklists, formatBadLine } from '../dns/blocklist-file.js';
import { Blocklist } from '../dns/blocklist.js';
import { DNS_COUNTERS, DnsFilter, type DnsCounter, type DnsFilterSettings } from '../dns/filter.js';
import { formatIPv4, formatIPv6, parseAddressBytes } from '../net/address.js';
import { RawSender } from '../kernel/raw-send.js';
import { META_FIELDS, Meta, NfQueue, VERDICT_ACCEPT, VERDICT_DROP } from './nfqueue.js';
import type { InlineSettings } from './settings.js';
import type { DnsSettings } from '../dns/settings.js';
import { detectQueueBackend, installQueueRules, removeQueueRules, type QueueBackend } from './rules.js';

export type { InlineSettings } from './settings.js';
export type { DnsSettings } from '../dns/settings.js';

export interface InlineOptions {
  inline: InlineSettings;
  dns: DnsSettings;
  log: EventLogger;
  /** Whether the source of a queued new TCP connection is to be dropped (banned, not yet in the kernel). */
  isBlocked?: (packet: Packet) => boolean;
  /** Milliseconds, monotonic, for the DNS answer rate limits; tests drive it. */
  now?: () => number;
}

export const INLINE_COUNTERS = [
  'inline.packets',
  'inline.accepted',
  'inline.dropped',
  'inline.failed_open',
  'inline.undecodable',
  'inline.injected',
  'inline.inject_failed',
  'inline.verdict_errors',
  'inline.verdict_fallback',
  'inline.verdict_fallback_failed',
  'inline.tcp.accepted',
  'inline.tcp.dropped',
] as const;
export type InlineCounter = (typeof INLINE_COUNTERS)[number];

const HOOK_IN = 1;
const DNS_PORT = 53;

export class InlineFilter {
  readonly #log: EventLogger;
  #settings: InlineSettings;
  #dnsSettings: DnsSettings;
  readonly #isBlocked: ((packet: Packet) => boolean) | undefined;
  #backend: QueueBackend = 'iptables';
  #queues: NfQueue[] = [];
  #rulesInstalled = false;
  #raw: RawSender | null = null;
  readonly #dns: DnsFilter;
  readonly #packet = new Packet();
  readonly #decodeStats = new DecodeStats();
  #ids = new Uint32Array(1024);
  #verdicts = new Uint8Array(1024);
  #watchdogTimer: NodeJS.Timeout | null = null;
  #watchdogSeen = 0;
  #lastErrorLogMs = 0;
  readonly counters: Record<InlineCounter, number> = Object.fromEntries(INLINE_COUNTERS.map((c) => [c, 0])) as Record<InlineCounter, number>;

  private constructor(options: InlineOptions, blocklist: Blocklist) {
    this.#log = options.log;
    this.#settings = options.inline;
    this.#dnsSettings = options.dns;
    this.#isBlocked = options.isBlocked;
    this.#dns = new DnsFilter(blocklist, dnsFilterSettings(options.dns), options.log, options.now);
  }

  /**
   * Loads the blocklists, binds the queues, then installs the rules (in that order, so no packet is
   * queued before someone listens). On failure everything done so far is undone.
   * @throws PortwardenError PW_ERR_INLINE, PW_ERR_DNS_BLOCKLIST
   */
  static start(options: InlineOptions): InlineFilter {
    const f = new InlineFilter(options, loadLists(options.dns, options.log));
    try {
      f.#open();
    } catch (err) {
      f.stop();
      throw err;
    }
    return f;
  }

  get backend(): QueueBackend {
    return this.#backend;
  }

  /** Whether the queues are bound and the rules installed (false after stop or a failed reload). */
  get running(): boolean {
    return this.#rulesInstalled && this.#queues.length > 0;
  }

  #open(): void {
    const s = this.#settings;
    this.#backend = s.backend === 'auto' ? detectQueueBackend() : s.backend;
    // Sockets open on the first answer: with action drop none is needed (a failure is counted then).
    this.#raw = new RawSender();
    for (let i = 0; i < s.queues; i++) {
      const queue = new NfQueue(s.queue + i, (meta, data) => this.#onBatch(queue, meta, data));
      this.#queues.push(queue);
      queue.open({ maxlen: s.maxlen, copyBytes: s.copyBytes, failOpen: s.failOpen, gso: false, rcvbufBytes: s.rcvbufBytes, noEnobufs: true, watchdogMs: s.watchdogMs });
    }
    // Marked first: a half-installed rule set (iptables rule by rule) is removed by stop() too.
    this.#rulesInstalled = true;
    installQueueRules(this.#backend, { queue: s.queue, queues: s.queues, cpuFanout: s.cpuFanout, dns: s.dns, tcpPorts: s.tcpPorts, forward: s.forward });
    const every = Math.max(250, s.watchdogMs);
    this.#watchdogTimer = setInterval(() => this.#checkWatchdog(), every);
    this.#watchdogTimer.unref();
    this.#log.info(
      { 'event.action': 'inline-started', 'inline.backend': this.#backend, 'inline.queues': `${s.queue}-${s.queue + s.queues - 1}`, 'inline.dns': s.dns, 'inline.tcp_ports': s.tcpPorts, 'inline.forward': s.forward, 'dns.action': this.#dnsSettings.action, 'dns.blocklist.size': this.#dns.blocklistSize },
      `inline mode on (${this.#backend}, queue ${s.queue}${s.queues > 1 ? `-${s.queue + s.queues - 1}` : ''}); ${this.#dns.blocklistSize} blocked name(s)`,
    );
  }

  /** Removes the rules, then closes the queues (what is still queued is accepted). Idempotent. */
  stop(): void {
    if (this.#watchdogTimer !== null) clearInterval(this.#watchdogTimer);
    this.#watchdogTimer = null;
    if (this.#rulesInstalled) {
      removeQueueRules(this.#backend);
      this.#rulesInstalled = false;
    }
    this.#checkWatchdog();
    for (const q of this.#queues) q.close();
    this.#queues = [];
    this.#raw?.close();
    this.#raw = null;
  }

  /**
   * Re-reads the blocklists (always: the files may have changed while the config did not) and takes
   * new settings; queue or rule changes re-bind the queues. A list that fails to load is refused
   * and the running one kept. When the new queues or rules cannot be set up, what was half set up
   * is undone and the old settings are opened again (lists and DNS settings stay the old ones too),
   * then the error is thrown; if even that fails the filter is stopped (`running` false) and the
   * error thrown.
   * @throws PortwardenError PW_ERR_INLINE, PW_ERR_DNS_BLOCKLIST
   */
  reload(inline: InlineSettings, dns: DnsSettings): void {
    const blocklist = loadLists(dns, this.#log);
    const filterSettings = dnsFilterSettings(dns);
    if (JSON.stringify(inline) !== JSON.stringify(this.#settings)) {
      const previous = this.#settings;
      this.stop();
      this.#settings = inline;
      try {
        this.#open();
      } catch (err) {
        this.stop(); // the queues and rules the failed open left
        this.#settings = previous;
        try {
          this.#open();
        } catch (again) {
          this.stop();
          throw new PortwardenError('PW_ERR_INLINE', `${err instanceof Error ? err.message : String(err)}; reopening the previous settings failed too: ${again instanceof Error ? again.message : String(again)}`, { cause: err });
        }
        throw err;
      }
    }
    this.#dns.replace(blocklist, filterSettings);
    this.#dnsSettings = dns;
  }

  /** Counters of the filter, the DNS filter and the queues (summed, and `inline.queue.N.received` per queue), for status and metrics. */
  counterValues(): Record<string, number> {
    const out: Record<string, number> = { ...this.counters };
    for (const c of DNS_COUNTERS) out[c] = this.#dns.counters[c as DnsCounter];
    let received = 0, enobufs = 0, stalls = 0, wdAccepted = 0, malformed = 0, callbackErrors = 0, batchAccepts = 0;
    for (const q of this.#queues) {
      const s = q.stats();
      received += s.received;
      enobufs += s.enobufs;
      stalls += s.watchdogStalls;
      wdAccepted += s.watchdogAccepted;
      malformed += s.malformed;
      callbackErrors += s.callbackErrors;
      batchAccepts += s.failedBatchAccepts;
      // Per queue too: with several queues, whether the kernel spreads the traffic over them.
      out[`inline.queue.${q.queueNum}.received`] = s.received;
    }
    out['inline.queue.received'] = received;
    out['inline.queue.enobufs'] = enobufs;
    out['inline.watchdog.stalls'] = stalls;
    out['inline.watchdog.accepted'] = wdAccepted;
    out['inline.queue.malformed'] = malformed;
    out['inline.queue.callback_errors'] = callbackErrors;
    out['inline.queue.failed_batch_accepts'] = batchAccepts;
    out['dns.blocklist.size'] = this.#dns.blocklistSize;
    return out;
  }

  #onBatch(queue: NfQueue, meta: Uint32Array, data: Buffer): void {
    const n = (meta.length / META_FIELDS) | 0;
    if (n > this.#ids.length) {
      this.#ids = new Uint32Array(n * 2);
      this.#verdicts = new Uint8Array(n * 2);
    }
    const ids = this.#ids;
    const verdicts = this.#verdicts;
    let i = 0;
    let maxId = n > 0 ? meta[Meta.id] : 0;
    for (let k = 1; k < n; k++) {
      const id = meta[k * META_FIELDS + Meta.id];
      if (((id - maxId) | 0) > 0) maxId = id; // ids grow per queue (and wrap)
    }
    try {
      for (; i < n; i++) {
        const base = i * META_FIELDS;
        ids[i] = meta[base + Meta.id];
        verdicts[i] = this.#decide(data, meta[base + Meta.offset], meta[base + Meta.length], meta[base + Meta.hook]);
      }
    } catch (err) {
      // A verdict that cannot be computed is accept: the rest of the batch too.
      for (; i < n; i++) {
        ids[i] = meta[i * META_FIELDS + Meta.id];
        verdicts[i] = VERDICT_ACCEPT;
        this.counters['inline.failed_open']++;
      }
      this.#logError('inline-verdict-failed', 'a verdict could not be computed; accepted', err);
    }
    this.counters['inline.packets'] += n;
    try {
      queue.verdictMany(ids, verdicts, n);
    } catch (err) {
      // The watchdog only accepts packets nobody read and fail-open only new arrivals: these were
      // read, so without a verdict they would stay held until close. Accept the batch at once.
      this.counters['inline.verdict_errors'] += n;
      try {
        queue.verdictUpTo(maxId, VERDICT_ACCEPT);
        this.counters['inline.verdict_fallback'] += n;
        this.#logError('inline-verdict-send-failed', 'verdicts could not be sent; the batch was accepted unfiltered', err);
      } catch (again) {
        this.counters['inline.verdict_fallback_failed'] += n;
        this.#logError('inline-verdict-send-failed', `verdicts could not be sent, nor the batch accepted (${again instanceof Error ? again.message : String(again)}); its packets stay queued until the queue closes`, err);
      }
    }
  }

  /** The verdict for one packet (raw IP at data[offset, offset + length)). */
  #decide(data: Buffer, offset: number, length: number, hook: number): number {
    const p = this.#packet;
    decodeFrame(p, data, offset, length, LinkType.RAW, 0, this.#decodeStats);
    if (!p.valid || p.ipVersion === 0) {
      this.counters['inline.undecodable']++;
      this.counters['inline.accepted']++;
      return VERDICT_ACCEPT;
    }
    if ((p.protocol === 17 || p.protocol === 6) && (p.dstPort === DNS_PORT || p.srcPort === DNS_PORT) && this.#settings.dns && !p.laterFragment) {
      const v = this.#dns.decide(p);
      if (v.reply !== null) this.#inject(v.reply);
      if (v.accept) {
        this.counters['inline.accepted']++;
        return VERDICT_ACCEPT;
      }
      this.counters['inline.dropped']++;
      return VERDICT_DROP;
    }
    if (p.protocol === 6 && (hook === HOOK_IN || hook === 2) && this.#isBlocked !== undefined && this.#isBlocked(p)) {
      this.counters['inline.tcp.dropped']++;
      this.counters['inline.dropped']++;
      return VERDICT_DROP;
    }
    if (p.protocol === 6) this.counters['inline.tcp.accepted']++;
    this.counters['inline.accepted']++;
    return VERDICT_ACCEPT;
  }

  /** Sends an answer we built (IPv4 or IPv6, header included) toward its destination; failures are counted. */
  #inject(packet: Buffer): void {
    const raw = this.#raw;
    if (raw === null) return;
    let outcome: string;
    try {
      const v6 = packet[0] >> 4 === 6;
      outcome = v6 ? raw.send(packet, formatIPv6(packet, 24), 6) : raw.send(packet, formatIPv4(packet.readUInt32BE(16)), 4);
    } catch (err) {
      // The addon is missing or a socket cannot be opened (no CAP_NET_RAW).
      outcome = err instanceof Error ? err.message : String(err);
    }
    if (outcome === 'sent') {
      this.counters['inline.injected']++;
      return;
    }
    this.counters['inline.inject_failed']++;
    this.#logError('dns-answer-failed', `the answer to a blocked query could not be sent: ${outcome}`, outcome);
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

function loadLists(dns: DnsSettings, log: EventLogger): Blocklist {
  const started = performance.now();
  const r = loadBlocklists(dns.blocklists, { strict: dns.strictLists });
  for (const b of r.bad.slice(0, 20)) log.warn({ 'event.action': 'dns-blocklist-bad-line', file: b.file, line: b.line, 'event.reason': b.reason }, `skipped ${formatBadLine(b)}`);
  if (r.bad.length > 20) log.warn({ 'event.action': 'dns-blocklist-bad-line', count: r.bad.length - 20 }, `… and ${r.bad.length - 20} more bad line(s) skipped`);
  if (dns.blocklists.length > 0) {
    log.info(
      { 'event.action': 'dns-blocklist-loaded', files: r.files, 'dns.blocklist.size': r.blocklist.size, 'dns.blocklist.bad_lines': r.bad.length, 'dns.blocklist.bytes': r.blocklist.memoryBytes, 'event.duration': Math.round((performance.now() - started) * 1e6) },
      `${r.blocklist.size} blocked name(s) from ${r.files.length} file(s)${r.bad.length > 0 ? `, ${r.bad.length} bad line(s) skipped` : ''}`,
    );
  }
  return r.blocklist;
}

/** The DNS filter's settings from the config's, addresses parsed once. */
export function dnsFilterSettings(d: DnsSettings): DnsFilterSettings {
  const a4 = parseAddressBytes(d.sinkhole4);
  const a6 = parseAddressBytes(d.sinkhole6);
  if (a4 === null || a4.version !== 4) throw new PortwardenError('PW_ERR_INLINE', `dns.sinkhole4 ${JSON.stringify(d.sinkhole4)} is not an IPv4 address`);
  if (a6 === null || a6.version !== 6) throw new PortwardenError('PW_ERR_INLINE', `dns.sinkhole6 ${JSON.stringify(d.sinkhole6)} is not an IPv6 address`);
  const v4 = new Uint8Array(4);
  new DataView(v4.buffer).setUint32(0, a4.v4 >>> 0);
  return {
    action: d.action,
    sinkhole4: v4,
    sinkhole6: a6.v6,
    answerTtlSeconds: d.answerTtlSeconds,
    malformed: d.malformed,
    logQueries: d.logQueries,
    answerLimit: { maxPerSecond: d.answerMaxPerSecond, burst: d.answerBurst, perSourcePerSecond: d.answerPerSourcePerSecond, perSourceBurst: d.answerPerSourceBurst, maxSources: d.answerMaxSources },
  };
}
