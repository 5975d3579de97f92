import type { DetectionSettings } from './settings.js';
import { formatIPv6 } from '../net/address.js';
import { IpProtocol, TcpFlag, type Packet } from '../model/packet.js';
import { ContactEvidence, ItemBudget, type ContactThresholds } from './contact-evidence.js';
import { DETECTION_COUNTER_NAMES, DetectionCounter, type DetectionCounterName } from './counters.js';
import { DecoyFingerprints, DecoyGroup, DecoyIncident, fingerprint } from './decoy-scan.js';
import { DistributedIncident, DistributedState } from './distributed-scan.js';
import {
  contactOutcome,
  contactPort,
  Outcome,
  packFirstContact,
  PRESENT,
  packSweep,
  sweepClass,
  sweepFailures,
  sweepHosts,
  sweepOsSyn,
  sweepSuccesses,
  withHandshake,
  withOutcome,
  withSweepFailure,
  withSweepHost,
  withSweepSuccess,
} from './first-contact.js';
import { FloodClass, FloodDetector, TargetState } from './flood.js';
import { FlowState, FlowTable } from './flow-table.js';
import { compareAddressKeys, type Incident } from './incident.js';
import { formatAddressKey, PortFamily, type AddressKey } from '../model/incident.js';
import { PendingProbes } from './pending-probes.js';
import { classifyTcpFlags } from './probe-class.js';
import { PROBE_CLASS_COUNT, ProbeClass } from '../model/probe.js';
import { Claim, SlotTable } from './slot-table.js';
import { SweepIncident } from './sweep.js';
import { TrwModel } from './trw.js';
import { ScanIncident } from './vertical-scan.js';
import { DueQueue } from './due-queue.js';
import { PrefixFloods } from './prefix-flood.js';
import { FloodSightings } from './sightings.js';
import { toolTrait, ToolVotes } from './tool-attribution.js';
import { ReflectionDetector, ReflectionService, tcpAnswerService, udpAnswerService } from './reflection.js';
import { LinkSweepDetector } from './link-sweep.js';

const { SYN, ACK, RST, PSH } = TcpFlag;
// IPv4 addresses and IPv6 folds travel as signed 32-bit integers (`| 0`): V8 keeps those unboxed
// (Smis), where an unsigned value of 2^31 or more would be a heap number allocated at every call and
// every Map key. formatIPv4 and compareAddressKeys read them as unsigned.
const TICK_MS = 250;
const TARGET_EXPIRY_EVERY_MS = 10_000;
const FLOW_IDLE_MS = 10 * 60_000;
/** Bit of the third key word that marks IPv6 records (their first two words are address folds). */
const V6 = 1 << 20;
/**
 * First contacts a (source, target) record holds inline, before it needs evidence: the slot's value
 * word and four extra words. A client of a few services of one server never needs more.
 */
const INLINE_CONTACTS = 5;
/**
 * An open incident whose source sends new first contacts is reported again, at most this often: a
 * banned source's packets never reach detection, so new probes mean the ban lapsed or was lifted.
 */
const REREPORT_MS = 1_000;
/** Targets looked at to pick one to forget when maxTargets is reached (approximate LRU). */
const EVICTION_CANDIDATES = 8;

const comparePorts = (a: number, b: number) => a - b;

export type IncidentListener = (incident: Incident) => void;

/**
 * Turns decoded packets into incidents, on packet time: a replayed capture and a live run give the same
 * incidents. Owns every detector's state; memory is bounded by the `limits` settings, and each limit
 * hit is counted.
 *
 * Each packet is classified against the flow table as a probe (a source's first packet of a flow), an
 * answer to a probe (which resolves it as a success or failure), or ordinary traffic of a known flow.
 * A probe to a (source, target, port) not seen before is a first contact: it goes into the record of its
 * (source, target) pair (vertical scans) and of its (source, port) pair (sweeps), and waits for its
 * outcome. Records live in typed-array tables; a record gets an evidence object only at its second
 * distinct item, so a client's many one-port connections cost no allocation. Probes also feed the decoy
 * fingerprints and the flood counters; failures feed the per-target distributed-scan map.
 */
export class DetectionEngine {
  readonly settings: DetectionSettings;
  readonly trw: TrwModel;
  /** Indexed by DetectionCounter. */
  readonly counters = new Float64Array(DETECTION_COUNTER_NAMES.length);
  /** Probes seen per probe class (repeats included). */
  readonly probesByClass = new Float64Array(PROBE_CLASS_COUNT);

  readonly #flows: FlowTable;
  /** Target state of a flow's responder, kept when the flow opened, for answers and handshakes. */
  readonly #flowTarget: (TargetState | null)[];
  /**
   * The (source, target) and (source, port) record slots of a flow that was a first contact, with their
   * generations, so its answer and handshake reach the records without hashing again (-1: none).
   */
  readonly #flowPair: Int32Array;
  readonly #flowPairGeneration: Int32Array;
  readonly #flowSweep: Int32Array;
  readonly #flowSweepGeneration: Int32Array;
  /** The port key a flow's first contact tried, to find it among a record's inline contacts. */
  readonly #flowPortKey: Int32Array;
  readonly #pending: PendingProbes;
  /** (source, target) records: vertical scans. */
  readonly #pairs: SlotTable;
  readonly #pairEvidence: (ContactEvidence<number> | null)[];
  /** (source, port) records: sweeps. */
  readonly #sweeps: SlotTable;
  readonly #sweepFirstHost: Float64Array;
  readonly #sweepFirstHost6: (string | null)[];
  readonly #sweepEvidence: (ContactEvidence<AddressKey> | null)[];
  /**
   * A counted sweep record's tool trait (that of its first probe, tool-attribution.ts) and how many of
   * its probes carried it, for the votes of its evidence: a fast sweep is all sent before any failure.
   */
  readonly #sweepTrait: Uint8Array;
  readonly #sweepTraitCount: Int32Array;
  /** Ports and hosts all records may remember (limits.maxRememberedItems). */
  readonly #itemBudget: ItemBudget;
  /** Records holding evidence now, against limits.maxEvidenceRecords. */
  #evidenceRecords = 0;
  /**
   * Record slots whose evidence may have expired, by the time it may have (queued once per slot while
   * it holds evidence: `#pairQueued`, `#sweepQueued`), so expiry looks only at what may be due.
   */
  readonly #pairExpiry = new DueQueue<number>();
  readonly #pairQueued: Uint8Array;
  readonly #sweepExpiry = new DueQueue<number>();
  readonly #sweepQueued: Uint8Array;
  readonly #targets = new Map<AddressKey, TargetState>();
  /** Every target, by the time it may have gone idle. */
  readonly #targetExpiry = new DueQueue<TargetState>();
  /** Creation order of targets (the order a scan of the map would meet them). */
  #targetSequence = 0;
  readonly #floods: FloodDetector;
  /** SYN floods spread over the hosts of an IPv4 /16 (each host below the per-target rate). */
  readonly #prefixFloods: PrefixFloods;
  /** Sources seen sending into a flood before: a real scanner of a flooded host is tracked from its second probe. */
  readonly #sightings: FloodSightings;
  /** Answers nobody here asked for, per victim (reflection floods). */
  readonly #reflections: ReflectionDetector;
  /** Victims of one unsolicited answer so far get no state: only the second within two windows makes it. */
  readonly #answeredOnce: FloodSightings;
  /** ARP and neighbour-discovery sweeps: host discovery on the link, which has no IP probe to judge. */
  readonly #linkSweeps: LinkSweepDetector;
  readonly #fingerprints = new DecoyFingerprints();
  /** Decoy group of each source that is in one (few: only sources seen sending identical probes). */
  readonly #decoyGroups = new Map<AddressKey, DecoyGroup>();
  readonly #scanThresholds: ContactThresholds;
  readonly #sweepThresholds: ContactThresholds;
  readonly #incidents: Incident[] = [];
  readonly #listener: IncidentListener | null;
  #clockMs = -Infinity;
  #nextTickMs = -Infinity;
  #nextTargetExpiryMs = -Infinity;

  constructor(settings: DetectionSettings, listener: IncidentListener | null = null) {
    this.settings = settings;
    this.trw = new TrwModel(settings.trw);
    const { maxFlows, maxRecords, sourceIdleMs, lightSourceIdleMs } = settings.limits;
    this.#flows = new FlowTable(maxFlows, FLOW_IDLE_MS);
    this.#flowTarget = new Array<TargetState | null>(this.#flows.capacity).fill(null);
    this.#flowPair = new Int32Array(this.#flows.capacity).fill(-1);
    this.#flowPairGeneration = new Int32Array(this.#flows.capacity);
    this.#flowSweep = new Int32Array(this.#flows.capacity).fill(-1);
    this.#flowSweepGeneration = new Int32Array(this.#flows.capacity);
    this.#flowPortKey = new Int32Array(this.#flows.capacity);
    this.#pending = new PendingProbes(maxFlows);
    this.#pairs = new SlotTable(maxRecords, lightSourceIdleMs, sourceIdleMs, INLINE_CONTACTS - 1);
    this.#pairEvidence = new Array<ContactEvidence<number> | null>(this.#pairs.capacity).fill(null);
    this.#sweeps = new SlotTable(maxRecords, lightSourceIdleMs, sourceIdleMs);
    this.#sweepFirstHost = new Float64Array(this.#sweeps.capacity);
    this.#sweepFirstHost6 = new Array<string | null>(this.#sweeps.capacity).fill(null);
    this.#sweepEvidence = new Array<ContactEvidence<AddressKey> | null>(this.#sweeps.capacity).fill(null);
    this.#sweepTrait = new Uint8Array(this.#sweeps.capacity);
    this.#sweepTraitCount = new Int32Array(this.#sweeps.capacity);
    this.#pairQueued = new Uint8Array(this.#pairs.capacity);
    this.#sweepQueued = new Uint8Array(this.#sweeps.capacity);
    this.#itemBudget = new ItemBudget(settings.limits.maxRememberedItems);
    this.#floods = new FloodDetector(settings.flood);
    this.#prefixFloods = new PrefixFloods(settings.flood);
    this.#sightings = new FloodSightings(settings.flood.windowMs);
    this.#reflections = new ReflectionDetector(settings.flood, settings.limits.maxTargets);
    this.#answeredOnce = new FloodSightings(settings.flood.windowMs);
    this.#linkSweeps = new LinkSweepDetector(settings.sweep, (incident) => this.#report(incident));
    this.#scanThresholds = { minimum: settings.scan.minPorts, windows: settings.scan.windows, minFailureRatio: settings.scan.minFailureRatio };
    this.#sweepThresholds = { minimum: settings.sweep.minHosts, windows: settings.sweep.windows, minFailureRatio: settings.sweep.minFailureRatio };
    this.#listener = listener;
  }

  /** Packet time of the newest packet seen, in milliseconds since the epoch. */
  get clockMs(): number {
    return this.#clockMs;
  }

  /** Live (source, target) and (source, port) records: a full table scan, for statistics and tests. */
  liveRecords(): number {
    return this.#pairs.live(this.#clockMs) + this.#sweeps.live(this.#clockMs);
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
    if (!p.valid || (p.ipVersion === 0 && p.arpOp === 0) || p.laterFragment) {
      this.counters[DetectionCounter['packets.ignored']]++;
      return;
    }
    const now = p.tsUs / 1000;
    // Captures can hold slightly out-of-order timestamps (several interfaces); time never runs back.
    if (now > this.#clockMs) this.#clockMs = now;
    if (this.#clockMs >= this.#nextTickMs) this.#tick(this.#clockMs);
    if (p.arpOp !== 0) {
      this.#linkSweeps.arp(p, now);
      return;
    }
    const v6 = p.ipVersion === 6;
    const src = (v6 ? p.src6Hash : p.src4) | 0;
    const dst = (v6 ? p.dst6Hash : p.dst4) | 0;
    switch (p.protocol) {
      case IpProtocol.TCP:
        this.#tcp(p, src, dst, v6, now);
        break;
      case IpProtocol.UDP:
        this.#udp(p, src, dst, v6, now);
        break;
      case IpProtocol.ICMP:
        if (v6) this.#otherProtocol(p, src, dst, v6, now);
        else this.#icmp(p, src, dst, v6, now, 8, 0, 3, 11);
        break;
      case IpProtocol.ICMPV6:
        if (v6 && p.ndTarget6Offset >= 0) this.#linkSweeps.nd(p, now);
        else if (v6) this.#icmp(p, src, dst, v6, now, 128, 129, 1, 3);
        else this.#otherProtocol(p, src, dst, v6, now);
        break;
      default:
        this.#otherProtocol(p, src, dst, v6, now);
    }
  }

  /**
   * Moves packet time on without a packet: a live capture calls it with the wall clock when traffic is
   * quiet, so unanswered first contacts still time out and idle state still expires. Time never runs back.
   */
  advance(nowMs: number): void {
    if (nowMs > this.#clockMs) this.#clockMs = nowMs;
    if (this.#clockMs >= this.#nextTickMs) this.#tick(this.#clockMs);
    // A flood window is otherwise judged by its target's next packet: a flood that stops at once
    // would be reported only when the target goes idle, and answers (respond) would stay on meanwhile.
    for (const t of this.#targets.values()) {
      if (!this.#floods.windowDue(t, this.#clockMs)) continue;
      const opened = this.#floods.closeWindow(t, this.#clockMs);
      if (opened !== null) this.#report(opened);
    }
    this.#prefixFloods.closeDue(this.#clockMs, false);
    this.#reportPrefixFloods();
    this.#reflections.closeDue(this.#clockMs, false);
    this.#reportReflections();
  }

  /**
   * End of input: every first contact still waiting is judged unanswered, and every flood window
   * closes. Call once, after the last packet.
   */
  flush(): void {
    const now = this.#clockMs;
    if (now === -Infinity) return;
    while (this.#pending.size > 0) this.#expireOldestPending(now);
    this.#linkSweeps.judge(Infinity);
    for (const t of this.#targets.values()) {
      const opened = this.#floods.closeWindow(t, now);
      if (opened !== null) this.#report(opened);
    }
    this.#prefixFloods.closeDue(now, true);
    this.#reportPrefixFloods();
    this.#reflections.closeDue(now, true);
    this.#reportReflections();
  }

  /**
   * Incidents so far, oldest first, without those absorbed by a group incident (a decoy or
   * distributed scan reports its members' individual scans of the same target itself) and without
   * those later evidence withdrew (a "distributed scan" whose members' slices came to overlap).
   */
  incidents(): Incident[] {
    const minDisjointRatio = this.settings.distributed.minDisjointRatio;
    for (const i of this.#incidents) if (i instanceof DistributedIncident) i.withdrawn = i.slicesOverlap(minDisjointRatio);
    for (const i of this.#incidents) if (i.absorbedBy !== null && i.absorbedBy.withdrawn) i.absorbedBy = null;
    this.#absorbGroupMembers();
    return this.#incidents.filter((i) => i.absorbedBy === null && !i.withdrawn);
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
    let t: TargetState | null = null;
    if ((flags & (SYN | ACK | RST)) === SYN) {
      if (!v6) {
        // A SYN into a /16 under a spread flood from a source never seen in it is a flood member: no
        // target state, flow or record (a source that sends again is tracked as usual).
        const prefix = this.#prefixFloods.count(src, dst, now);
        if (this.#prefixFloods.opened.length > 0) this.#reportPrefixFloods();
        if (now <= prefix.floodUntilMs && !this.#sightings.seenBefore(src, now)) {
          this.counters[DetectionCounter['flood.member_probes']]++;
          return;
        }
      }
      t = this.#countFlood(p, v6, FloodClass.syn, PortFamily.tcp + p.dstPort, now);
      // A SYN from an unknown source to a flooded target is a flood member: counted in the flood, and
      // not given a flow, which under a spoofed flood would only churn the flow table. A real client
      // still gets its flow from the target's SYN-ACK; a source that sends again (a real scanner of the
      // flooded host) is tracked from its second SYN.
      if (now <= t.memberUntilMs && this.#pairs.locate(src, dst, v6 ? V6 : 0, now) < 0 && !this.#sightings.seenBefore(src, now)) {
        this.counters[DetectionCounter['flood.member_probes']]++;
        return;
      }
    }
    let slot = ft.locate(src, p.srcPort, dst, p.dstPort, proto, now);
    if (slot < 0) {
      slot = -slot - 1;
      const cls = classifyTcpFlags(flags);
      if (cls < 0) {
        // An answer whose question we never saw: reflection when many arrive (then no flow, which would
        // only churn the table), else the capture began later: remember the flow, no probe.
        const service = tcpAnswerService(flags);
        if (service >= 0 && this.#unsolicited(p, v6, dst, service, now)) return;
        if ((flags & (SYN | ACK)) === (SYN | ACK)) {
          ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.OPEN | FlowState.REPLIED, 0);
          ft.flipInitiator(slot);
          this.#flowTarget[slot] = null;
        }
        return;
      }
      if ((flags & (ACK | SYN | RST)) === ACK && (p.payloadLength > 0 || (flags & PSH) !== 0)) {
        // Data of a connection that began before the capture: traffic, not a probe.
        ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.REPLIED, 0);
        this.#flowTarget[slot] = null;
        return;
      }
      const osSyn = cls === ProbeClass.syn && p.tcpOsOptions;
      ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.PROBE | (osSyn ? FlowState.OS_SYN : 0), cls);
      this.#flowTarget[slot] = t;
      this.#probe(p, slot, t, cls, PortFamily.tcp + p.dstPort, p.srcPort, p.seq, osSyn, now);
      return;
    }
    const st = ft.state(slot);
    const fromInitiator = ft.fromInitiator(slot);
    if (fromInitiator) {
      // How the prober treats an open port tells a raw SYN scan from an OS connect() scan. A prober
      // only resets or acknowledges its own SYN after an answer, so this holds even when the capture
      // missed the SYN-ACK (one-way captures). A completed handshake wins over an earlier reset: some
      // scanners' user-space stacks complete connections their kernel has already reset.
      if ((st & (FlowState.PROBE | FlowState.COMPLETED | FlowState.CLOSED)) === FlowState.PROBE && ft.probeClass(slot) === ProbeClass.syn) {
        if ((flags & RST) !== 0) {
          if ((st & FlowState.HALF_OPEN_RESET) === 0) {
            ft.setState(slot, st | FlowState.HALF_OPEN_RESET);
            this.#handshake(slot, false, false, now, p.ipId);
          }
        } else if ((flags & (SYN | ACK)) === ACK) {
          ft.setState(slot, st | FlowState.COMPLETED);
          const target = this.#flowTarget[slot];
          if (target !== null) target.synCompleted++;
          if (!v6) this.#prefixFloods.completed(dst);
          this.#handshake(slot, true, (st & FlowState.HALF_OPEN_RESET) !== 0, now, p.ipId);
        }
      }
      return;
    }
    let next = st | FlowState.REPLIED;
    const synAck = (flags & (SYN | ACK)) === (SYN | ACK);
    if (synAck) next |= FlowState.OPEN;
    else if ((flags & RST) !== 0) next |= FlowState.CLOSED;
    ft.setState(slot, next & ~FlowState.PENDING);
    if ((st & FlowState.PENDING) !== 0) {
      // The answer to a first contact: a RST refuses, anything else (SYN-ACK, data) accepts.
      this.#resolveAnswer(p, slot, dst, src, v6, ft.probeClass(slot), PortFamily.tcp + p.srcPort, (flags & RST) === 0 || synAck, now);
    }
  }

  #udp(p: Packet, src: number, dst: number, v6: boolean, now: number): void {
    const ft = this.#flows;
    const proto = v6 ? IpProtocol.UDP + 256 : IpProtocol.UDP;
    let slot = ft.locate(src, p.srcPort, dst, p.dstPort, proto, now);
    if (slot < 0) {
      // A service's answer (DNS, NTP, IKE, …) to a request never seen is no probe of the receiver: its
      // sender is a (reflecting) server. It gets no flow and no record.
      const service = udpAnswerService(p);
      if (service >= 0) {
        this.#unsolicited(p, v6, dst, service, now);
        return;
      }
      slot = -slot - 1;
      ft.claim(slot, src, p.srcPort, dst, p.dstPort, proto, now, FlowState.PROBE, ProbeClass.udp);
      const t = this.#countFlood(p, v6, FloodClass.udp, PortFamily.udp + p.dstPort, now);
      this.#flowTarget[slot] = t;
      this.#probe(p, slot, t, ProbeClass.udp, PortFamily.udp + p.dstPort, p.srcPort, p.payloadLength, false, now);
      return;
    }
    const st = ft.state(slot);
    const fromInitiator = ft.fromInitiator(slot);
    if (fromInitiator) {
      // A stream the other side never answers is flood material; a conversation is not.
      if ((st & FlowState.REPLIED) === 0) this.#countFlood(p, v6, FloodClass.udp, PortFamily.udp + p.dstPort, now);
      return;
    }
    if ((st & FlowState.REPLIED) === 0) {
      const target = this.#flowTarget[slot];
      if (target !== null) target.udpAnswered++;
    }
    ft.setState(slot, (st | FlowState.REPLIED | FlowState.OPEN) & ~FlowState.PENDING);
    if ((st & FlowState.PENDING) !== 0) this.#resolveAnswer(p, slot, dst, src, v6, ProbeClass.udp, PortFamily.udp + p.srcPort, true, now);
  }

  /** ICMP and ICMPv6 differ only in type numbers: echo request, echo reply, destination unreachable, time exceeded. */
  #icmp(p: Packet, src: number, dst: number, v6: boolean, now: number, echoRequest: number, echoReply: number, unreachable: number, timeExceeded: number): void {
    const type = p.icmpType;
    const ft = this.#flows;
    const proto = p.protocol + (v6 ? 256 : 0);
    if (type === echoRequest) {
      const t = this.#countFlood(p, v6, FloodClass.icmp, PortFamily.icmp, now);
      const id = p.icmpEchoId >>> 16; // identifier; the sequence (low half) changes per echo
      let slot = ft.locate(src, id, dst, id, proto, now);
      if (slot >= 0) return;
      slot = -slot - 1;
      ft.claim(slot, src, id, dst, id, proto, now, FlowState.PROBE, ProbeClass.icmp);
      this.#flowTarget[slot] = t;
      this.#probe(p, slot, t, ProbeClass.icmp, PortFamily.icmp, id, 0, false, now);
      return;
    }
    if (type === echoReply) {
      const id = p.icmpEchoId >>> 16;
      const slot = ft.locate(src, id, dst, id, proto, now);
      if (slot < 0) return;
      const st = ft.state(slot);
      if (ft.fromInitiator(slot)) return;
      ft.setState(slot, (st | FlowState.REPLIED | FlowState.OPEN) & ~FlowState.PENDING);
      if ((st & FlowState.PENDING) !== 0) this.#resolveAnswer(p, slot, dst, src, v6, ProbeClass.icmp, PortFamily.icmp, true, now);
      return;
    }
    if ((type !== unreachable && type !== timeExceeded) || p.quotedProtocol === 0) return;
    // The error quotes the probe that caused it: find that probe's flow in its own direction.
    const qProto = p.quotedProtocol + (v6 ? 256 : 0);
    const qSrc = (v6 ? p.quotedSrc6Hash : p.quotedSrc4) | 0;
    const qDst = (v6 ? p.quotedDst6Hash : p.quotedDst4) | 0;
    const slot = ft.locate(qSrc, p.quotedSrcPort, qDst, p.quotedDstPort, qProto, now);
    if (slot < 0) {
      // An error about a packet the receiver (the quote's sender) never sent: a reflection's answer.
      if (qSrc === dst) this.#unsolicited(p, v6, dst, ReflectionService.icmpError, now);
      return;
    }
    if (type !== unreachable) return;
    const st = ft.state(slot);
    ft.setState(slot, (st | FlowState.CLOSED | FlowState.REPLIED) & ~FlowState.PENDING);
    if ((st & FlowState.PENDING) === 0) return;
    const source: AddressKey = v6 ? formatIPv6(p.buf, p.quotedSrc6Offset) : p.quotedSrc4 | 0;
    const target: AddressKey = v6 ? formatIPv6(p.buf, p.quotedDst6Offset) : p.quotedDst4 | 0;
    this.#resolve(slot, source, target, quotedPortKey(p.quotedProtocol, p.quotedDstPort), ft.probeClass(slot), false, now);
  }

  #otherProtocol(p: Packet, src: number, dst: number, v6: boolean, now: number): void {
    const ft = this.#flows;
    const proto = p.protocol + (v6 ? 256 : 0);
    let slot = ft.locate(src, 0, dst, 0, proto, now);
    if (slot < 0) {
      slot = -slot - 1;
      ft.claim(slot, src, 0, dst, 0, proto, now, FlowState.PROBE, ProbeClass['ip-proto']);
      this.#flowTarget[slot] = null;
      this.#probe(p, slot, null, ProbeClass['ip-proto'], PortFamily.proto + p.protocol, 0, 0, false, now);
      return;
    }
    const st = ft.state(slot);
    if (ft.fromInitiator(slot)) return;
    ft.setState(slot, (st | FlowState.REPLIED | FlowState.OPEN) & ~FlowState.PENDING);
    if ((st & FlowState.PENDING) !== 0) this.#resolveAnswer(p, slot, dst, src, v6, ProbeClass['ip-proto'], PortFamily.proto + p.protocol, true, now);
  }

  // ---- probes and outcomes --------------------------------------------------------------------

  /**
   * A flow's opening packet. `t` is the target's state when the packet was counted for floods, else
   * null. Sets the flow PENDING and queues it when it is a first contact.
   */
  #probe(p: Packet, slot: number, t: TargetState | null, cls: number, portKey: number, srcPort: number, sequence: number, osSyn: boolean, now: number): void {
    this.probesByClass[cls]++;
    this.#flowPair[slot] = -1;
    this.#flowSweep[slot] = -1;
    const v6 = p.ipVersion === 6;
    const src = (v6 ? p.src6Hash : p.src4) | 0;
    const dst = (v6 ? p.dst6Hash : p.dst4) | 0;
    const family = v6 ? V6 : 0;
    const pairs = this.#pairs;
    let pair = pairs.locate(src, dst, family, now);
    if (pair < 0 && t !== null && now <= t.memberUntilMs && !this.#sightings.seenBefore(src, now)) {
      // A flood's (likely spoofed) members would only fill the tables: the flood incident counts them.
      // (A TCP source seen before was asked in #tcp already, so this asks again and gets yes.)
      this.counters[DetectionCounter['flood.member_probes']]++;
      return;
    }
    // Text of IPv6 addresses, for records and incidents; IPv4 addresses are their own keys.
    const src6 = v6 ? formatIPv6(p.buf, p.src6Offset) : null;
    const dst6 = v6 ? formatIPv6(p.buf, p.dst6Offset) : null;
    if (portKey < PortFamily.proto) {
      const other = this.#fingerprints.match(fingerprint(dst, portKey, srcPort, sequence), src, src6, now, this.settings.decoy.windowMs);
      if (other !== null) this.#linkDecoys(src6 ?? src, other, dst6 ?? dst, portKey, cls, now);
    }
    // The (source, target) record decides what is a first contact: a port not seen before from this
    // source on this target. It holds its first contacts inline while it cannot be an incident (no
    // failure among two ports or more), and evidence from then on.
    let ports: ContactEvidence<number> | null = null;
    if (pair < 0) {
      pair = this.#claimRecord(pairs, this.#pairEvidence, -pair - 1, src, dst, family, now);
      pairs.setValue(pair, packFirstContact(portKey, cls, osSyn) | PRESENT);
    } else {
      ports = this.#pairEvidence[pair];
      if (ports === null) {
        let count = 0;
        let failed = false;
        for (; count < INLINE_CONTACTS; count++) {
          const c = this.#pairContact(pair, count);
          if (c === 0) break;
          if (contactPort(c) === portKey) return; // another flow to a port it tried
          if (contactOutcome(c) === Outcome.failure) failed = true;
        }
        if (count < INLINE_CONTACTS && !failed) this.#setPairContact(pair, count, packFirstContact(portKey, cls, osSyn) | PRESENT);
        else {
          if (!this.#mayAddEvidence()) return;
          ports = this.#pairToEvidence(pair, src6 ?? src, dst6 ?? dst, pairs.previousMs);
        }
      } else if (ports.has(portKey)) {
        ports.addRepeat(now);
        // An open incident's source trying a known port again is back too (a banned source's packets
        // never get here): a scanner whose ban lapsed or was lifted repeats its port list.
        if (ports.incident !== null) this.#judgeScan(ports, now, true);
        return;
      }
      if (ports !== null) {
        if (!ports.addItem(portKey, cls, osSyn, now)) this.counters[DetectionCounter['limit.items']]++;
        ports.vote(toolTrait(p), p.srcPort);
        this.#judgeScan(ports, now, true);
      }
    }
    this.counters[DetectionCounter['probes.first_contact']]++;
    this.#flowPortKey[slot] = portKey;
    this.#flowPair[slot] = pair;
    this.#flowPairGeneration[slot] = pairs.generation(pair);

    // The (source, port) record, unless the source is already walking the ports of this target: one
    // sweep record per port a vertical scanner tries would cost memory and tell nothing the scan does not.
    if (ports === null || ports.distinct <= this.settings.scan.minPorts) {
      const sweeps = this.#sweeps;
      let sweep = sweeps.locate(src, portKey, family, now);
      if (sweep < 0) {
        sweep = this.#claimRecord(sweeps, this.#sweepEvidence, -sweep - 1, src, portKey, family, now);
        sweeps.setValue(sweep, packSweep(cls, osSyn));
        const trait = toolTrait(p);
        this.#sweepTrait[sweep] = trait;
        this.#sweepTraitCount[sweep] = 1;
        this.#sweepFirstHost[sweep] = dst;
        this.#sweepFirstHost6[sweep] = dst6;
        this.#sweepEvidence[sweep] = null;
      } else {
        // Only counted while it cannot be an incident (first-contact.ts): a client of many hosts costs nothing.
        let hosts = this.#sweepEvidence[sweep];
        if (hosts === null && (sweepFailures(sweeps.value(sweep)) === 0 || !this.#mayAddEvidence())) {
          sweeps.setValue(sweep, withSweepHost(sweeps.value(sweep)));
          if (this.#sweepTrait[sweep] !== 0 && toolTrait(p) === this.#sweepTrait[sweep]) this.#sweepTraitCount[sweep]++;
        } else {
          hosts ??= this.#sweepToEvidence(sweep, src6 ?? src, portKey);
          if (!hosts.addItem(dst6 ?? dst, cls, osSyn, now)) this.counters[DetectionCounter['limit.items']]++;
          hosts.vote(toolTrait(p), p.srcPort);
          this.#judgeSweep(hosts, now, true);
        }
      }
      this.#flowSweep[slot] = sweep;
      this.#flowSweepGeneration[slot] = sweeps.generation(sweep);
    }

    if (this.#pending.full) {
      this.counters[DetectionCounter['limit.pending']]++;
      this.#expireOldestPending(now);
    }
    this.#flows.setState(slot, this.#flows.state(slot) | FlowState.PENDING);
    this.#pending.push(slot, this.#flows.generation(slot), now, src, dst, src6, dst6, portKey, cls);
  }

  /** Inline contact `i` of a (source, target) record (0: none there). */
  #pairContact(pair: number, i: number): number {
    return i === 0 ? this.#pairs.value(pair) : this.#pairs.word(pair, i - 1);
  }

  #setPairContact(pair: number, i: number, contact: number): void {
    if (i === 0) this.#pairs.setValue(pair, contact);
    else this.#pairs.setWord(pair, i - 1, contact);
  }

  /** Index of the inline contact to `portKey`, or -1. */
  #findPairContact(pair: number, portKey: number): number {
    for (let i = 0; i < INLINE_CONTACTS; i++) {
      const c = this.#pairContact(pair, i);
      if (c === 0) return -1;
      if (contactPort(c) === portKey) return i;
    }
    return -1;
  }

  /**
   * Turns a (source, target) record's inline contacts into evidence, dated `datedMs` (the record's last
   * touch: exact for a scanner of one target). The caller has reserved the evidence slot.
   */
  #pairToEvidence(pair: number, source: AddressKey, target: AddressKey, datedMs: number): ContactEvidence<number> {
    const ports = new ContactEvidence<number>(source, target, datedMs, this.settings.scan.windows.length, comparePorts, true, this.#itemBudget);
    for (let i = 0; i < INLINE_CONTACTS; i++) {
      const c = this.#pairContact(pair, i);
      if (c === 0) break;
      ports.replay(c, contactPort(c), datedMs, this.trw);
    }
    this.#pairEvidence[pair] = ports;
    this.#pairs.keepLong(pair);
    this.#queueExpiry(this.#pairs, this.#pairExpiry, this.#pairQueued, pair);
    return ports;
  }

  /** Turns a counted sweep record into evidence, its unnamed hosts dated at the record's last touch. */
  #sweepToEvidence(sweep: number, source: AddressKey, portKey: number): ContactEvidence<AddressKey> {
    const sweeps = this.#sweeps;
    const v = sweeps.value(sweep);
    const firstHost: AddressKey = this.#sweepFirstHost6[sweep] ?? this.#sweepFirstHost[sweep];
    const hosts = ContactEvidence.fromCounts(
      source,
      portKey,
      firstHost,
      sweepHosts(v),
      sweepSuccesses(v),
      sweepFailures(v),
      sweepClass(v),
      sweepOsSyn(v),
      sweeps.lastMs(sweep),
      this.settings.sweep.windows.length,
      compareAddressKeys,
      this.trw,
      this.#itemBudget,
    );
    if (this.#sweepTrait[sweep] !== 0) (hosts.tools ??= new ToolVotes()).seed(this.#sweepTrait[sweep], this.#sweepTraitCount[sweep], sweepHosts(v));
    this.#sweepEvidence[sweep] = hosts;
    this.#sweepFirstHost6[sweep] = null;
    sweeps.keepLong(sweep);
    this.#queueExpiry(sweeps, this.#sweepExpiry, this.#sweepQueued, sweep);
    return hosts;
  }

  /**
   * Whether one more record may hold evidence (limits.maxEvidenceRecords). Past the limit a record stays
   * counted only, so detection fails open for it, and the refusal is counted.
   */
  #mayAddEvidence(): boolean {
    if (this.#evidenceRecords < this.settings.limits.maxEvidenceRecords) {
      this.#evidenceRecords++;
      return true;
    }
    this.counters[DetectionCounter['limit.evidence']]++;
    return false;
  }

  /** Takes a record slot, counting what taking it cost and releasing the evidence it held. */
  #claimRecord(
    table: SlotTable,
    evidence: ({ remembered: number; shed(): void } | null)[],
    slot: number,
    k1: number,
    k2: number,
    k3: number,
    now: number,
  ): number {
    if (table.lastClaim === Claim.evicted) this.counters[DetectionCounter['limit.records']]++;
    else if (table.lastClaim === Claim.expired) this.counters[DetectionCounter['expired.records']]++;
    const old = evidence[slot];
    if (old !== null) {
      this.#itemBudget.release(old.remembered);
      this.#evidenceRecords--;
      old.shed();
      evidence[slot] = null;
    }
    table.claim(slot, k1, k2, k3, now);
    return slot;
  }

  /** An answer from the target of a pending first contact: the prober is the packet's destination. */
  #resolveAnswer(p: Packet, slot: number, prober: number, target: number, v6: boolean, cls: number, portKey: number, success: boolean, now: number): void {
    // Addresses as keys are needed only where a failure may feed a distributed scan.
    let proberKey: AddressKey = prober;
    let targetKey: AddressKey = target;
    if (v6 && !success) {
      proberKey = formatIPv6(p.buf, p.dst6Offset);
      targetKey = formatIPv6(p.buf, p.src6Offset);
    }
    this.#resolve(slot, proberKey, targetKey, portKey, cls, success, now);
  }

  /**
   * The outcome of the first contact that opened flow `slot`. The keys are the addresses; for IPv6
   * successes they may be folds, as only a failure uses them (distributed scans).
   */
  #resolve(slot: number, srcKey: AddressKey, dstKey: AddressKey, portKey: number, cls: number, success: boolean, now: number): void {
    this.counters[DetectionCounter[success ? 'outcomes.success' : 'outcomes.failure']]++;
    if (!success) this.#distributedFailure(srcKey, dstKey, portKey, cls, now);
    const pair = this.#flowPair[slot];
    if (pair >= 0 && this.#pairs.holds(pair, this.#flowPairGeneration[slot], now)) {
      const ports = this.#pairEvidence[pair];
      if (ports !== null) {
        ports.recordOutcome(success, this.trw);
        this.#judgeScan(ports, now);
      } else {
        const i = this.#findPairContact(pair, portKey);
        if (i >= 0) this.#setPairContact(pair, i, withOutcome(this.#pairContact(pair, i), success));
        // A failure among two ports or more: from now on the record needs evidence.
        if (!success && this.#pairContact(pair, 1) !== 0 && this.#mayAddEvidence()) {
          this.#judgeScan(this.#pairToEvidence(pair, srcKey, dstKey, this.#pairs.lastMs(pair)), now);
        }
      }
    }
    const sweep = this.#flowSweep[slot];
    if (sweep >= 0 && this.#sweeps.holds(sweep, this.#flowSweepGeneration[slot], now)) {
      const sweeps = this.#sweeps;
      let hosts = this.#sweepEvidence[sweep];
      if (hosts === null) {
        const v = sweeps.value(sweep);
        if (success || sweepHosts(v) < 2 || !this.#mayAddEvidence()) {
          sweeps.setValue(sweep, success ? withSweepSuccess(v) : withSweepFailure(v));
          return;
        }
        // A failure among two hosts or more: from now on the sweep record needs evidence.
        hosts = this.#sweepToEvidence(sweep, srcKey, portKey);
      }
      hosts.recordOutcome(success, this.trw);
      this.#judgeSweep(hosts, now);
    }
  }

  #expireOldestPending(now: number): void {
    const pending = this.#pending;
    const slot = pending.headSlot();
    const ft = this.#flows;
    if (ft.generation(slot) === pending.headGeneration() && (ft.state(slot) & FlowState.PENDING) !== 0) {
      ft.setState(slot, ft.state(slot) & ~FlowState.PENDING);
      this.#resolve(
        slot,
        pending.headSource(),
        pending.headTarget(),
        pending.headPortKey(),
        pending.headClass(),
        false,
        now,
      );
    }
    pending.shift();
  }

  /**
   * The prober of flow `slot` completed (`completed`; `hadReset` when it had reset the same flow
   * first) or reset a half-open handshake to an open port.
   */
  #handshake(slot: number, completed: boolean, hadReset: boolean, now: number, ipId: number): void {
    const pair = this.#flowPair[slot];
    if (pair < 0 || !this.#pairs.holds(pair, this.#flowPairGeneration[slot], now)) return;
    const ports = this.#pairEvidence[pair];
    if (ports === null) {
      const i = this.#findPairContact(pair, this.#flowPortKey[slot]);
      if (i >= 0) this.#setPairContact(pair, i, withHandshake(this.#pairContact(pair, i), completed));
      return;
    }
    if (completed) {
      ports.completed++;
      if (hadReset) ports.halfOpenResets--;
    } else {
      ports.halfOpenResets++;
      ports.resetId(ipId);
    }
  }

  // ---- detectors --------------------------------------------------------------------------------

  /** `probe`: called for a new first contact (not an answer), which may report an open incident again. */
  #judgeScan(ports: ContactEvidence<number>, now: number, probe = false): void {
    if (ports.incident !== null) {
      ports.incident.lastMs = now;
      if (probe) this.#reportAgain(ports.incident, now);
      return;
    }
    const trigger = ports.verdict(this.#scanThresholds, this.trw, now);
    if (trigger === '') return;
    const { source, subject: target } = ports;
    const incident = new ScanIncident(source, target, ports, this.trw, now, trigger);
    ports.incident = incident;
    // A member of a known decoy group or distributed scan is reported by that group.
    const decoy = this.#decoyGroups.get(source);
    if (decoy?.incident != null && decoy.target === target) incident.absorbedBy = decoy.incident;
    const group = this.#targets.get(target)?.distributed?.incident;
    if (group != null && group.members.has(source)) incident.absorbedBy = group;
    this.#report(incident);
  }

  #judgeSweep(hosts: ContactEvidence<AddressKey>, now: number, probe = false): void {
    if (hosts.incident !== null) {
      hosts.incident.lastMs = now;
      if (probe) this.#reportAgain(hosts.incident, now);
      return;
    }
    const trigger = hosts.verdict(this.#sweepThresholds, this.trw, now);
    if (trigger === '') return;
    const incident = new SweepIncident(hosts.source, hosts.subject as number, hosts, this.trw, now, trigger);
    hosts.incident = incident;
    this.#report(incident);
  }

  #linkDecoys(source: AddressKey, other: AddressKey, target: AddressKey, portKey: number, cls: number, now: number): void {
    const groups = this.#decoyGroups;
    const mine = groups.get(source);
    const theirs = groups.get(other);
    let group: DecoyGroup;
    if (mine === undefined && theirs === undefined) {
      group = new DecoyGroup(target, now);
      group.probes = 1; // the first of the identical probes, sent before any match
    } else if (mine !== undefined && theirs !== undefined && mine !== theirs) {
      const [big, small] = mine.members.size >= theirs.members.size ? [mine, theirs] : [theirs, mine];
      big.absorb(small);
      for (const m of small.members) groups.set(m, big);
      if (small.incident !== null) small.incident.absorbedBy = big.incident ?? small.incident;
      group = big;
    } else group = (mine ?? theirs)!;
    if (group.invalid) return;
    for (const member of [source, other]) {
      if (!group.members.has(member)) {
        group.members.add(member);
        groups.set(member, group);
      }
    }
    group.ports.add(portKey);
    group.probes++;
    group.classes.add(cls, false);
    group.lastMs = now;
    if (group.members.size > this.settings.decoy.maxSources) {
      group.invalid = true;
      this.counters[DetectionCounter['decoy.groups_discarded']]++;
      // Its members are flood sources, not decoys: forget them so the map stays small.
      for (const m of group.members) if (groups.get(m) === group) groups.delete(m);
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
    if (t.distributed === null) {
      // A target's first failure waits inline: most targets get one (a spoofed flood's scattered SYNs,
      // a client's refused connection), and the window's maps cost about a kilobyte each. The second
      // replays it, so the state is exactly what it would have been.
      const s = this.settings.distributed;
      if (t.firstFailureSource === null && s.minPorts > 1) {
        t.firstFailureSource = source;
        t.firstFailurePort = portKey;
        t.firstFailureClass = cls;
        t.firstFailureMs = now;
        return;
      }
      t.distributed = new DistributedState(target, t.firstFailureSource === null ? now : t.firstFailureMs);
      if (t.firstFailureSource !== null) {
        t.distributed.addFailure(t.firstFailureSource, t.firstFailurePort, t.firstFailureClass, t.firstFailureMs, s);
        t.firstFailureSource = null;
      }
    }
    const before = t.distributed.incident;
    const incident = t.distributed.addFailure(source, portKey, cls, now, this.settings.distributed);
    if (incident !== null && before === null) this.#report(incident);
  }

  /** Counts a flood-class packet against its destination; returns the destination's state. */
  #countFlood(p: Packet, v6: boolean, cls: number, portKey: number, now: number): TargetState {
    const target: AddressKey = v6 ? formatIPv6(p.buf, p.dst6Offset) : p.dst4 | 0;
    const t = this.#targets.get(target) ?? this.#newTarget(target, now);
    const opened = this.#floods.count(t, cls, portKey, v6 ? formatIPv6(p.buf, p.src6Offset) : p.src4 | 0, (v6 ? p.src6Hash : p.src4) | 0, now);
    if (opened !== null) this.#report(opened);
    return t;
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  /**
   * Counts an answer to `dst` nobody asked for (`service`: reflection.ts). Returns whether `dst` is
   * under reflection now. A victim's first such answer within two flood windows costs only a bit of
   * a filter: late answers and a flood's backscatter (one answer to each spoofed source) make no state.
   */
  #unsolicited(p: Packet, v6: boolean, dst: number, service: number, now: number): boolean {
    this.counters[DetectionCounter['answers.unsolicited']]++;
    if (!this.#answeredOnce.seenBefore(dst, now)) return false;
    const victim: AddressKey = v6 ? formatIPv6(p.buf, p.dst6Offset) : dst;
    const reflector: AddressKey = v6 ? formatIPv6(p.buf, p.src6Offset) : p.src4 | 0;
    const refused = this.#reflections.refused;
    const under = this.#reflections.count(victim, reflector, (v6 ? p.src6Hash : p.src4) | 0, service, now);
    if (this.#reflections.refused !== refused) this.counters[DetectionCounter['limit.targets']]++;
    if (this.#reflections.opened.length > 0) this.#reportReflections();
    return under;
  }

  #reportReflections(): void {
    const opened = this.#reflections.opened;
    for (const incident of opened) this.#report(incident);
    opened.length = 0;
  }

  #reportPrefixFloods(): void {
    const opened = this.#prefixFloods.opened;
    for (const incident of opened) this.#report(incident);
    opened.length = 0;
  }

  #report(incident: Incident): void {
    this.#incidents.push(incident);
    incident.reportedMs = this.#clockMs;
    if (this.#listener !== null && incident.absorbedBy === null) this.#listener(incident);
  }

  /** Hands an open incident to the listener again (live: decide again); the incident list is unchanged. */
  #reportAgain(incident: Incident, now: number): void {
    if (this.#listener === null || incident.absorbedBy !== null || now - incident.reportedMs < REREPORT_MS) return;
    incident.reportedMs = now;
    this.#listener(incident);
  }

  #newTarget(key: AddressKey, now: number): TargetState {
    if (this.#targets.size >= this.settings.limits.maxTargets) {
      this.#forgetOneTarget();
      this.counters[DetectionCounter['limit.targets']]++;
    }
    const t = new TargetState(key, now);
    t.sequence = this.#targetSequence++;
    this.#targets.set(key, t);
    const queue = this.#targetExpiry;
    if (queue.size > 2 * this.#targets.size + 1024) {
      // Targets forgotten early (maxTargets) leave stale entries: rebuild from the live ones, so the
      // queue stays within twice the map (amortised O(1) per target).
      queue.clear();
      const idleMs = this.#targetIdleMs();
      for (const live of this.#targets.values()) queue.push(live.lastMs + idleMs, live);
    } else queue.push(now + this.#targetIdleMs(), t);
    return t;
  }

  /** Forgets the least recently seen of the oldest few targets: approximate LRU without per-packet upkeep. */
  #forgetOneTarget(): void {
    let victim: AddressKey | undefined;
    let victimMs = Infinity;
    let n = 0;
    for (const [key, state] of this.#targets) {
      if (state.lastMs < victimMs) {
        victimMs = state.lastMs;
        victim = key;
      }
      if (++n >= EVICTION_CANDIDATES) break;
    }
    if (victim !== undefined) this.#targets.delete(victim);
  }

  #tick(now: number): void {
    this.#nextTickMs = now + TICK_MS;
    this.#linkSweeps.judge(now);
    const timeoutBefore = now - this.settings.probeTimeoutMs;
    while (this.#pending.oldestMs() <= timeoutBefore) this.#expireOldestPending(now);
    if (now < this.#nextTargetExpiryMs) return;
    this.#nextTargetExpiryMs = now + TARGET_EXPIRY_EVERY_MS;
    // Expired records keep their slots until a lookup reuses them; give their evidence back now, or the
    // evidence count would creep up to its limit in a long run. Each check looks only at what the
    // queues say may be due, and decides exactly as a scan of every record and target would.
    this.#releaseExpiredEvidence(this.#pairs, this.#pairEvidence, this.#pairExpiry, this.#pairQueued, now);
    this.#releaseExpiredEvidence(this.#sweeps, this.#sweepEvidence, this.#sweepExpiry, this.#sweepQueued, now);
    this.#expireTargets(now);
    if (this.#reflections.size > 0) {
      this.#reflections.closeDue(now, false);
      this.#reportReflections();
    }
  }

  #targetIdleMs(): number {
    return Math.max(this.settings.limits.lightSourceIdleMs, this.settings.distributed.windowMs);
  }

  /** Forgets the targets idle longer than the target idle time, in the order they were created. */
  #expireTargets(now: number): void {
    const idleMs = this.#targetIdleMs();
    const queue = this.#targetExpiry;
    const expired: TargetState[] = [];
    const requeue: TargetState[] = [];
    // 1 ms of slack: the queue's due times are sums, the decision below is the exact comparison.
    while (queue.peekDue() <= now + 1) {
      const t = queue.pop();
      if (this.#targets.get(t.key) !== t) continue; // forgotten already (maxTargets)
      if (now - t.lastMs > idleMs) expired.push(t);
      else requeue.push(t);
    }
    for (const t of requeue) queue.push(t.lastMs + idleMs, t);
    if (expired.length > 1) expired.sort((a, b) => a.sequence - b.sequence);
    for (const t of expired) {
      const opened = this.#floods.closeWindow(t, now);
      if (opened !== null) this.#report(opened);
      this.#targets.delete(t.key);
      this.counters[DetectionCounter['expired.targets']]++;
    }
  }

  /** Queues a record slot that now holds evidence for its expiry check, unless it is queued already. */
  #queueExpiry(table: SlotTable, queue: DueQueue<number>, queued: Uint8Array, slot: number): void {
    if (queued[slot] !== 0) return; // its entry is due no later than this record's expiry
    queued[slot] = 1;
    queue.push(table.lastMs(slot) + table.longIdleMs, slot);
  }

  #releaseExpiredEvidence(table: SlotTable, evidence: ({ remembered: number; shed(): void } | null)[], queue: DueQueue<number>, queued: Uint8Array, now: number): void {
    let requeue: number[] | null = null;
    while (queue.peekDue() <= now + 1) {
      const slot = queue.pop();
      const e = evidence[slot];
      if (e === null) {
        queued[slot] = 0;
        continue;
      }
      if (table.alive(slot, now)) {
        (requeue ??= []).push(slot);
        continue;
      }
      queued[slot] = 0;
      this.#itemBudget.release(e.remembered);
      this.#evidenceRecords--;
      e.shed();
      evidence[slot] = null;
    }
    if (requeue !== null) for (const slot of requeue) queue.push(table.lastMs(slot) + table.longIdleMs, slot);
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
      if (i.absorbedBy !== null || i.withdrawn) continue;
      if (i instanceof DecoyIncident) absorb(i, i.group.members, i.group.target);
      else if (i instanceof DistributedIncident) absorb(i, i.members, i.state.target);
    }
    this.#absorbDiscoveryScans();
  }

  /**
   * Host discovery with several ping methods (nmap -sn: echo, SYN 443, ACK 80, timestamp; more with -PS,
   * -PA, -PU) touches every host on a handful of "ports", each of which is a sweep. Each host then also
   * looks like a small vertical scan of exactly those ports: such a scan is reported by the sweeps, not
   * once per host. A scan with any port the source did not sweep stays its own incident.
   */
  #absorbDiscoveryScans(): void {
    const swept = new Map<AddressKey, { by: SweepIncident; ports: Set<number> }>();
    for (const i of this.#incidents) {
      if (!(i instanceof SweepIncident) || i.absorbedBy !== null || i.withdrawn) continue;
      const entry = swept.get(i.source);
      if (entry === undefined) swept.set(i.source, { by: i, ports: new Set([i.portKey]) });
      else entry.ports.add(i.portKey);
    }
    if (swept.size === 0) return;
    for (const i of this.#incidents) {
      if (!(i instanceof ScanIncident) || i.absorbedBy !== null || i.withdrawn) continue;
      const entry = swept.get(i.source);
      const ports = i.ports;
      // The sample holds every port while there are few (a discovery touches a handful).
      if (entry === undefined || ports.sample.length !== ports.distinct) continue;
      if (ports.sample.every((p) => entry.ports.has(p))) i.absorbedBy = entry.by;
    }
  }
}

function quotedPortKey(protocol: number, port: number): number {
  if (protocol === IpProtocol.TCP) return PortFamily.tcp + port;
  if (protocol === IpProtocol.UDP) return PortFamily.udp + port;
  return PortFamily.proto + protocol;
}
