import { formatIPv6 } from '../net/address.js';
import { formatAddressKey, type AddressKey, type IncidentRecord } from '../model/incident.js';
import type { Packet } from '../model/packet.js';
import { compareAddressKeys, Incident, isoTime } from './incident.js';
import { firstWindowReached } from './windowed-count.js';
import type { WindowThreshold } from './settings.js';
import { describeTrigger } from './vertical-scan.js';

/** How a host discovery on the link asked: ARP who-has (IPv4) or ICMPv6 neighbour solicitation. */
export type LinkSweepClass = 'arp' | 'nd';

/** Distinct asked-for addresses a sender keeps exactly; past it the count goes on, the set stops growing. */
const MAX_REMEMBERED_TARGETS = 4096;
/** Senders tracked at once: a link has few, and a spoofed ARP storm must not grow memory without end. */
const MAX_SENDERS = 16_384;
const SAMPLE_SIZE = 20;
/** How long a request may wait for its answer before it counts as unanswered. */
export const ANSWER_GRACE_MS = 1000;

export interface LinkSweepSettings {
  /** Distinct addresses asked for within a window that make a sweep (the IP sweep's windows). */
  windows: readonly WindowThreshold[];
  /** Share of them that must go unanswered, where answers are visible (the IP sweep's minFailureRatio). */
  minFailureRatio: number;
}

/** One sender asking the link for many addresses: nmap -sn on a LAN, arp-scan, netdiscover, nmap -6 -sn. */
export class LinkSweepIncident extends Incident {
  readonly kind = 'sweep' as const;
  requests = 0;

  constructor(
    readonly linkClass: LinkSweepClass,
    readonly source: AddressKey,
    private readonly sender: SenderState,
    nowMs: number,
    trigger: string,
  ) {
    super(sender.firstMs, trigger);
    this.lastMs = nowMs;
  }

  toRecord(): IncidentRecord {
    const s = this.sender;
    const sample = [...s.targets].sort(compareAddressKeys).slice(0, SAMPLE_SIZE).map(formatAddressKey);
    return {
      kind: 'sweep',
      class: this.linkClass,
      'source.ip': formatAddressKey(this.source),
      hosts: { count: s.distinct, sample },
      probes: s.requests,
      first_seen: isoTime(s.firstMs),
      last_seen: isoTime(s.lastMs),
      // Nothing but a discovery tool asks a link for this many fresh addresses this fast.
      confidence: 0.95,
      evidence: {
        trigger: describeTrigger(this.trigger),
        asked: this.linkClass === 'arp' ? 'ARP who-has (broadcast)' : 'neighbour solicitations to solicited-node groups',
        requests: s.requests,
      },
    };
  }
}

class SenderState {
  firstMs: number;
  lastMs: number;
  requests = 0;
  distinct = 0;
  readonly targets = new Set<AddressKey>();
  /** Asked-for addresses seen answering this sender (ARP replies, neighbour advertisements). */
  readonly answered = new Set<AddressKey>();
  /** When a window threshold was reached and the answers are awaited (NaN: not waiting). */
  reachedMs = Number.NaN;
  reachedTrigger = '';
  /** First-asked time of each distinct target, ascending, while no incident is open (windowed counts). */
  readonly times: number[] = [];
  readonly starts: number[];
  incident: LinkSweepIncident | null = null;

  constructor(
    readonly linkClass: LinkSweepClass,
    nowMs: number,
    windows: number,
  ) {
    this.firstMs = nowMs;
    this.lastMs = nowMs;
    this.starts = new Array<number>(windows).fill(0);
  }
}

/**
 * Host discovery on the local link, which the IP detectors never see: one sender asking for many
 * addresses of its subnet. Only requests that reach everyone count, because that is how a discovery
 * tool asks: a broadcast ARP who-has, a neighbour solicitation to a solicited-node multicast group.
 * A router refreshing its cache asks its neighbours by unicast; a gratuitous ARP (sender asks for
 * itself), an RFC 5227 address probe (sender 0.0.0.0, as DHCP clients send) and duplicate-address
 * detection (source ::) ask nothing of anyone else and are left out. Where the answers are visible
 * (the asker is this host, or a mirror port sees both sides), a sender whose questions were mostly
 * answered is resolving neighbours it really talks to, as a host or router starting up does: a sweep
 * asks mostly for addresses nobody holds. So a threshold reached is judged once the answers had
 * ANSWER_GRACE_MS to arrive.
 */
export class LinkSweepDetector {
  readonly #windows: readonly WindowThreshold[];
  readonly #minFailureRatio: number;
  readonly #longestMs: number;
  readonly #report: (incident: LinkSweepIncident) => void;
  readonly #senders = new Map<AddressKey, SenderState>();
  /** Senders that reached a threshold and wait for their answers. */
  readonly #waiting = new Map<AddressKey, SenderState>();

  constructor(settings: LinkSweepSettings, report: (incident: LinkSweepIncident) => void) {
    this.#windows = settings.windows;
    this.#minFailureRatio = settings.minFailureRatio;
    this.#longestMs = Math.max(...settings.windows.map((w) => w.windowMs));
    this.#report = report;
  }

  get senders(): number {
    return this.#senders.size;
  }

  /** An ARP packet (`p.arpOp` set). */
  arp(p: Packet, nowMs: number): void {
    const sender = p.src4 | 0;
    const target = p.dst4 | 0;
    if (p.arpOp === 2) {
      // A reply: `sender` holds the address `target` asked for.
      this.#senders.get(target)?.answered.add(sender);
      return;
    }
    if (p.arpUnicast || sender === 0 || sender === target) return;
    this.#asked('arp', sender, target, nowMs);
  }

  /**
   * Judges the senders whose answers are due (all of them at the end of the input: `nowMs` Infinity).
   * Called with the engine's clock tick.
   */
  judge(nowMs: number): void {
    for (const [key, s] of this.#waiting) {
      if (nowMs - s.reachedMs < ANSWER_GRACE_MS) continue;
      this.#waiting.delete(key);
      this.#decide(s.linkClass, key, s, Math.min(nowMs, s.lastMs));
    }
  }

  /** An ICMPv6 neighbour solicitation or advertisement (`p.ndTarget6Offset` set). */
  nd(p: Packet, nowMs: number): void {
    const b = p.buf;
    const src = p.src6Offset;
    const dst = p.dst6Offset;
    if (p.icmpType === 136) {
      // An advertisement to the one who asked: the address it announces is answered.
      if (b[dst] !== 0xff) this.#senders.get(formatIPv6(b, dst))?.answered.add(formatIPv6(b, p.ndTarget6Offset));
      return;
    }
    // Solicited-node multicast ff02::1:ffXX:XXXX: address resolution, not a unicast reachability check.
    if (b[dst] !== 0xff || b[dst + 1] !== 0x02 || b[dst + 11] !== 0x01 || b[dst + 12] !== 0xff) return;
    let unspecified = true;
    for (let i = 0; i < 16; i++) if (b[src + i] !== 0) unspecified = false;
    if (unspecified) return;
    this.#asked('nd', formatIPv6(b, src), formatIPv6(b, p.ndTarget6Offset), nowMs);
  }

  #asked(cls: LinkSweepClass, senderKey: AddressKey, target: AddressKey, nowMs: number): void {
    let s = this.#senders.get(senderKey);
    if (s !== undefined && nowMs - s.lastMs > this.#longestMs && Number.isNaN(s.reachedMs)) {
      this.#senders.delete(senderKey);
      s = undefined;
    }
    if (s === undefined) {
      if (this.#senders.size >= MAX_SENDERS) this.#forget(nowMs);
      s = new SenderState(cls, nowMs, this.#windows.length);
      this.#senders.set(senderKey, s);
    }
    s.requests++;
    s.lastMs = nowMs;
    if (!Number.isNaN(s.reachedMs) && nowMs - s.reachedMs >= ANSWER_GRACE_MS) {
      // The sender asks on: judge it now rather than at the next clock tick.
      this.#waiting.delete(senderKey);
      this.#decide(cls, senderKey, s, nowMs);
    }
    const incident = s.incident;
    if (incident !== null) incident.lastMs = nowMs;
    if (s.targets.has(target)) return;
    if (s.targets.size < MAX_REMEMBERED_TARGETS) s.targets.add(target);
    s.distinct++;
    if (incident !== null) return;
    s.times.push(nowMs);
    if (!Number.isNaN(s.reachedMs)) return;
    const reached = firstWindowReached(s.times, s.starts, this.#windows, nowMs);
    if (reached < 0) return;
    s.reachedMs = nowMs;
    s.reachedTrigger = `window:${this.#windows[reached].windowMs}`;
    this.#waiting.set(senderKey, s);
  }

  #decide(cls: LinkSweepClass, senderKey: AddressKey, s: SenderState, nowMs: number): void {
    const trigger = s.reachedTrigger;
    s.reachedMs = Number.NaN;
    if (s.answered.size > s.distinct * (1 - this.#minFailureRatio)) {
      // Mostly answered: neighbours in use. Count afresh from here.
      s.times.length = 0;
      s.starts.fill(0);
      return;
    }
    s.incident = new LinkSweepIncident(cls, senderKey, s, nowMs, trigger);
    s.times.length = 0;
    this.#report(s.incident);
  }

  /** Room for one more sender: the idle ones go, else the oldest (the map keeps insertion order). */
  #forget(nowMs: number): void {
    for (const [key, s] of this.#senders) if (nowMs - s.lastMs > this.#longestMs && Number.isNaN(s.reachedMs)) this.#senders.delete(key);
    if (this.#senders.size < MAX_SENDERS) return;
    const oldest = this.#senders.keys().next();
    if (oldest.done !== true) {
      this.#senders.delete(oldest.value);
      this.#waiting.delete(oldest.value);
    }
  }
}
