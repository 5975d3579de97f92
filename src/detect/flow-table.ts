/**
 * Flows keyed by (address A, address B, port A, port B, protocol). Endpoints are kept in canonical
 * order (the lower address/port pair first), so both directions of a conversation find the same slot;
 * the initiator flag remembers who spoke first.
 *
 * Each slot is 32 bytes of one ArrayBuffer (keys, state, initiator, probe class, generation, last-seen
 * time): a packet's lookup touches one cache line and allocates nothing. Memory is fixed at
 * construction. A slot idle longer than `idleMs` counts as free; when all slots of a probe chain are
 * busy, the least recently used one is taken over (counted in `evictions`). IPv6 addresses enter as
 * 32-bit folds: two flows that differ only in folded-away bits share a slot, which costs at most one
 * misread flow and is far rarer than eviction.
 */

const MAX_CHAIN = 8;
/** Slot layout in 32-bit words: a, b, ports, protocol, generation, meta; then lastMs as a float64. */
const STRIDE = 8;
const A = 0;
const B = 1;
const PORTS = 2;
const PROTO = 3;
const GENERATION = 4;
/** meta word: state bits 0-7, initiator-is-A bit 8, probe class bits 16-23. */
const META = 5;
const LAST_MS = 3; // in float64 units: bytes 24..31 of the slot
const INITIATOR_IS_A = 1 << 8;

export const FlowState = {
  /** The initiator's first packet was a probe (a first contact) whose outcome we track. */
  PROBE: 1,
  /** Outcome of the probe not known yet. */
  PENDING: 2,
  /** The responder answered positively (SYN-ACK, UDP reply, echo reply). */
  OPEN: 4,
  /** The responder refused (RST, ICMP unreachable). */
  CLOSED: 8,
  /** The initiator completed the TCP handshake. */
  COMPLETED: 16,
  /** The initiator reset the connection after a SYN-ACK without completing it (half-open scan). */
  HALF_OPEN_RESET: 32,
  /** The responder has sent at least one packet. */
  REPLIED: 64,
  /** The opening SYN carried an operating system's usual options (SACK-permitted or timestamps). */
  OS_SYN: 128,
} as const;

export class FlowTable {
  readonly capacity: number;
  readonly #mask: number;
  readonly #words: Int32Array;
  readonly #times: Float64Array;
  readonly idleMs: number;
  evictions = 0;
  /** Set by `locate`: whether the packet travels from A to B. */
  fromA = false;

  constructor(slots: number, idleMs: number) {
    let capacity = 1024;
    while (capacity < slots) capacity *= 2;
    this.capacity = capacity;
    this.#mask = capacity - 1;
    const buffer = new ArrayBuffer(capacity * STRIDE * 4);
    this.#words = new Int32Array(buffer);
    this.#times = new Float64Array(buffer);
    this.idleMs = idleMs;
  }

  /**
   * Finds the flow of a packet from (src, srcPort) to (dst, dstPort). Returns its slot (≥ 0), or,
   * when there is none, `-(slot + 1)` for the slot `claim` should use. Sets `fromA`.
   * Addresses are signed 32-bit integers; `proto` is the IP protocol, plus 256 for IPv6.
   */
  locate(src: number, srcPort: number, dst: number, dstPort: number, proto: number, nowMs: number): number {
    let a: number, b: number, ports: number;
    if (src < dst || (src === dst && srcPort <= dstPort)) {
      a = src;
      b = dst;
      ports = (srcPort << 16) | dstPort;
      this.fromA = true;
    } else {
      a = dst;
      b = src;
      ports = (dstPort << 16) | srcPort;
      this.fromA = false;
    }
    let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ ports, 0x27d4eb2f);
    h = h ^ (h >>> 15) ^ proto;
    const words = this.#words;
    const times = this.#times;
    const stale = nowMs - this.idleMs;
    let free = -1;
    let oldest = -1;
    let oldestMs = Infinity;
    for (let i = 0; i < MAX_CHAIN; i++) {
      const slot = (h + i) & this.#mask;
      const w = slot * STRIDE;
      if (words[w + GENERATION] === 0) {
        // Never used (fresh memory is zero): the chain ends here, nothing further can match.
        return free >= 0 ? -(free + 1) : -(slot + 1);
      }
      const last = times[slot * 4 + LAST_MS];
      if (last < stale) {
        if (free < 0) free = slot;
        continue;
      }
      if (words[w + A] === a && words[w + B] === b && words[w + PORTS] === ports && words[w + PROTO] === proto) {
        times[slot * 4 + LAST_MS] = nowMs;
        return slot;
      }
      if (last < oldestMs) {
        oldestMs = last;
        oldest = slot;
      }
    }
    if (free >= 0) return -(free + 1);
    this.evictions++;
    return -(oldest + 1);
  }

  /** Takes `slot` (from `locate`) for the packet last located; the sender becomes the initiator. */
  claim(slot: number, src: number, srcPort: number, dst: number, dstPort: number, proto: number, nowMs: number, state: number, probeClass: number): void {
    const words = this.#words;
    const w = slot * STRIDE;
    if (this.fromA) {
      words[w + A] = src;
      words[w + B] = dst;
      words[w + PORTS] = (srcPort << 16) | dstPort;
    } else {
      words[w + A] = dst;
      words[w + B] = src;
      words[w + PORTS] = (dstPort << 16) | srcPort;
    }
    words[w + PROTO] = proto;
    // Generation 0 marks a slot never used, so it skips 0 when it wraps.
    words[w + GENERATION] = (words[w + GENERATION] + 1) | 0 || 1;
    words[w + META] = state | (this.fromA ? INITIATOR_IS_A : 0) | (probeClass << 16);
    this.#times[slot * 4 + LAST_MS] = nowMs;
  }

  /** FlowState bits of the slot. */
  state(slot: number): number {
    return this.#words[slot * STRIDE + META] & 0xff;
  }

  setState(slot: number, state: number): void {
    const w = slot * STRIDE + META;
    this.#words[w] = (this.#words[w] & ~0xff) | (state & 0xff);
  }

  /** Whether the packet last located was sent by the flow's initiator. */
  fromInitiator(slot: number): boolean {
    return ((this.#words[slot * STRIDE + META] & INITIATOR_IS_A) !== 0) === this.fromA;
  }

  /** Makes the receiver of the packet last claimed the initiator (an answer seen before its question). */
  flipInitiator(slot: number): void {
    this.#words[slot * STRIDE + META] ^= INITIATOR_IS_A;
  }

  probeClass(slot: number): number {
    return (this.#words[slot * STRIDE + META] >>> 16) & 0xff;
  }

  /** Changes each time the slot is claimed, so a record of an old flow can tell its slot was reused. */
  generation(slot: number): number {
    return this.#words[slot * STRIDE + GENERATION];
  }
}
