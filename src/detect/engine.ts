import type { DetectionSettings } from '../config/profiles.js';
import { formatIPv6 } from '../decode/address.js';
import { IpProtocol, TcpFlag, type Packet } from '../decode/packet.js';
import { ContactEvidence, type ContactThresholds } from './contact-evidence.js';
import { DETECTION_COUNTER_NAMES, DetectionCounter, type DetectionCounterName } from './counters.js';
import { DecoyFingerprints, DecoyGroup, DecoyIncident, fingerprint } from './decoy-scan.js';
import { DistributedIncident, DistributedState } from './distributed-scan.js';
import { FloodClass, FloodDetector, TargetState } from './flood.js';
import {
  contactClass,
  contactOsSyn,
  contactOutcome,
  contactPort,
  Outcome,
  packFirstContact,
  withHandshake,
  withOutcome,
} from './first-contact.js';
import { FlowState, FlowTable } from './flow-table.js';
import { formatAddressKey, PortFamily, type AddressKey, type Incident } from './incident.js';
import { PendingProbes } from './pending-probes.js';
import { PROBE_CLASS_COUNT, ProbeClass, classifyTcpFlags } from './probe-class.js';
import { SweepIncident } from './sweep.js';
import { TrwModel } from './trw.js';
import { ScanIncident } from './vertical-scan.js';

const { SYN, ACK, RST, PSH } = TcpFlag;
const TICK_MS = 250;
const EXPIRY_EVERY_MS = 10_000;
const FLOW_IDLE_MS = 10 * 60_000;
/** Sources looked at to pick one to forget when maxSources is reached (approximate LRU). */
const EVICTION_CANDIDATES = 8;

/**
 * A (source, target) pair's ports: a packed first contact (first-contact.ts) until a second distinct
 * port makes it full evidence.
 */
type PairPorts = ContactEvidence<number> | number;

/** Per-source state. Most sources send one probe and stay "light": their first probe is kept inline. */
class SourceState {
  lastMs: number;
  probes = 0;
  firstTarget: AddressKey = 0;
  /** The first probe, packed (first-contact.ts). */
  first = 0;
  firstMs = 0;
  /** Ports tried per target (vertical scans); null while light. */
  targets: Map<AddressKey, PairPorts> | null = null;
  /** Hosts tried per port (sweeps); null while light. */
  sweeps: Map<number, ContactEvidence<AddressKey>> | null = null;
  decoy: DecoyGroup | null = null;

  constructor(
    readonly key: AddressKey,
    nowMs: number,
  ) {
    this.lastMs = nowMs;
  }
}

export type IncidentListener = (incident: Incident) => void;

/**
 * Turns decoded packets into incidents, on packet time: a replayed capture and a live run give the same
 * incidents. Owns every detector's state; memory is bounded by the `limits` settings, and each limit
 * hit is counted.
 *
 * Each packet is classified against the flow table as a probe (a source's first packet to a port of a
 * target), an answer to a probe (which resolves it as a success or failure), or ordinary traffic of a
 * known flow. Probes feed the per-source vertical-scan and sweep evidence, the decoy fingerprints and
 * the flood counters; failures also feed the per-target distributed-scan map.
 */
export class DetectionEngine {
  readonly settings: DetectionSettings;
  readonly trw: TrwModel;
  /** Indexed by DetectionCounter. */
  readonly counters = new Float64Array(DETECTION_COUNTER_NAMES.length);
  /** Probes seen per probe class (repeats included). */
  readonly probesByClass = new Float64Array(PROBE_CLASS_COUNT);

  readonly #flows: FlowTable;
  readonly #pending: PendingProbes;
  readonly #sources = new Map<AddressKey, SourceState>();
  readonly #targets = new Map<AddressKey, TargetState>();
  readonly #floods: FloodDetector;
  readonly #fingerprints = new DecoyFingerprints();
  readonly #scanThresholds: ContactThresholds;
  readonly #sweepThresholds: ContactThresholds;
  readonly #incidents: Incident[] = [];
  readonly #listener: IncidentListener | null;
  #clockMs = -Infinity;
  #nextTickMs = -Infinity;
  #nextExpiryMs = -Infinity;

  constructor(settings: DetectionSettings, listener: IncidentListener | null = null) {
    this.settings = settings;
    this.trw = new TrwModel(settings.trw);
    this.#flows = new FlowTable(settings.limits.maxFlows, FLOW_IDLE_MS);
    this.#pending = new PendingProbes(settings.limits.maxFlows);
    this.#floods = new FloodDetector(settings.flood);
    this.#scanThresholds = { minimum: settings.scan.minPorts, windows: settings.scan.windows, minFailureRatio: settings.scan.minFailureRatio };
    this.#sweepThresholds = { minimum: settings.sweep.minHosts, windows: settings.sweep.windows, minFailureRatio: settings.sweep.minFailureRatio };
    this.#listener = listener;
  }

  /** Packet time of the newest packet seen, in milliseconds since the epoch. */
  get clockMs(): number {
    return this.#clockMs;
  }

  get trackedSources(): number {
    return this.#sources.size;
  }

  get trackedTargets(): number {
    return this.#targets.size;
  }

  counter(name: DetectionCounterName): number {
    return this.counters[DetectionCounter[name]];
  }

  /** Feeds one decoded packet. The packet is not kept. */
  process(p: Packet): void {
    this.counters[DetectionCounter['packets.seen']]++;
    if (!p.valid || p.ipVersion === 0 || p.laterFragment) {
      this.counters[DetectionCounter['packets.ignored']]++;
      return;
    }
    const now = p.tsUs / 1000;
    // Captures can hold slightly out-of-order timestamps (several interfaces); time never runs back.
    if (now > this.#clockMs) this.#clockMs = now;
    if (this.#clockMs >= this.#nextTickMs) this.#tick(this.#clockMs);
    const v6 = p.ipVersion === 6;
    const src = v6 ? p.src6Hash : p.src4;
    const dst = v6 ? p.dst6Hash : p.dst4;
    switch (p.protocol) {
      case IpProtocol.TCP:
        this.#tcp(p, src, dst, v6, now);
        break;
      case IpProtocol.UDP:
        this.#udp(p, src, dst, v6, now);
        break;
      case IpProtocol.ICMP:
        if (v6) this.#otherProtocol(p, src, dst, v6, now);
        else this.#icmp(p, src, dst, v6, now, 8, 0, 3);
        break;
      case IpProtocol.ICMPV6:
        if (v6) this.#icmp(p, src, dst, v6, now, 128, 129, 1);
        else this.#otherProtocol(p, src, dst, v6, now);
        break;
      default:
        this.#otherProtocol(p, src, dst, v6, now);
    }
  }

  /**
   * End of input: every first contact still waiting is judged unanswered, and every flood window
   * closes. Call once, after the last packet.
   */
  flush(): void {
    const now = this.#clockMs;
    if (now === -Infinity) return;
    while (this.#pending.size > 0) this.#expireOldestPending(now);
    for (const t of this.#targets.values()) {
      const opened = this.#floods.closeWindow(t, now);
      if (opened !== null) this.#report(opened);
    }
  }

  /**
   * Incidents so far, oldest first, without those absorbed by a group incident (a decoy or
   * distributed scan reports its members' individual scans of the same target itself).
   */
  incidents(): Incident[] {
    this.#absorbGroupMembers();
    return this.#incidents.filter((i) => i.absorbedBy === null);
  }

  /** Every counter by name, for summaries and metrics. */
  counterValues(): Record<DetectionCounterName, number> {
    const out = {} as Record<DetectionCounterName, number>;
    for (const name of DETECTION_COUNTER_NAMES) out[name] = this.counters[DetectionCounter[name]];
    out['limit.flows'] = this.#flows.evictions;
    return out;
  }

  // ---- protocols ----------------------------------------------------------------------------

  #tcp(p: Packet, src: number, dst: number, v6: boolean, now: number): void {
    const flags = p.tcpFlags;
    const ft = this.#flows;
    const proto = v6 ? IpProtocol.TCP + 256 : IpProtocol.TCP;
    const pureSyn = (flags & (SYN | ACK | RST)) === SYN;
    if (pureSyn) this.#countFlood(p, v6, FloodClass.syn, PortFamily.tcp + p.dstPort, now);
    let slot = ft.locate(src, p.srcPort, dst, p.dstPort, proto, now);
    if (slot < 0) {
      slot = -slot - 1;
      const cls = classifyTcpFlags(flags);
      if (cls < 0) {
        // An answer whose question we never saw (capture began later): remember the flow, no probe.
        if ((flags & (SYN | ACK)) === (SYN | ACK)) {
          ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.OPEN | FlowState.REPLIED, 0);
          ft.initiatorIsA[slot] ^= 1;
        }
        return;
      }
      if ((flags & (ACK | SYN | RST)) === ACK && (p.payloadLength > 0 || (flags & PSH) !== 0)) {
        // Data of a connection that began before the capture: traffic, not a probe.
        ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.REPLIED, 0);
        return;
      }
      const osSyn = cls === ProbeClass.syn && p.tcpOsOptions;
      ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.PROBE | (osSyn ? FlowState.OS_SYN : 0), cls);
      this.#probe(p, slot, cls, PortFamily.tcp + p.dstPort, p.srcPort, p.seq, osSyn, now);
      return;
    }
    const st = ft.state[slot];
    const fromInitiator = (ft.initiatorIsA[slot] === 1) === ft.fromA;
    if (fromInitiator) {
      // How the prober treats an open port tells a raw SYN scan from an OS connect() scan. A prober
      // only resets or acknowledges its own SYN after an answer, so this holds even when the capture
      // missed the SYN-ACK (one-way captures). A completed handshake wins over an earlier reset: some
      // scanners' user-space stacks complete connections their kernel has already reset.
      if ((st & (FlowState.PROBE | FlowState.COMPLETED | FlowState.CLOSED)) === FlowState.PROBE && ft.probeClass[slot] === ProbeClass.syn) {
        if ((flags & RST) !== 0) {
          if ((st & FlowState.HALF_OPEN_RESET) === 0) {
            ft.state[slot] = st | FlowState.HALF_OPEN_RESET;
            this.#handshakeEvidence(p, v6, 1, 0, now);
          }
        } else if ((flags & (SYN | ACK)) === ACK) {
          ft.state[slot] = st | FlowState.COMPLETED;
          this.#handshakeEvidence(p, v6, 0, (st & FlowState.HALF_OPEN_RESET) !== 0 ? 1 : 0, now);
        }
      }
      return;
    }
    let next = st | FlowState.REPLIED;
    const synAck = (flags & (SYN | ACK)) === (SYN | ACK);
    if (synAck) next |= FlowState.OPEN;
    else if ((flags & RST) !== 0) next |= FlowState.CLOSED;
    ft.state[slot] = next & ~FlowState.PENDING;
    if ((st & FlowState.PENDING) !== 0) {
      // The answer to a first contact: a RST refuses, anything else (SYN-ACK, data) accepts.
      this.#resolveAnswer(p, v6, ft.probeClass[slot], PortFamily.tcp + p.srcPort, (flags & RST) === 0 || synAck, now);
    }
  }

  #udp(p: Packet, src: number, dst: number, v6: boolean, now: number): void {
    const ft = this.#flows;
    const proto = v6 ? IpProtocol.UDP + 256 : IpProtocol.UDP;
    let slot = ft.locate(src, p.srcPort, dst, p.dstPort, proto, now);
    if (slot < 0) {
      slot = -slot - 1;
      ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.PROBE, ProbeClass.udp);
      this.#countFlood(p, v6, FloodClass.udp, PortFamily.udp + p.dstPort, now);
      this.#probe(p, slot, ProbeClass.udp, PortFamily.udp + p.dstPort, p.srcPort, p.payloadLength, false, now);
      return;
    }
    const st = ft.state[slot];
    const fromInitiator = (ft.initiatorIsA[slot] === 1) === ft.fromA;
    if (fromInitiator) {
      // A stream the other side never answers is flood material; a conversation is not.
      if ((st & FlowState.REPLIED) === 0) this.#countFlood(p, v6, FloodClass.udp, PortFamily.udp + p.dstPort, now);
      return;
    }
    ft.state[slot] = (st | FlowState.REPLIED | FlowState.OPEN) & ~FlowState.PENDING;
    if ((st & FlowState.PENDING) !== 0) this.#resolveAnswer(p, v6, ProbeClass.udp, PortFamily.udp + p.srcPort, true, now);
  }

  /** ICMP and ICMPv6 differ only in type numbers: echo request, echo reply, destination unreachable. */
  #icmp(p: Packet, src: number, dst: number, v6: boolean, now: number, echoRequest: number, echoReply: number, unreachable: number): void {
    const type = p.icmpType;
    const ft = this.#flows;
    const proto = p.protocol + (v6 ? 256 : 0);
    if (type === echoRequest) {
      this.#countFlood(p, v6, FloodClass.icmp, PortFamily.icmp, now);
      const id = p.icmpEchoId >>> 16; // identifier; the sequence (low half) changes per echo
      let slot = ft.locate(src, id, dst, id, proto, now);
      if (slot >= 0) return;
      slot = -slot - 1;
      ft.claim(slot, src, id, dst, id, proto, now, FlowState.PROBE, ProbeClass.icmp);
      this.#probe(p, slot, ProbeClass.icmp, PortFamily.icmp, id, 0, false, now);
      return;
    }
    if (type === echoReply) {
      const id = p.icmpEchoId >>> 16; // identifier; the sequence (low half) changes per echo
      const slot = ft.locate(src, id, dst, id, proto, now);
      if (slot < 0) return;
      const st = ft.state[slot];
      if ((ft.initiatorIsA[slot] === 1) === ft.fromA) return;
      ft.state[slot] = (st | FlowState.REPLIED | FlowState.OPEN) & ~FlowState.PENDING;
      if ((st & FlowState.PENDING) !== 0) this.#resolveAnswer(p, v6, ProbeClass.icmp, PortFamily.icmp, true, now);
      return;
    }
    if (type !== unreachable || p.quotedProtocol === 0) return;
    // The error quotes the probe that caused it: find that probe's flow in its own direction.
    const qProto = p.quotedProtocol + (v6 ? 256 : 0);
    const qSrc = v6 ? p.quotedSrc6Hash : p.quotedSrc4;
    const qDst = v6 ? p.quotedDst6Hash : p.quotedDst4;
    const slot = ft.locate(qSrc, p.quotedSrcPort, qDst, p.quotedDstPort, qProto, now);
    if (slot < 0) return;
    const st = ft.state[slot];
    ft.state[slot] = (st | FlowState.CLOSED | FlowState.REPLIED) & ~FlowState.PENDING;
    if ((st & FlowState.PENDING) === 0) return;
    const source = v6 ? formatIPv6(p.buf, p.quotedSrc6Offset) : p.quotedSrc4;
    const target = v6 ? formatIPv6(p.buf, p.quotedDst6Offset) : p.quotedDst4;
    this.#resolve(source, target, quotedPortKey(p.quotedProtocol, p.quotedDstPort), ft.probeClass[slot], false, now);
  }

  #otherProtocol(p: Packet, src: number, dst: number, v6: boolean, now: number): void {
    const ft = this.#flows;
    const proto = p.protocol + (v6 ? 256 : 0);
    let slot = ft.locate(src, 0, dst, 0, proto, now);
    if (slot < 0) {
      slot = -slot - 1;
      ft.claim(slot, src, 0, dst, 0, proto, now, FlowState.PROBE, ProbeClass['ip-proto']);
      this.#probe(p, slot, ProbeClass['ip-proto'], PortFamily.proto + p.protocol, 0, 0, false, now);
      return;
    }
    const st = ft.state[slot];
    if ((ft.initiatorIsA[slot] === 1) === ft.fromA) return;
    ft.state[slot] = (st | FlowState.REPLIED | FlowState.OPEN) & ~FlowState.PENDING;
    if ((st & FlowState.PENDING) !== 0) this.#resolveAnswer(p, v6, ProbeClass['ip-proto'], PortFamily.proto + p.protocol, true, now);
  }

  // ---- probes and outcomes --------------------------------------------------------------------

  #probe(p: Packet, slot: number, cls: number, portKey: number, srcPort: number, sequence: number, osSyn: boolean, now: number): void {
    this.probesByClass[cls]++;
    const v6 = p.ipVersion === 6;
    const source: AddressKey = v6 ? formatIPv6(p.buf, p.src6Offset) : p.src4;
    const target: AddressKey = v6 ? formatIPv6(p.buf, p.dst6Offset) : p.dst4;
    let s = this.#sources.get(source);
    if (s === undefined) {
      const t = this.#targets.get(target);
      if (t !== undefined && now <= t.floodUntilMs) {
        // A flood's (likely spoofed) members would only fill memory: the flood incident counts them.
        this.counters[DetectionCounter['flood.member_probes']]++;
        return;
      }
      s = this.#newSource(source, now);
    }
    const previousMs = s.lastMs;
    s.lastMs = now;
    s.probes++;
    if (portKey < PortFamily.proto) {
      const other = this.#fingerprints.match(fingerprint(v6 ? p.dst6Hash : p.dst4, portKey, srcPort, sequence), source, now, this.settings.decoy.windowMs);
      if (other !== null) this.#linkDecoys(s, other, target, portKey, cls, now);
    }
    let firstContact: boolean;
    if (s.targets === null && s.probes === 1) {
      s.firstTarget = target;
      s.first = packFirstContact(portKey, cls, osSyn);
      s.firstMs = now;
      firstContact = true;
    } else {
      if (s.targets === null) this.#materialize(s);
      firstContact = this.#track(s, target, portKey, cls, osSyn, now, previousMs);
    }
    if (!firstContact) return;
    this.counters[DetectionCounter['probes.first_contact']]++;
    if (this.#pending.full) {
      this.counters[DetectionCounter['limit.pending']]++;
      this.#expireOldestPending(now);
    }
    this.#flows.state[slot] |= FlowState.PENDING;
    this.#pending.push(slot, this.#flows.generation[slot], now, source, target, portKey, cls);
  }

  /**
   * Records a probe in the source's per-target and per-port evidence; true for a first contact.
   * `previousMs` is the source's previous probe time: when a packed pair becomes full evidence, its
   * first port is dated then (exact for a scanner of one target, slightly late for a busy client).
   */
  #track(s: SourceState, target: AddressKey, portKey: number, cls: number, osSyn: boolean, now: number, previousMs: number): boolean {
    const targets = s.targets!;
    const sweeps = s.sweeps!;
    const pair = targets.get(target);
    let ports: ContactEvidence<number> | null = null;
    let newPort: boolean;
    if (pair === undefined) {
      targets.set(target, packFirstContact(portKey, cls, osSyn));
      newPort = true;
    } else if (typeof pair === 'number') {
      if (contactPort(pair) === portKey) newPort = false;
      else {
        ports = ContactEvidence.ofPorts(pair, previousMs, this.settings.scan.windows.length, this.trw);
        targets.set(target, ports);
        newPort = ports.addProbe(portKey, cls, osSyn, now, Infinity);
      }
    } else {
      ports = pair;
      newPort = ports.addProbe(portKey, cls, osSyn, now, Infinity);
    }
    if (ports !== null) this.#judgeScan(s, target, ports, now);
    let hosts = sweeps.get(portKey);
    if (hosts === undefined) {
      // A source already walking the ports of this target is a vertical scanner: one sweep record per
      // port it tries would cost an object per port and tell nothing the scan does not.
      if (ports !== null && ports.distinct > this.settings.scan.minPorts) return newPort;
      hosts = new ContactEvidence<AddressKey>(now, this.settings.sweep.windows.length);
      sweeps.set(portKey, hosts);
    }
    const overflowBefore = hosts.overflow;
    hosts.addProbe(target, cls, osSyn, now, this.settings.limits.maxHostsPerSweep);
    if (hosts.overflow !== overflowBefore) this.counters[DetectionCounter['limit.items']]++;
    this.#judgeSweep(s, portKey, hosts, now);
    return newPort;
  }

  /** A light source sends its second probe: its inline first probe becomes full evidence. */
  #materialize(s: SourceState): void {
    s.targets = new Map();
    s.sweeps = new Map();
    const first = s.first;
    const hosts = new ContactEvidence<AddressKey>(s.firstMs, this.settings.sweep.windows.length);
    hosts.addProbe(s.firstTarget, contactClass(first), contactOsSyn(first), s.firstMs, this.settings.limits.maxHostsPerSweep);
    const outcome = contactOutcome(first);
    if (outcome !== Outcome.unknown) hosts.recordOutcome(outcome === Outcome.success, this.trw);
    s.targets.set(s.firstTarget, first);
    s.sweeps.set(contactPort(first), hosts);
  }

  /** An answer from the target of a pending first contact; the prober is the packet's destination. */
  #resolveAnswer(p: Packet, v6: boolean, cls: number, portKey: number, success: boolean, now: number): void {
    const source: AddressKey = v6 ? formatIPv6(p.buf, p.dst6Offset) : p.dst4;
    const target: AddressKey = v6 ? formatIPv6(p.buf, p.src6Offset) : p.src4;
    this.#resolve(source, target, portKey, cls, success, now);
  }

  #resolve(source: AddressKey, target: AddressKey, portKey: number, cls: number, success: boolean, now: number): void {
    this.counters[DetectionCounter[success ? 'outcomes.success' : 'outcomes.failure']]++;
    if (!success) this.#distributedFailure(source, target, portKey, cls, now);
    const s = this.#sources.get(source);
    if (s === undefined) return;
    if (s.targets === null) {
      s.first = withOutcome(s.first, success);
      return;
    }
    const ports = s.targets.get(target);
    if (typeof ports === 'number') s.targets.set(target, withOutcome(ports, success));
    else if (ports !== undefined) {
      ports.recordOutcome(success, this.trw);
      this.#judgeScan(s, target, ports, now);
    }
    const hosts = s.sweeps!.get(portKey);
    if (hosts !== undefined) {
      hosts.recordOutcome(success, this.trw);
      this.#judgeSweep(s, portKey, hosts, now);
    }
  }

  #expireOldestPending(now: number): void {
    const pending = this.#pending;
    const slot = pending.headSlot();
    const ft = this.#flows;
    if (ft.generation[slot] === pending.headGeneration() && (ft.state[slot] & FlowState.PENDING) !== 0) {
      ft.state[slot] &= ~FlowState.PENDING;
      this.#resolve(pending.headSource(), pending.headTarget(), pending.headPortKey(), pending.headClass(), false, now);
    }
    pending.shift();
  }

  /**
   * The prober reset a half-open handshake (`resets` 1) or completed one (`resets` 0, `undoneResets` 1
   * when it had reset the same flow first).
   */
  #handshakeEvidence(p: Packet, v6: boolean, resets: number, undoneResets: number, now: number): void {
    const source: AddressKey = v6 ? formatIPv6(p.buf, p.src6Offset) : p.src4;
    const target: AddressKey = v6 ? formatIPv6(p.buf, p.dst6Offset) : p.dst4;
    const completed = resets === 0;
    if (completed) {
      const t = this.#targets.get(target);
      if (t !== undefined) t.synCompleted++;
    }
    const s = this.#sources.get(source);
    if (s === undefined) return;
    if (s.targets === null) {
      s.first = withHandshake(s.first, completed);
      return;
    }
    const ports = s.targets.get(target);
    if (ports === undefined) return;
    if (typeof ports === 'number') {
      s.targets.set(target, withHandshake(ports, completed));
      return;
    }
    if (completed) ports.classes.completed++;
    ports.classes.halfOpenResets += resets - undoneResets;
    ports.lastMs = now;
  }

  // ---- detectors --------------------------------------------------------------------------------

  #judgeScan(s: SourceState, target: AddressKey, ports: ContactEvidence<number>, now: number): void {
    if (ports.incident !== null) {
      ports.incident.lastMs = now;
      return;
    }
    const trigger = ports.verdict(this.#scanThresholds, this.trw, now);
    if (trigger === '') return;
    const incident = new ScanIncident(s.key, target, ports, this.trw, now, trigger);
    ports.incident = incident;
    // A member of a known decoy group or distributed scan is reported by that group.
    if (s.decoy?.incident != null && s.decoy.target === target) incident.absorbedBy = s.decoy.incident;
    const group = this.#targets.get(target)?.distributed?.incident;
    if (group != null && group.members.has(s.key)) incident.absorbedBy = group;
    this.#report(incident);
  }

  #judgeSweep(s: SourceState, portKey: number, hosts: ContactEvidence<AddressKey>, now: number): void {
    if (hosts.incident !== null) {
      hosts.incident.lastMs = now;
      return;
    }
    const trigger = hosts.verdict(this.#sweepThresholds, this.trw, now);
    if (trigger === '') return;
    const incident = new SweepIncident(s.key, portKey, hosts, this.trw, now, trigger);
    hosts.incident = incident;
    this.#report(incident);
  }

  #linkDecoys(s: SourceState, otherKey: AddressKey, target: AddressKey, portKey: number, cls: number, now: number): void {
    const o = this.#sources.get(otherKey);
    if (o === undefined) return;
    let group = s.decoy ?? o.decoy;
    if (group === null) {
      group = new DecoyGroup(target, now);
      group.probes = 1; // the first of the identical probes, sent before any match
    } else if (s.decoy !== null && o.decoy !== null && s.decoy !== o.decoy) {
      const [big, small] = s.decoy.members.size >= o.decoy.members.size ? [s.decoy, o.decoy] : [o.decoy, s.decoy];
      big.absorb(small);
      for (const m of small.members) {
        const member = this.#sources.get(m);
        if (member !== undefined) member.decoy = big;
      }
      if (small.incident !== null) small.incident.absorbedBy = big.incident ?? small.incident;
      group = big;
    }
    if (group.invalid) return;
    for (const member of [s, o]) {
      if (member.decoy !== group) {
        member.decoy = group;
        group.members.add(member.key);
      }
    }
    group.ports.add(portKey);
    group.probes++;
    group.classes.add(cls, false);
    group.lastMs = now;
    if (group.members.size > this.settings.decoy.maxSources) {
      group.invalid = true;
      this.counters[DetectionCounter['decoy.groups_discarded']]++;
      return;
    }
    if (group.incident !== null) group.incident.lastMs = now;
    else if (group.ports.size >= this.settings.decoy.minPorts) {
      group.incident = new DecoyIncident(group, now);
      this.#report(group.incident);
    }
  }

  #distributedFailure(source: AddressKey, target: AddressKey, portKey: number, cls: number, now: number): void {
    const t = this.#targets.get(target) ?? this.#newTarget(target, now);
    t.lastMs = now;
    if (t.distributed === null) t.distributed = new DistributedState(target, now);
    const before = t.distributed.incident;
    const incident = t.distributed.addFailure(source, portKey, cls, now, this.settings.distributed);
    if (incident !== null && before === null) this.#report(incident);
  }

  #countFlood(p: Packet, v6: boolean, cls: number, portKey: number, now: number): void {
    const target: AddressKey = v6 ? formatIPv6(p.buf, p.dst6Offset) : p.dst4;
    const t = this.#targets.get(target) ?? this.#newTarget(target, now);
    const source: AddressKey = v6 ? formatIPv6(p.buf, p.src6Offset) : p.src4;
    const opened = this.#floods.count(t, cls, portKey, source, v6 ? p.src6Hash : p.src4, now);
    if (opened !== null) this.#report(opened);
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  #report(incident: Incident): void {
    this.#incidents.push(incident);
    if (this.#listener !== null && incident.absorbedBy === null) this.#listener(incident);
  }

  #newSource(key: AddressKey, now: number): SourceState {
    if (this.#sources.size >= this.settings.limits.maxSources) {
      this.#forgetOne(this.#sources);
      this.counters[DetectionCounter['limit.sources']]++;
    }
    const s = new SourceState(key, now);
    this.#sources.set(key, s);
    return s;
  }

  #newTarget(key: AddressKey, now: number): TargetState {
    if (this.#targets.size >= this.settings.limits.maxTargets) {
      this.#forgetOne(this.#targets);
      this.counters[DetectionCounter['limit.targets']]++;
    }
    const t = new TargetState(key, now);
    this.#targets.set(key, t);
    return t;
  }

  /** Forgets the least recently seen of the oldest few entries: approximate LRU without per-packet upkeep. */
  #forgetOne(map: Map<AddressKey, { lastMs: number }>): void {
    let victim: AddressKey | undefined;
    let victimMs = Infinity;
    let n = 0;
    for (const [key, state] of map) {
      if (state.lastMs < victimMs) {
        victimMs = state.lastMs;
        victim = key;
      }
      if (++n >= EVICTION_CANDIDATES) break;
    }
    if (victim !== undefined) map.delete(victim);
  }

  #tick(now: number): void {
    this.#nextTickMs = now + TICK_MS;
    const timeoutBefore = now - this.settings.probeTimeoutMs;
    while (this.#pending.oldestMs() <= timeoutBefore) this.#expireOldestPending(now);
    if (now < this.#nextExpiryMs) return;
    this.#nextExpiryMs = now + EXPIRY_EVERY_MS;
    const { sourceIdleMs, lightSourceIdleMs } = this.settings.limits;
    let expired = 0;
    for (const [key, s] of this.#sources) {
      const idle = now - s.lastMs;
      if (idle > sourceIdleMs || (idle > lightSourceIdleMs && s.probes <= 2)) {
        this.#sources.delete(key);
        expired++;
      }
    }
    this.counters[DetectionCounter['expired.sources']] += expired;
    const targetIdleMs = Math.max(lightSourceIdleMs, this.settings.distributed.windowMs);
    for (const [key, t] of this.#targets) {
      if (now - t.lastMs > targetIdleMs) {
        const opened = this.#floods.closeWindow(t, now);
        if (opened !== null) this.#report(opened);
        this.#targets.delete(key);
      }
    }
  }

  #absorbGroupMembers(): void {
    const scans = new Map<string, ScanIncident[]>();
    for (const i of this.#incidents) {
      if (!(i instanceof ScanIncident)) continue;
      const key = `${formatAddressKey(i.source)}|${formatAddressKey(i.target)}`;
      const list = scans.get(key);
      if (list === undefined) scans.set(key, [i]);
      else list.push(i);
    }
    const absorb = (group: Incident, members: Iterable<AddressKey>, target: AddressKey) => {
      for (const m of members) {
        for (const scan of scans.get(`${formatAddressKey(m)}|${formatAddressKey(target)}`) ?? []) scan.absorbedBy ??= group;
      }
    };
    for (const i of this.#incidents) {
      if (i.absorbedBy !== null) continue;
      if (i instanceof DecoyIncident) absorb(i, i.group.members, i.group.target);
      else if (i instanceof DistributedIncident) absorb(i, i.members, i.state.target);
    }
  }
}

function quotedPortKey(protocol: number, port: number): number {
  if (protocol === IpProtocol.TCP) return PortFamily.tcp + port;
  if (protocol === IpProtocol.UDP) return PortFamily.udp + port;
  return PortFamily.proto + protocol;
}
