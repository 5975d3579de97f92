/**
 * The DNS half of inline mode: for each queued DNS packet, the verdict (accept, or drop with an
 * answer injected in its place) and the query log.
 *
 * Policy at the edges (each counted in `counters`):
 * - a response, or a packet without a question (a bare TCP ACK): accepted, not logged;
 * - a malformed message: accepted or dropped as `malformed` says (default accept: a filter that
 *   cannot read a packet must not take DNS down), never an exception;
 * - a blocked name: `action` drop (no answer: the client times out), nxdomain, or sinkhole (A and
 *   AAAA answered with the configured addresses, other types with an empty NOERROR); over TCP the
 *   query is dropped and, unless the action is drop, the connection reset;
 * - answers (and resets) are rate-limited per source and in all (`answerLimit`): a query's source
 *   can be spoofed, and answering every one would make this host a reflector. Over the limit the
 *   query is still dropped, unanswered (`dns.answer_suppressed`).
 * A TCP segment may carry several length-prefixed queries: every complete one is checked.
 */
import { DecodeEvent, DecodeStats } from '../decode/events.js';
import type { Packet } from '../model/packet.js';
import { dnsQuestion } from '../decode/dns.js';
import { formatIPv4, formatIPv6 } from '../net/address.js';
import { u16 } from '../decode/bytes.js';
import type { EventLogger } from '../model/logger.js';
import { CounterTable, counterIds } from '../model/counters.js';
import type { Blocklist, BlocklistMatch } from './blocklist.js';
import { SourceLimiter, TokenBucket } from '../net/rate-limit.js';
import { buildTcpReset, buildUdpAnswer, Rcode } from './answer.js';

export type DnsAction = 'drop' | 'nxdomain' | 'sinkhole';

export interface DnsFilterSettings {
  action: DnsAction;
  /** Sinkhole answers: A records (4 bytes) and AAAA records (16 bytes). */
  sinkhole4: Uint8Array;
  sinkhole6: Uint8Array;
  answerTtlSeconds: number;
  malformed: 'accept' | 'drop';
  /** all: every query; blocked: only blocked ones; none. */
  logQueries: 'all' | 'blocked' | 'none';
  /** Caps on answers (and TCP resets) to blocked queries: in all, and per source address. */
  answerLimit: AnswerLimit;
}

export interface AnswerLimit {
  maxPerSecond: number;
  burst: number;
  perSourcePerSecond: number;
  perSourceBurst: number;
  maxSources: number;
}

/** What to do with one packet: `reply`, when set, is an IP packet to send in its place. */
export interface DnsVerdict {
  accept: boolean;
  reply: Buffer | null;
}

/** The DNS filter's counters (names as status shows them), each with what it counts. */
export const DnsCounterDoc = {
  'dns.queries': 'DNS queries checked against the blocklist (every query of a TCP segment)',
  'dns.blocked': 'queries for a blocked name (dropped)',
  'dns.allowed': 'queries for a name not on the blocklist (accepted)',
  'dns.malformed': 'port-53 packets that are not a parsable DNS message (accepted or dropped as dns.malformed says)',
  'dns.answered': 'blocked UDP queries answered in their place (NXDOMAIN or sinkhole)',
  'dns.reset': 'blocked TCP queries whose connection was reset',
  'dns.unanswerable': 'blocked queries no answer could be built for (dropped unanswered)',
  'dns.answer_suppressed': 'answers or resets not sent: over the per-source or global answer rate (the query still dropped)',
  'dns.other': 'port-53 packets with no question to check (responses, bare TCP segments, other protocols): accepted',
} as const;
export type DnsCounter = keyof typeof DnsCounterDoc;
export const DNS_COUNTERS = Object.keys(DnsCounterDoc) as DnsCounter[];
const C = counterIds(DnsCounterDoc);

const TYPE_NAMES: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY' };

const DNS_MALFORMED = DecodeEvent['dns.malformed'];
const ACCEPT: DnsVerdict = Object.freeze({ accept: true, reply: null });
const DROP: DnsVerdict = Object.freeze({ accept: false, reply: null });

export class DnsFilter {
  #blocklist: Blocklist;
  #settings: DnsFilterSettings;
  readonly #log: EventLogger;
  readonly #decodeStats = new DecodeStats();
  /** Milliseconds, monotonic; tests drive it. */
  readonly #now: () => number;
  #perSource: SourceLimiter;
  #global: TokenBucket;
  /** The counts, by handle (register `table` with the counter registry). */
  readonly table = new CounterTable('dns', DnsCounterDoc);
  readonly #c = this.table.values;

  constructor(blocklist: Blocklist, settings: DnsFilterSettings, log: EventLogger, now: () => number = () => performance.now()) {
    this.#blocklist = blocklist;
    this.#settings = settings;
    this.#log = log;
    this.#now = now;
    [this.#perSource, this.#global] = this.#limiters(settings.answerLimit);
  }

  /** Swaps list and settings at once (reload): the next packet sees the new ones. Changed answer caps start full. */
  replace(blocklist: Blocklist, settings: DnsFilterSettings): void {
    const limits = JSON.stringify(settings.answerLimit) !== JSON.stringify(this.#settings.answerLimit) ? this.#limiters(settings.answerLimit) : null;
    this.#blocklist = blocklist;
    this.#settings = settings;
    if (limits !== null) [this.#perSource, this.#global] = limits;
  }

  /** @throws RangeError for rates or bursts out of range (the config schema refuses them first). */
  #limiters(l: AnswerLimit): [SourceLimiter, TokenBucket] {
    return [new SourceLimiter(l.perSourcePerSecond, l.perSourceBurst, l.maxSources), new TokenBucket(l.maxPerSecond, l.burst, this.#now())];
  }

  /**
   * Whether a blocked query from this packet's source may be answered now. The source's own bucket
   * first, so one flooding (or spoofed) source cannot spend the global budget the others need.
   */
  #mayAnswer(p: Packet): boolean {
    const now = this.#now();
    if (this.#perSource.take(sourceIp(p), now) && this.#global.take(now)) return true;
    this.#c[C['dns.answer_suppressed']]++;
    return false;
  }

  /** Name → count (status, tests); the hot path counts through `table`. */
  get counters(): Record<DnsCounter, number> {
    return this.table.toRecord();
  }

  get blocklistSize(): number {
    return this.#blocklist.size;
  }

  /** The verdict for a decoded packet to or from port 53 (UDP or TCP). Never throws on packet content. */
  decide(p: Packet): DnsVerdict {
    if (p.protocol === 17) return this.#udp(p);
    if (p.protocol === 6) return this.#tcp(p);
    this.#c[C['dns.other']]++;
    return ACCEPT;
  }

  #udp(p: Packet): DnsVerdict {
    const before = this.#decodeStats.counts[DNS_MALFORMED];
    const q = dnsQuestion(p, this.#decodeStats);
    if (q === null) {
      if (this.#decodeStats.counts[DNS_MALFORMED] !== before || p.payloadLength === 0) return this.#malformed(p);
      this.#c[C['dns.other']]++;
      return ACCEPT;
    }
    if (q.isResponse) {
      this.#c[C['dns.other']]++;
      return ACCEPT;
    }
    this.#c[C['dns.queries']]++;
    const match = this.#blocklist.match(q.name);
    this.#logQuery(p, q.name, q.type, match);
    if (match === null) {
      this.#c[C['dns.allowed']]++;
      return ACCEPT;
    }
    this.#c[C['dns.blocked']]++;
    const s = this.#settings;
    if (s.action === 'drop' || !this.#mayAnswer(p)) return DROP;
    const reply = buildUdpAnswer(p, {
      rcode: s.action === 'nxdomain' ? Rcode.NXDOMAIN : Rcode.NOERROR,
      address4: s.sinkhole4,
      address6: s.sinkhole6,
      ttlSeconds: s.answerTtlSeconds,
    });
    if (reply === null) this.#c[C['dns.unanswerable']]++;
    else this.#c[C['dns.answered']]++;
    return { accept: false, reply };
  }

  /** Every complete length-prefixed message in the segment; the first blocked one decides. */
  #tcp(p: Packet): DnsVerdict {
    if (p.payloadLength === 0) return ACCEPT;
    const buf = p.buf;
    const end = Math.min(p.payloadOffset + p.payloadLength, buf.length);
    let at = p.payloadOffset;
    let sawQuery = false;
    while (at + 2 <= end) {
      const length = u16(buf, at);
      const msgEnd = at + 2 + length;
      // A message continued in the next segment is not read (its first part was checked, or it
      // started in an earlier segment that was).
      if (length < 12 || msgEnd > end) break;
      // dnsQuestion reads a TCP payload as one message at payloadOffset: point it at this one.
      const payloadOffset = p.payloadOffset;
      const payloadLength = p.payloadLength;
      p.payloadOffset = at;
      p.payloadLength = msgEnd - at;
      const q = dnsQuestion(p, this.#decodeStats);
      p.payloadOffset = payloadOffset;
      p.payloadLength = payloadLength;
      if (q === null) return sawQuery ? ACCEPT : this.#malformed(p);
      if (!q.isResponse) {
        sawQuery = true;
        this.#c[C['dns.queries']]++;
        const match = this.#blocklist.match(q.name);
        this.#logQuery(p, q.name, q.type, match);
        if (match !== null) {
          this.#c[C['dns.blocked']]++;
          if (this.#settings.action === 'drop' || !this.#mayAnswer(p)) return DROP;
          const reply = buildTcpReset(p);
          if (reply !== null) this.#c[C['dns.reset']]++;
          return { accept: false, reply };
        }
        this.#c[C['dns.allowed']]++;
      }
      at = msgEnd;
    }
    if (!sawQuery) this.#c[C['dns.other']]++;
    return ACCEPT;
  }

  #malformed(p: Packet): DnsVerdict {
    this.#c[C['dns.malformed']]++;
    if (this.#settings.logQueries !== 'none') {
      this.#log.warn({ 'event.kind': 'event', 'event.action': 'dns-malformed', 'source.ip': sourceIp(p), 'network.transport': p.protocol === 6 ? 'tcp' : 'udp', 'event.outcome': this.#settings.malformed === 'drop' ? 'failure' : 'success' }, `malformed DNS packet from ${sourceIp(p)}: ${this.#settings.malformed === 'drop' ? 'dropped' : 'accepted'}`);
    }
    return this.#settings.malformed === 'drop' ? DROP : ACCEPT;
  }

  #logQuery(p: Packet, name: string, type: number, match: BlocklistMatch | null): void {
    const mode = this.#settings.logQueries;
    if (mode === 'none' || (mode === 'blocked' && match === null)) return;
    const blocked = match !== null;
    this.#log.info(
      {
        'event.kind': blocked ? 'alert' : 'event',
        'event.action': blocked ? 'dns-block' : 'dns-query',
        'event.outcome': blocked ? 'failure' : 'success',
        'dns.question.name': name,
        'dns.question.type': TYPE_NAMES[type] ?? `TYPE${type}`,
        'source.ip': sourceIp(p),
        'source.port': p.srcPort,
        'destination.ip': destinationIp(p),
        'destination.port': String(p.dstPort),
        'network.transport': p.protocol === 6 ? 'tcp' : 'udp',
        ...(blocked ? { 'rule.name': `dns-blocklist/${match.entry}`, 'dns.block.kind': match.kind, 'dns.block.action': this.#settings.action } : {}),
      },
      blocked ? `DNS query for ${name} blocked (${match.kind} ${match.entry})` : `DNS query for ${name}`,
    );
  }
}

function sourceIp(p: Packet): string {
  return p.ipVersion === 6 ? formatIPv6(p.buf, p.src6Offset) : formatIPv4(p.src4 >>> 0);
}

function destinationIp(p: Packet): string {
  return p.ipVersion === 6 ? formatIPv6(p.buf, p.dst6Offset) : formatIPv4(p.dst4 >>> 0);
}

