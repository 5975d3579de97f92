import type { DetectionSettings } from './settings.js';
import { HyperLogLog } from './hyperloglog.js';
import { Incident, compareAddressKeys, isoTime } from './incident.js';
import { formatAddressKey, type AddressKey, type IncidentRecord } from '../model/incident.js';
import { TcpFlag, type Packet } from '../model/packet.js';
import { WindowState } from './window-state.js';

/**
 * Reflection: answers the protected side never asked for. An attacker sends requests with the victim's
 * address as their source to many real servers (DNS resolvers, NTP, memcached, IKE, web servers), and
 * their answers (DNS responses, SYN-ACKs, RSTs, ICMP errors) flood the victim. The reflectors are real,
 * innocent servers: one incident against the victim names the service and how many reflectors there
 * were, and never any source to ban.
 *
 * An answer is unsolicited when it opens no known flow (the engine asks only then). Service keys:
 * the reflector's UDP source port (udp/53 …), or one of the fixed keys below.
 */
export const ReflectionService = {
  synAck: 1 << 16,
  rst: (1 << 16) + 1,
  icmpError: (1 << 16) + 2,
} as const;

const SERVICE_NAMES: Readonly<Record<number, string>> = {
  [ReflectionService.synAck]: 'tcp syn-ack',
  [ReflectionService.rst]: 'tcp rst',
  [ReflectionService.icmpError]: 'icmp error',
  19: 'chargen (udp/19)',
  53: 'dns (udp/53)',
  123: 'ntp (udp/123)',
  161: 'snmp (udp/161)',
  389: 'cldap (udp/389)',
  500: 'ike (udp/500)',
  1900: 'ssdp (udp/1900)',
  4500: 'ike (udp/4500)',
  11211: 'memcached (udp/11211)',
};

export function serviceName(key: number): string {
  return SERVICE_NAMES[key] ?? `udp/${key}`;
}

/**
 * Whether a UDP datagram is an answer of a service that reflectors are abused for, judged by its
 * source port and the first bytes of its payload, so a scanner that only borrows the port (nmap -g 53,
 * empty datagrams or queries) is still a scanner. Returns the service key (the source port), or -1.
 */
export function udpAnswerService(p: Packet): number {
  const port = p.srcPort;
  const b = p.buf;
  const at = p.payloadOffset;
  const n = p.payloadLength;
  switch (port) {
    case 53: // DNS: a header with the QR bit set
      return n >= 12 && (b[at + 2] & 0x80) !== 0 ? port : -1;
    case 123: {
      // NTP: server (4), broadcast (5), or a mode-7 answer (monlist: response bit set)
      if (n < 4) return -1;
      const mode = b[at] & 7;
      return mode === 4 || mode === 5 || (mode === 7 && (b[at] & 0x80) !== 0) ? port : -1;
    }
    case 500: // IKE: the responder's SPI (bytes 8-15) is set only in answers
      return n >= 28 && ikeResponder(b, at + 8) ? port : -1;
    case 4500: // IKE over NAT-T: a zero non-ESP marker, then the IKE header
      return n >= 32 && b.readUInt32BE(at) === 0 && ikeResponder(b, at + 12) ? port : -1;
    case 1900: // SSDP: an HTTP status line ("HTTP/1.1 200 OK"), not M-SEARCH
      return n >= 5 && b[at] === 0x48 && b[at + 1] === 0x54 && b[at + 2] === 0x54 && b[at + 3] === 0x50 && b[at + 4] === 0x2f ? port : -1;
    case 161: // SNMP and CLDAP: a BER sequence from the service port to another port
    case 389:
      return n >= 2 && b[at] === 0x30 && p.dstPort !== port ? port : -1;
    case 11211: // memcached: its 8-byte UDP frame header and an answer from the service port
    case 19: // chargen: anything it sends is an answer
      return n >= (port === 19 ? 1 : 8) && p.dstPort !== port ? port : -1;
    default:
      return -1;
  }
}

function ikeResponder(b: Buffer, at: number): boolean {
  return b.readUInt32BE(at) !== 0 || b.readUInt32BE(at + 4) !== 0;
}

/** The service key of a TCP packet that opens no flow when it is an answer (SYN-ACK, RST), else -1. */
export function tcpAnswerService(flags: number): number {
  const { SYN, ACK, RST } = TcpFlag;
  if ((flags & (SYN | ACK | RST)) === (SYN | ACK)) return ReflectionService.synAck;
  if ((flags & (SYN | RST)) === RST) return ReflectionService.rst;
  return -1;
}

const SOURCE_SKETCH_FROM = 64;
const SAMPLE = 10;
/** Services counted per victim and window (a reflection uses one or two). */
const MAX_SERVICES = 8;

/** Unsolicited answers to one address in the current window. */
export class VictimState extends WindowState {
  count = 0;
  /** Service keys and their counts this window, side by side. */
  readonly services: number[] = [];
  readonly serviceCounts: number[] = [];
  reflectors: HyperLogLog | null = null;
  readonly sample: AddressKey[] = [];
  incident: ReflectionIncident | null = null;
  /** Until then the victim is under reflection: its unsolicited answers get no flow. */
  untilMs = -Infinity;

  constructor(
    readonly key: AddressKey,
    nowMs: number,
  ) {
    super(nowMs);
  }
}

/**
 * Counts unsolicited answers per victim in windows of `flood.windowMs`; a window with at least
 * `flood.reflectionPerSecond` of them opens (or extends) the victim's reflection incident. State is
 * per victim only (never per reflector: a sketch counts them), at most `limits.maxTargets` victims,
 * each forgotten two windows after its last answer.
 */
export class ReflectionDetector {
  readonly #s: DetectionSettings['flood'];
  readonly #threshold: number;
  readonly #maxVictims: number;
  readonly #victims = new Map<AddressKey, VictimState>();
  /** Incidents opened since the last call of the engine (usually none). */
  readonly opened: ReflectionIncident[] = [];
  /** Victims not tracked because the map was full. */
  refused = 0;

  constructor(s: DetectionSettings['flood'], maxVictims: number) {
    this.#s = s;
    this.#threshold = Math.max(1, Math.ceil((s.reflectionPerSecond * s.windowMs) / 1000));
    this.#maxVictims = maxVictims;
  }

  get size(): number {
    return this.#victims.size;
  }

  /**
   * Counts an unsolicited answer of `service` from `reflector` to `victim`. Returns whether the victim
   * is under reflection now (the engine then keeps no flow for it).
   */
  count(victim: AddressKey, reflector: AddressKey, reflectorHash: number, service: number, nowMs: number): boolean {
    let v = this.#victims.get(victim);
    if (v === undefined) {
      if (this.#victims.size >= this.#maxVictims) {
        this.refused++;
        return false;
      }
      v = new VictimState(victim, nowMs);
      this.#victims.set(victim, v);
    } else if (nowMs - v.windowStartMs >= this.#s.windowMs) this.#closeWindow(v, nowMs);
    v.lastMs = nowMs;
    const n = ++v.count;
    const i = v.services.indexOf(service);
    if (i >= 0) v.serviceCounts[i]++;
    else if (v.services.length < MAX_SERVICES) {
      v.services.push(service);
      v.serviceCounts.push(1);
    }
    if (v.reflectors !== null) v.reflectors.add(reflectorHash);
    else if (n >= SOURCE_SKETCH_FROM) {
      v.reflectors = new HyperLogLog();
      v.reflectors.add(reflectorHash);
    }
    if (v.sample.length < SAMPLE && !v.sample.includes(reflector)) v.sample.push(reflector);
    if (v.incident !== null && nowMs <= v.untilMs) v.incident.lastMs = nowMs;
    // Past the rate within the window: no flows for its answers from now on, before the window closes.
    if (n >= this.#threshold && v.untilMs < v.windowStartMs + this.#s.windowMs) v.untilMs = v.windowStartMs + this.#s.windowMs;
    return nowMs <= v.untilMs;
  }

  /** Closes every window whose time is up (`force`: every window, at the end of input), and forgets idle victims. */
  closeDue(nowMs: number, force: boolean): void {
    const idleMs = 2 * this.#s.windowMs;
    for (const v of this.#victims.values()) {
      if (v.count > 0 && (force || nowMs - v.windowStartMs >= this.#s.windowMs)) this.#closeWindow(v, nowMs);
      if (nowMs - v.lastMs > idleMs && nowMs > v.untilMs) this.#victims.delete(v.key);
    }
  }

  #closeWindow(v: VictimState, nowMs: number): void {
    const n = v.count;
    if (n >= this.#threshold) {
      let incident = v.incident;
      if (incident === null) {
        incident = new ReflectionIncident(v.key, v.windowStartMs);
        v.incident = incident;
        this.opened.push(incident);
      }
      incident.addWindow(v, n, Math.round((n * 1000) / this.#s.windowMs));
      v.untilMs = nowMs + 2 * this.#s.windowMs;
    }
    v.count = 0;
    v.services.length = 0;
    v.serviceCounts.length = 0;
    v.reflectors = null;
    v.windowStartMs = nowMs;
  }
}

/** A reflection flood against one victim: kind `flood`, class `reflection`, no source (the reflectors are innocent). */
export class ReflectionIncident extends Incident {
  readonly kind = 'flood' as const;
  packets = 0;
  windows = 0;
  peakRate = 0;
  /** Reflectors of every window over the rate, together (windows under it only name some in the sample). */
  readonly #reflectors = new HyperLogLog();
  readonly services = new Map<number, number>();
  readonly sample: AddressKey[] = [];

  constructor(
    readonly victim: AddressKey,
    startMs: number,
  ) {
    super(startMs, 'rate');
  }

  addWindow(v: VictimState, n: number, rate: number): void {
    this.packets += n;
    this.windows++;
    if (rate > this.peakRate) this.peakRate = rate;
    if (v.reflectors !== null) this.#reflectors.merge(v.reflectors);
    for (let i = 0; i < v.services.length; i++) this.services.set(v.services[i], (this.services.get(v.services[i]) ?? 0) + v.serviceCounts[i]);
    for (const r of v.sample) if (this.sample.length < SAMPLE && !this.sample.includes(r)) this.sample.push(r);
    this.lastMs = Math.max(this.lastMs, v.lastMs);
  }

  /** The service that sent most of the answers. */
  mainService(): number {
    let best = -1;
    let most = -1;
    for (const [service, n] of this.services) {
      if (n > most) {
        most = n;
        best = service;
      }
    }
    return best;
  }

  /** Distinct reflectors, estimated (about 3% off), and at least those in the sample. */
  reflectors(): number {
    return Math.max(this.sample.length, this.#reflectors.estimate());
  }

  toRecord(): IncidentRecord {
    const reflectors = this.reflectors();
    const services: Record<string, number> = {};
    for (const [service, n] of [...this.services].sort((a, b) => b[1] - a[1])) services[serviceName(service)] = n;
    return {
      kind: 'flood',
      class: 'reflection',
      'destination.ip': formatAddressKey(this.victim),
      probes: this.packets,
      first_seen: isoTime(this.firstMs),
      last_seen: isoTime(this.lastMs),
      confidence: 0.9,
      evidence: {
        trigger: 'rate',
        reflecting_service: serviceName(this.mainService()),
        services,
        reflectors,
        distinct_sources: reflectors,
        // The reflectors are real servers answering requests forged in the victim's name: never banned.
        spoofed_sources: false,
        sources_sample: [...this.sample].sort(compareAddressKeys).map(formatAddressKey),
        peak_packets_per_second: this.peakRate,
        windows_over_threshold: this.windows,
      },
    };
  }
}
