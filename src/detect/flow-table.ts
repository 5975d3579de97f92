/**
 * Flows keyed by (address A, address B, port A, port B, protocol), stored in typed arrays with open
 * addressing so the packet path allocates nothing. Endpoints are kept in canonical order (the lower
 * address/port pair first), so both directions of a conversation find the same slot; `initiatorIsA`
 * remembers who spoke first.
 *
 * Memory is fixed at construction. A slot idle longer than `idleMs` counts as free; when all slots of a
 * probe chain are busy, the least recently used one is taken over (counted in `evictions`).
 * IPv6 addresses enter as 32-bit folds: two flows that differ only in folded-away bits share a slot,
 * which costs at most one misread flow and is far rarer than eviction.
 */

const MAX_CHAIN = 8;

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
  readonly #addrA: Int32Array;
  readonly #addrB: Int32Array;
  readonly #ports: Int32Array;
  readonly #proto: Uint16Array;
  readonly #lastMs: Float64Array;
  /** Flow state bits (FlowState). */
  readonly state: Uint8Array;
  /** 1 when endpoint A started the flow. */
  readonly initiatorIsA: Uint8Array;
  /** Probe class id of the opening packet. */
  readonly probeClass: Uint8Array;
  /** Bumped each time a slot is claimed, so a record of an old flow can tell its slot was reused. */
  readonly generation: Uint32Array;
  readonly idleMs: number;
  evictions = 0;
  /** Set by `locate`: whether the packet travels from A to B. */
  fromA = false;

  constructor(slots: number, idleMs: number) {
    let capacity = 1024;
    while (capacity < slots) capacity *= 2;
    this.capacity = capacity;
    this.#mask = capacity - 1;
    this.#addrA = new Int32Array(capacity);
    this.#addrB = new Int32Array(capacity);
    this.#ports = new Int32Array(capacity);
    this.#proto = new Uint16Array(capacity);
    this.#lastMs = new Float64Array(capacity).fill(-Infinity);
    this.state = new Uint8Array(capacity);
    this.initiatorIsA = new Uint8Array(capacity);
    this.probeClass = new Uint8Array(capacity);
    this.generation = new Uint32Array(capacity);
    this.idleMs = idleMs;
  }

  /**
   * Finds the flow of a packet from (src, srcPort) to (dst, dstPort). Returns its slot (≥ 0), or,
   * when there is none, `-(slot + 1)` for the slot `claim` should use. Sets `fromA`.
   * `proto` is the IP protocol, plus 256 for IPv6.
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
    h = (h ^ (h >>> 15) ^ proto) >>> 0;
    const stale = nowMs - this.idleMs;
    let free = -1;
    let oldest = -1;
    let oldestMs = Infinity;
    for (let i = 0; i < MAX_CHAIN; i++) {
      const slot = (h + i) & this.#mask;
      const last = this.#lastMs[slot];
      if (last < stale) {
        if (last === -Infinity) {
          // Never used: the chain ends here, nothing further can match.
          return free >= 0 ? -(free + 1) : -(slot + 1);
        }
        if (free < 0) free = slot;
        continue;
      }
      if (this.#addrA[slot] === a && this.#addrB[slot] === b && this.#ports[slot] === ports && this.#proto[slot] === proto) {
        this.#lastMs[slot] = nowMs;
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
    if (this.fromA) {
      this.#addrA[slot] = src;
      this.#addrB[slot] = dst;
      this.#ports[slot] = (srcPort << 16) | dstPort;
    } else {
      this.#addrA[slot] = dst;
      this.#addrB[slot] = src;
      this.#ports[slot] = (dstPort << 16) | srcPort;
    }
    this.#proto[slot] = proto;
    this.#lastMs[slot] = nowMs;
    this.state[slot] = state;
    this.initiatorIsA[slot] = this.fromA ? 1 : 0;
    this.probeClass[slot] = probeClass;
    this.generation[slot]++;
  }

  /** Time the slot was last touched; lets a pending-probe record check it still owns the slot. */
  lastMs(slot: number): number {
    return this.#lastMs[slot];
  }
}
