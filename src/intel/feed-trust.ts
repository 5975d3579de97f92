/**
 * Feed trust (`decide.feedTrust`): a source the threat feeds list with enough weight is believed
 * sooner. Where detection waits for the evidence of a scan (TRW, distinct ports), a listed address
 * that probes is reported as a scan after `probes` probes (1: the first), and decide bans it as it
 * bans any scan (the lockout guard and the allowlist still refuse protected addresses). The incident
 * names the feeds (`threat.feeds`) and says why in its evidence.
 *
 * Sees detection's packets (first contacts, through NFLOG's prefilter), so a `drop` feed's addresses
 * never reach it (the kernel drops them first): it is what makes `action: alert` feeds ban scanners.
 * Per packet: one flag test, and a feed lookup only for a probe (SYN, FIN/NULL/XMAS and the like,
 * UDP, echo request). Per-source counts are bounded (oldest forgotten first) and reset after the report.
 */
import { classifyTcpFlags } from '../detect/probe-class.js';
import type { IncidentRecord } from '../model/incident.js';
import type { FeedMatch, FeedMembership } from '../model/intel.js';
import { IpProtocol, type Packet } from '../model/packet.js';
import { PROBE_CLASS_NAMES, ProbeClass, type ProbeClassName } from '../model/probe.js';
import { formatIPv4, formatIPv6 } from '../net/address.js';

export interface FeedTrustSettings {
  /** Sum of the listing feeds' weights from which a source is trusted to be hostile. */
  minWeight: number;
  /** Probes from such a source that make a scan incident (1: the first). */
  probes: number;
}

/** Sources remembered at once; past it the oldest is forgotten (a spoofed storm costs memory once). */
const MAX_SOURCES = 65_536;
/** A source reported within this much packet time is not reported again (decide keeps its ban). */
const REPORT_AGAIN_AFTER_MS = 60_000;

interface Seen {
  probes: number;
  firstMs: number;
  ports: Set<string>;
  cls: ProbeClassName;
  destination: string;
}

function probeClass(p: Packet): number {
  switch (p.protocol) {
    case IpProtocol.TCP:
      return p.laterFragment ? -1 : classifyTcpFlags(p.tcpFlags);
    case IpProtocol.UDP:
      return ProbeClass.udp;
    case IpProtocol.ICMP:
      return p.icmpType === 8 ? ProbeClass.icmp : -1;
    case IpProtocol.ICMPV6:
      return p.icmpType === 128 ? ProbeClass.icmp : -1;
    default:
      return -1;
  }
}

function sourceOf(p: Packet): string {
  return p.ipVersion === 4 ? formatIPv4(p.src4) : formatIPv6(p.buf, p.src6Offset);
}

function destinationOf(p: Packet): string {
  return p.ipVersion === 4 ? formatIPv4(p.dst4) : formatIPv6(p.buf, p.dst6Offset);
}

function portOf(p: Packet, cls: number): string {
  if (cls === ProbeClass.icmp) return 'icmp/echo';
  return `${p.protocol === IpProtocol.UDP ? 'udp' : 'tcp'}/${p.dstPort}`;
}

/** The incident a trusted feed listing makes of a source's probes. */
class FeedTrustIncident {
  constructor(
    readonly source: string,
    readonly seen: Seen,
    readonly lastMs: number,
    readonly feeds: readonly FeedMatch[],
    readonly settings: FeedTrustSettings,
  ) {}

  toRecord(): IncidentRecord {
    const names = [...new Set(this.feeds.map((f) => f.feed))].sort();
    const ports = [...this.seen.ports];
    return {
      kind: 'scan',
      class: this.seen.cls,
      'source.ip': this.source,
      'destination.ip': this.seen.destination,
      ...(ports.length === 1 ? { 'destination.port': ports[0] } : {}),
      ports: { count: ports.length, sample: ports.slice(0, 10) },
      probes: this.seen.probes,
      first_seen: new Date(this.seen.firstMs).toISOString(),
      last_seen: new Date(this.lastMs).toISOString(),
      confidence: 1,
      evidence: {
        trigger: 'feed-trust',
        feeds: this.feeds.map((f) => ({ feed: f.feed, entry: f.entry, ...(f.line === undefined ? {} : { line: f.line }), weight: f.weight })),
        feed_weight: weightOf(this.feeds),
        min_weight: this.settings.minWeight,
        probes_needed: this.settings.probes,
      },
      'threat.feeds': names,
    };
  }
}

function weightOf(feeds: readonly FeedMatch[]): number {
  const byFeed = new Map<string, number>();
  for (const f of feeds) byFeed.set(f.feed, Math.max(byFeed.get(f.feed) ?? 0, f.weight));
  return [...byFeed.values()].reduce((a, b) => a + b, 0);
}

export class FeedTrust {
  readonly #settings: FeedTrustSettings;
  readonly #feeds: FeedMembership;
  readonly #report: (incident: { toRecord(): IncidentRecord }) => void;
  readonly #seen = new Map<string, Seen>();
  /** Source → packet time of its report. */
  readonly #reported = new Map<string, number>();
  /** Incidents reported so far. */
  reports = 0;

  constructor(settings: FeedTrustSettings, feeds: FeedMembership, report: (incident: { toRecord(): IncidentRecord }) => void) {
    this.#settings = settings;
    this.#feeds = feeds;
    this.#report = report;
  }

  /** Detection's packet tap: call before (or after) the engine, with the same reused Packet. */
  readonly onPacket = (p: Packet): void => {
    if (p.ipVersion === 0 || !p.valid) return;
    const cls = probeClass(p);
    if (cls < 0) return;
    const source = sourceOf(p);
    const nowMs = Math.floor(p.tsUs / 1000);
    const reportedAt = this.#reported.get(source);
    if (reportedAt !== undefined) {
      if (nowMs - reportedAt < REPORT_AGAIN_AFTER_MS) return;
      this.#reported.delete(source);
    }
    const feeds = this.#feeds.feedsOf(source);
    if (feeds.length === 0 || weightOf(feeds) < this.#settings.minWeight) return;
    let seen = this.#seen.get(source);
    if (seen === undefined) {
      if (this.#seen.size >= MAX_SOURCES) this.#seen.delete(this.#seen.keys().next().value as string);
      seen = { probes: 0, firstMs: nowMs, ports: new Set(), cls: PROBE_CLASS_NAMES[cls], destination: destinationOf(p) };
      this.#seen.set(source, seen);
    }
    seen.probes++;
    if (seen.ports.size < 64) seen.ports.add(portOf(p, cls));
    if (seen.probes < this.#settings.probes) return;
    this.#seen.delete(source);
    if (this.#reported.size >= MAX_SOURCES) this.#reported.delete(this.#reported.keys().next().value as string);
    this.#reported.set(source, nowMs);
    this.reports++;
    this.#report(new FeedTrustIncident(source, seen, nowMs, feeds, this.#settings));
  };
}
