/**
 * The anomaly model's watcher, on packet time: profiles each source from the probe-like packets it
 * sends (TCP without ACK, UDP to a lower port than its own, ICMP echo requests) and the answers it gets
 * (SYN-ACK, UDP replies, echo replies), and scores a source once it has been quiet for `idleMs` (or at
 * the end of a capture) against the sources scored before it (model.ts). A source the fixed detectors
 * reported is not reported again, and neither it nor a reported source enters the history.
 *
 * Hot path: a Map lookup by 32-bit key and a few increments per probe-like packet or answer; other
 * packets cost a flag test. Memory: `maxSources` profiles of about 250 bytes, and the history.
 */
import { formatIPv4, formatIPv6 } from '../../net/address.js';
import { IpProtocol, TcpFlag, type Packet } from '../../model/packet.js';
import { FEATURE_NAMES, SourceProfile } from './features.js';
import { RobustModel, type Score } from './model.js';
import type { AnomalySettings } from './settings.js';
import { BehaviourIncident } from './behaviour-incident.js';

const { SYN, ACK, RST } = TcpFlag;
const SWEEP_EVERY_MS = 60_000;

/** One scored source: what the evaluation (bench/anomaly-eval.ts) ranks. */
export interface ScoredSource {
  source: string;
  score: number;
  probes: number;
  /** A fixed detector reported it. */
  flagged: boolean;
  /** The model was trained enough to report it. */
  judged: boolean;
}

export class BehaviourWatcher {
  readonly settings: AnomalySettings;
  readonly model: RobustModel;
  readonly #v4 = new Map<number, SourceProfile>();
  readonly #v6 = new Map<number, SourceProfile>();
  readonly #flagged = new Set<string>();
  readonly #report: (incident: BehaviourIncident) => void;
  readonly #onScore: ((s: ScoredSource) => void) | null;
  #nextSweepMs = -Infinity;
  /** Sources not profiled because maxSources were. */
  untracked = 0;
  scored = 0;
  reported = 0;

  constructor(settings: AnomalySettings, report: (incident: BehaviourIncident) => void, onScore: ((s: ScoredSource) => void) | null = null, model?: RobustModel) {
    this.settings = settings;
    this.model = model ?? new RobustModel(settings.historySize);
    this.#report = report;
    this.#onScore = onScore;
  }

  /** A fixed detector reported these sources: never reported again by the model, kept out of its history. */
  flag(sources: readonly string[]): void {
    for (const s of sources) this.#flagged.add(s);
  }

  observe(p: Packet): void {
    if (!p.valid || p.ipVersion === 0 || p.laterFragment) return;
    const now = p.tsUs / 1000;
    if (now >= this.#nextSweepMs) this.advance(now);
    const proto = p.protocol;
    if (proto === IpProtocol.TCP) {
      const f = p.tcpFlags;
      if ((f & (ACK | RST)) === 0) this.#probe(p, p.dstPort, (f & 0x3f) !== SYN, now);
      else if ((f & (SYN | ACK)) === (SYN | ACK)) this.#answer(p);
    } else if (proto === IpProtocol.UDP) {
      if (p.dstPort < p.srcPort) this.#probe(p, 0x10000 + p.dstPort, false, now);
      else this.#answer(p);
    } else if (proto === IpProtocol.ICMP || proto === IpProtocol.ICMPV6) {
      const request = p.ipVersion === 4 ? 8 : 128;
      if (p.icmpType === request) this.#probe(p, 0x30000, false, now);
      else if (p.icmpType === request - 8 || (p.ipVersion === 6 && p.icmpType === 129)) this.#answer(p);
    }
  }

  /** Scores the sources quiet for idleMs by `nowMs`. */
  advance(nowMs: number): void {
    this.#nextSweepMs = nowMs + SWEEP_EVERY_MS;
    const before = nowMs - this.settings.idleMs;
    for (const map of [this.#v4, this.#v6]) {
      for (const [key, profile] of map) {
        if (profile.lastMs > before) continue;
        map.delete(key);
        this.#score(profile, nowMs);
      }
    }
  }

  /** End of input: every source still profiled is scored, in the order it was first seen. */
  flush(nowMs: number): void {
    const all = [...this.#v4.values(), ...this.#v6.values()].sort((a, b) => a.firstMs - b.firstMs);
    this.#v4.clear();
    this.#v6.clear();
    for (const profile of all) this.#score(profile, nowMs);
  }

  get profiled(): number {
    return this.#v4.size + this.#v6.size;
  }

  #probe(p: Packet, portKey: number, odd: boolean, now: number): void {
    const v6 = p.ipVersion === 6;
    const key = (v6 ? p.src6Hash : p.src4) | 0;
    const map = v6 ? this.#v6 : this.#v4;
    let profile = map.get(key);
    if (profile === undefined) {
      if (map.size + (v6 ? this.#v4.size : this.#v6.size) >= this.settings.maxSources) {
        this.untracked++;
        return;
      }
      profile = new SourceProfile(v6 ? formatIPv6(p.buf, p.src6Offset) : formatIPv4(p.src4), now);
      map.set(key, profile);
    }
    profile.probe((v6 ? p.dst6Hash : p.dst4) | 0, portKey, odd, p.ttl, now);
  }

  /** An answer: its destination is the prober, whose contact succeeded. */
  #answer(p: Packet): void {
    const profile = p.ipVersion === 6 ? this.#v6.get(p.dst6Hash | 0) : this.#v4.get(p.dst4 | 0);
    if (profile !== undefined && profile.successes < profile.probes) profile.successes++;
  }

  #score(profile: SourceProfile, nowMs: number): void {
    if (profile.probes < this.settings.minProbes) return;
    const v = profile.vector();
    const flagged = this.#flagged.has(profile.source);
    const judged = this.model.trained >= this.settings.minTraining;
    const s: Score = this.model.score(v);
    this.scored++;
    this.#onScore?.({ source: profile.source, score: s.score, probes: profile.probes, flagged, judged });
    if (judged && !flagged && s.score >= this.settings.alertScore) {
      this.reported++;
      this.#report(new BehaviourIncident(profile, v, s, this.settings.alertScore, this.model.trained, nowMs));
      return; // an alert is kept out of the history, like a baseline's alerting window
    }
    if (!flagged) this.model.learn(v);
  }
}

export { FEATURE_NAMES };
