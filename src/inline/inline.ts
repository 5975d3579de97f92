/**
 * Inline mode: the traffic the config selects is queued to the daemon (NFQUEUE), which gives each
 * packet a verdict: DNS queries through the DNS filter (src/dns/), new TCP connections to the
 * chosen ports through `isBlocked` (a source the daemon has decided to ban is dropped before the
 * ban reaches the kernel).
 *
 * Fail-open everywhere (each counted):
 * - the queue rules use bypass: no daemon bound, the kernel accepts;
 * - the queue has NFQA_CFG_F_FAIL_OPEN and a bounded length: a full queue accepts;
 * - the packet source (src/capture/nfqueue-source.ts) accepts what it cannot get a verdict for or
 *   cannot send verdicts for, and logs the addon watchdog's stalls;
 * - a packet that does not decode is accept (`inline.undecodable`);
 * - stop removes the rules first, then accepts what is still queued.
 *
 * The queues, the decoding and the batch loop are the packet source's; this module decides one
 * packet at a time.
 *
 * Answers to blocked DNS queries leave through the raw sockets of src/kernel/raw-send.ts, rate-limited
 * by the DNS filter (a query's source can be spoofed); a send the kernel refuses is counted
 * (`inline.inject_failed`), never thrown.
 */
import type { Packet } from '../model/packet.js';
import { CounterTable, counterIds, type CounterGroup } from '../model/counters.js';
import { PortwardenError } from '../errors.js';
import type { EventLogger } from '../model/logger.js';
import { loadBlocklists, formatBadLine } from '../dns/blocklist-file.js';
import { Blocklist } from '../dns/blocklist.js';
import { DnsFilter, type DnsFilterSettings } from '../dns/filter.js';
import { formatIPv4, formatIPv6, parseAddressBytes } from '../net/address.js';
import { RawSender } from '../kernel/raw-send.js';
import { VERDICT_ACCEPT, VERDICT_DROP, type Verdict } from '../capture/nfqueue.js';
import { NfqueueCounterDoc, NfqueueSource } from '../capture/nfqueue-source.js';
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

/** Inline mode's verdict counters (names as status shows them); the queue's own are the packet source's (`inline.packets` …). */
export const InlineCounterDoc = {
  'inline.accepted': 'queued packets accepted (DNS allowed, TCP not blocked, anything else)',
  'inline.dropped': 'queued packets dropped (blocked DNS queries, new TCP connections from banned sources)',
  'inline.undecodable': 'queued packets that did not decode (accepted)',
  'inline.injected': 'answers to blocked DNS queries sent',
  'inline.inject_failed': 'answers to blocked DNS queries the kernel refused to send (logged)',
  'inline.tcp.accepted': 'queued TCP packets accepted',
  'inline.tcp.dropped': 'queued new TCP connections dropped: their source is banned',
} as const;
export type InlineCounter = keyof typeof InlineCounterDoc;
const C = counterIds(InlineCounterDoc);

const HOOK_IN = 1;
const DNS_PORT = 53;

export class InlineFilter {
  readonly #log: EventLogger;
  #settings: InlineSettings;
  #dnsSettings: DnsSettings;
  readonly #isBlocked: ((packet: Packet) => boolean) | undefined;
  #backend: QueueBackend = 'iptables';
  #source: NfqueueSource | null = null;
  #rulesInstalled = false;
  #raw: RawSender | null = null;
  readonly #dns: DnsFilter;
  #lastErrorLogMs = 0;
  /** Bound once: the packet source calls it per packet. */
  readonly #decide: (p: Packet, hook: number) => Verdict = (p, hook) => this.#verdict(p, hook);
  /** Verdict counts, by handle. */
  readonly table = new CounterTable('inline', InlineCounterDoc);
  readonly #c = this.table.values;
  /** The queue source's counts: kept here so they outlive a re-bind on reload. */
  readonly #queueTable = new CounterTable('nfqueue', NfqueueCounterDoc, { prefix: 'inline' });
  /**
   * Every counter of inline mode for the registry: the verdicts, the queue source's (per queue
   * while bound), the DNS filter's and the blocklist size.
   */
  readonly counterGroup: CounterGroup = {
    group: 'inline',
    forEach: (visit) => {
      this.table.forEach(visit);
      if (this.#source !== null) this.#source.counters.forEach(visit);
      else this.#queueTable.forEach(visit);
      this.#dns.table.forEach(visit);
      visit('dns.blocklist.size', this.#dns.blocklistSize, 'names on the DNS blocklist (a level, not a total)');
    },
  };

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
    return this.#rulesInstalled && this.#source !== null && this.#source.running;
  }

  #open(): void {
    const s = this.#settings;
    this.#backend = s.backend === 'auto' ? detectQueueBackend() : s.backend;
    // Sockets open on the first answer: with action drop none is needed (a failure is counted then).
    this.#raw = new RawSender();
    const source = new NfqueueSource({
      queue: s.queue,
      queues: s.queues,
      queueOptions: { maxlen: s.maxlen, copyBytes: s.copyBytes, failOpen: s.failOpen, gso: false, rcvbufBytes: s.rcvbufBytes, noEnobufs: true, watchdogMs: s.watchdogMs },
      log: this.#log,
      table: this.#queueTable,
    });
    this.#source = source;
    source.start(this.#decide);
    // Marked first: a half-installed rule set (iptables rule by rule) is removed by stop() too.
    this.#rulesInstalled = true;
    installQueueRules(this.#backend, { queue: s.queue, queues: s.queues, cpuFanout: s.cpuFanout, dns: s.dns, tcpPorts: s.tcpPorts, forward: s.forward });
    this.#log.info(
      { 'event.action': 'inline-started', 'inline.backend': this.#backend, 'inline.queues': `${s.queue}-${s.queue + s.queues - 1}`, 'inline.dns': s.dns, 'inline.tcp_ports': s.tcpPorts, 'inline.forward': s.forward, 'dns.action': this.#dnsSettings.action, 'dns.blocklist.size': this.#dns.blocklistSize },
      `inline mode on (${this.#backend}, queue ${s.queue}${s.queues > 1 ? `-${s.queue + s.queues - 1}` : ''}); ${this.#dns.blocklistSize} blocked name(s)`,
    );
  }

  /** Removes the rules, then closes the queues (what is still queued is accepted). Idempotent. */
  stop(): void {
    if (this.#rulesInstalled) {
      removeQueueRules(this.#backend);
      this.#rulesInstalled = false;
    }
    this.#source?.close();
    this.#source = null;
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
    const out: Record<string, number> = {};
    this.counterGroup.forEach((name, value) => (out[name] = value));
    return out;
  }

  /** The verdict for one decoded queued packet (raw IP). */
  #verdict(p: Packet, hook: number): Verdict {
    const c = this.#c;
    if (!p.valid || p.ipVersion === 0) {
      c[C['inline.undecodable']]++;
      c[C['inline.accepted']]++;
      return VERDICT_ACCEPT;
    }
    if ((p.protocol === 17 || p.protocol === 6) && (p.dstPort === DNS_PORT || p.srcPort === DNS_PORT) && this.#settings.dns && !p.laterFragment) {
      const v = this.#dns.decide(p);
      if (v.reply !== null) this.#inject(v.reply);
      if (v.accept) {
        c[C['inline.accepted']]++;
        return VERDICT_ACCEPT;
      }
      c[C['inline.dropped']]++;
      return VERDICT_DROP;
    }
    if (p.protocol === 6 && (hook === HOOK_IN || hook === 2) && this.#isBlocked !== undefined && this.#isBlocked(p)) {
      c[C['inline.tcp.dropped']]++;
      c[C['inline.dropped']]++;
      return VERDICT_DROP;
    }
    if (p.protocol === 6) c[C['inline.tcp.accepted']]++;
    c[C['inline.accepted']]++;
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
      this.#c[C['inline.injected']]++;
      return;
    }
    this.#c[C['inline.inject_failed']]++;
    this.#logError('dns-answer-failed', `the answer to a blocked query could not be sent: ${outcome}`, outcome);
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
