/**
 * Decoder events: the public vocabulary of what the decoder found wrong (or noteworthy) in a
 * frame. Ids are dense and stable within a build so the hot path counts by index into a typed
 * array; names are what logs, metrics and `analyze --json` show.
 *
 * Two kinds, named in each doc line:
 * - malformed: decoding stopped at that layer; the packet is `valid = false` with `event` set,
 *   and `DecodeStats.record` counts it (`malformed++`).
 * - notice: something worth counting that does not make the packet unusable (an ICMP error with
 *   a broken quote, a non-IP frame); counted through `DecodeStats.note`, `valid` unaffected.
 *
 * For every event the stats also keep where it first happened (frame number, file, byte offset), so
 * a count of malformed frames can be looked up in the capture.
 */
export const DecodeEvent = {
  none: 0,
  'frame.bad_bounds': 1,
  'link.unsupported': 2,
  'link.not_ip': 3,
  'ethernet.truncated': 4,
  'vlan.truncated': 5,
  'vlan.too_many_tags': 6,
  'sll.truncated': 7,
  'sll2.truncated': 8,
  'loopback.truncated': 9,
  'raw.truncated': 10,
  'raw.bad_version': 11,
  'ipv4.truncated': 12,
  'ipv4.bad_version': 13,
  'ipv4.bad_header_length': 14,
  'ipv4.bad_total_length': 15,
  'ipv6.truncated': 16,
  'ipv6.bad_version': 17,
  'ipv6.ext_header_truncated': 18,
  'ipv6.too_many_ext_headers': 19,
  'tcp.truncated': 20,
  'tcp.bad_data_offset': 21,
  'tcp.bad_options': 22,
  'udp.truncated': 23,
  'udp.bad_length': 24,
  'icmp.truncated': 25,
  'icmp.bad_quote': 26,
  'icmpv6.truncated': 27,
  'icmpv6.bad_quote': 28,
  'dns.malformed': 29,
  // Appended, not beside frame.bad_bounds: ids stay as they were for everything counted before.
  'frame.bad_timestamp': 30,
  'arp.truncated': 31,
} as const;

export type DecodeEventName = keyof typeof DecodeEvent;

/** One line per event; the type makes a missing or stray entry a compile error. */
export const DecodeEventDoc: Readonly<Record<DecodeEventName, string>> = {
  none: 'no event: the frame decoded cleanly',
  'frame.bad_bounds': 'malformed: offset/length given to the decoder lie outside the capture buffer (a caller bug)',
  'frame.bad_timestamp':
    'malformed: the capture timestamp is before 1970 or past 2255 (beyond 2^53 µs), as a corrupt pcapng block gives; the frame is skipped, not clamped, and its packet time reads 0',
  'link.unsupported': 'malformed: the capture link type is not one the decoder understands',
  'link.not_ip': 'notice: frame carries no IP layer (ARP, LLDP, unknown loopback family …); valid with ipVersion 0',
  'arp.truncated': 'malformed: an ARP packet for IPv4 over Ethernet shorter than its 28 bytes',
  'ethernet.truncated': 'malformed: fewer than 14 bytes for the Ethernet header',
  'vlan.truncated': 'malformed: an 802.1Q/802.1ad tag is cut short',
  'vlan.too_many_tags': 'malformed: more stacked VLAN tags than the cap (4)',
  'sll.truncated': 'malformed: fewer than 16 bytes for the Linux cooked (SLL) header',
  'sll2.truncated': 'malformed: fewer than 20 bytes for the Linux cooked v2 (SLL2) header',
  'loopback.truncated': 'malformed: fewer than 4 bytes for the BSD loopback (NULL/LOOP) family',
  'raw.truncated': 'malformed: empty raw-IP frame',
  'raw.bad_version': 'malformed: raw-IP frame whose first nibble is neither 4 nor 6',
  'ipv4.truncated': 'malformed: IPv4 header (20 bytes, or IHL×4 with options) not within the captured bytes',
  'ipv4.bad_version': 'malformed: IPv4 link/EtherType but the version nibble is not 4',
  'ipv4.bad_header_length': 'malformed: IPv4 IHL below 5 (header shorter than 20 bytes)',
  'ipv4.bad_total_length': 'malformed: IPv4 total length smaller than its own header',
  'ipv6.truncated': 'malformed: fewer than 40 bytes for the IPv6 header',
  'ipv6.bad_version': 'malformed: IPv6 link/EtherType but the version nibble is not 6',
  'ipv6.ext_header_truncated': 'malformed: an IPv6 extension header runs past the packet or the captured bytes',
  'ipv6.too_many_ext_headers': 'malformed: IPv6 extension-header chain longer than the cap (8)',
  'tcp.truncated': 'malformed: fewer than 20 bytes for the TCP header',
  'tcp.bad_data_offset': 'malformed: TCP data offset below 5 or beyond the end of the IP packet',
  'tcp.bad_options': 'notice: TCP option list malformed (bad length); the walk stopped, the packet stays valid',
  'udp.truncated': 'malformed: fewer than 8 bytes for the UDP header',
  'udp.bad_length': 'malformed: UDP length field below 8 or beyond the end of the IP packet',
  'icmp.truncated': 'malformed: fewer than 8 bytes for the ICMP header',
  'icmp.bad_quote': 'notice: ICMP error whose quoted IPv4 header or ports are missing or broken; quotedProtocol stays 0',
  'icmpv6.truncated': 'malformed: fewer than 8 bytes for the ICMPv6 header',
  'icmpv6.bad_quote': 'notice: ICMPv6 error whose quoted IPv6 header, extension chain or ports are missing or broken',
  'dns.malformed': 'notice: port-53 payload that is not a parsable DNS question (counted by dnsQuestion)',
};

const eventNames: readonly DecodeEventName[] = (() => {
  const names: DecodeEventName[] = [];
  for (const name of Object.keys(DecodeEvent) as DecodeEventName[]) names[DecodeEvent[name]] = name;
  return names;
})();

/** Number of event ids (ids run 0 … count − 1). */
export const DECODE_EVENT_COUNT = eventNames.length;

/** Name of an event id, or undefined for an id outside the table. */
export function decodeEventName(id: number): DecodeEventName | undefined {
  return eventNames[id];
}

/** Where an event first happened. */
export interface EventFirstSeen {
  count: number;
  /** Frame number within its source, from 1. */
  frame: number;
  /** The capture file (as given to beginSource), or null for a source without one. */
  source: string | null;
  /** Byte offset of the frame's record in that file, or null when the source has no file offsets. */
  offset: number | null;
}

/**
 * Decoder counters for one pipeline. Incremented by index on the hot path; `toJSON` turns them
 * into names for logs and metrics.
 */
export class DecodeStats {
  /** Frames handed to the decoder. */
  frames = 0;
  /** Frames that decoded without a malformed event (valid packets, IP or not). */
  decoded = 0;
  /** Frames that stopped at a malformed layer. */
  malformed = 0;
  /** Occurrences per event id, malformed events and notices alike; index 0 (none) stays 0. */
  readonly counts = new Uint32Array(DECODE_EVENT_COUNT);
  /**
   * Byte offset in its file of the record of the frame being decoded: the capture source sets it
   * before each frame (FrameHandler's recordOffset); -1 when the source has no file.
   */
  position = -1;
  /** Per event id, where it first happened: the frame number counted over all sources (0: not yet)... */
  readonly #firstFrame = new Float64Array(DECODE_EVENT_COUNT);
  /** ...the record's byte offset (-1: unknown)... */
  readonly #firstOffset = new Float64Array(DECODE_EVENT_COUNT);
  /** ...and the index of its source in #sources. */
  readonly #firstSource = new Int32Array(DECODE_EVENT_COUNT);
  /** Sources begun, with the frame count when each began (frame numbers restart per file). */
  readonly #sources: { name: string | null; startFrames: number }[] = [{ name: null, startFrames: 0 }];

  /**
   * A new capture file starts: later events are placed in it, and frame numbers count from its
   * first frame. Frame totals go on across files.
   */
  beginSource(name: string): void {
    this.#sources.push({ name, startFrames: this.frames });
    this.position = -1;
  }

  /**
   * Counts the outcome of one frame: `event` 0 is a clean decode, anything else the malformed
   * event that stopped it. decodeFrame calls this exactly once per frame.
   */
  record(event: number): void {
    this.frames++;
    if (event === 0) {
      this.decoded++;
    } else {
      this.malformed++;
      this.counts[event]++;
      if (this.#firstFrame[event] === 0) this.#first(event, this.frames);
    }
  }

  /** Counts a notice: an event that leaves the frame valid and touches no frame totals. */
  note(event: number): void {
    // Notices come while the frame is decoded, before record() counts it.
    this.counts[event]++;
    if (this.#firstFrame[event] === 0) this.#first(event, this.frames + 1);
  }

  /** Event name → count, only non-zero counts. */
  toJSON(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let id = 1; id < this.counts.length; id++) {
      if (this.counts[id] !== 0) out[eventNames[id]] = this.counts[id];
    }
    return out;
  }

  /** Event name → count and where it first happened, only events that happened. */
  firstSeen(): Partial<Record<DecodeEventName, EventFirstSeen>> {
    const out: Partial<Record<DecodeEventName, EventFirstSeen>> = {};
    for (let id = 1; id < this.counts.length; id++) {
      if (this.counts[id] === 0) continue;
      const source = this.#sources[this.#firstSource[id]];
      const offset = this.#firstOffset[id];
      out[eventNames[id]] = {
        count: this.counts[id],
        frame: this.#firstFrame[id] - source.startFrames,
        source: source.name,
        offset: offset < 0 ? null : offset,
      };
    }
    return out;
  }

  /** Off the hot path: runs once per event id. */
  #first(event: number, frame: number): void {
    this.#firstFrame[event] = frame;
    this.#firstOffset[event] = this.position;
    this.#firstSource[event] = this.#sources.length - 1;
  }
}
