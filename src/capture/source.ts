/**
 * The packet-source interface: every way packets reach portwarden (NFLOG, libpcap on an interface,
 * capture files; NFQUEUE in nfqueue-source.ts, which adds a verdict) hands its consumer decoded
 * packets with their timestamps, decoded once, here. Consumers (detection, the responder, inline
 * mode) never call the decoder themselves.
 *
 * Hot path: the decoder writes into one reused Packet and the source calls the consumer's handler
 * with it; nothing is allocated per packet and no closure is made per packet (the frame callback is
 * bound once, when the decoder is made). The Packet and its buffer are valid only during the call:
 * whoever keeps something copies it.
 */
import { decodeFrame } from '../decode/decoder.js';
import { decodeCounterGroup } from '../decode/counters.js';
import { DecodeStats } from '../decode/events.js';
import type { CounterGroup } from '../model/counters.js';
import { Packet } from '../model/packet.js';
import { PortwardenError } from '../errors.js';

/** Called once per decoded packet (valid or not: `packet.valid`, `packet.event` say). Packet time is `packet.tsUs`. */
export type PacketHandler = (packet: Packet) => void;

/** What every source counts, under the names `<prefix>.received`, `.delivered`, `.lost`. */
export interface SourceStats {
  /** Packets the source got from the kernel or the file (for a kernel source: what it read or the kernel says it passed). */
  readonly received: number;
  /** Packets handed to the consumer. */
  readonly delivered: number;
  /** Packets the kernel had for us but dropped (buffer full); 0 for files. */
  readonly lost: number;
}

/**
 * A source of decoded packets. Lifecycle: start(onPacket) once → packets flow → close()
 * (idempotent; safe inside onPacket: no packet is delivered after it).
 */
export interface PacketSource {
  /** For logs: `nflog group 5`, `pcap eth0`, `file a.pcap`. */
  readonly name: string;
  /** False before start, after close, and after a failure the source could not survive. */
  readonly running: boolean;
  /** The decoder of this source (shared when several sources feed one consumer): its Packet and counters. */
  readonly decoder: FrameDecoder;
  /**
   * Starts delivering. Rejects with a PortwardenError (PW_ERR_CAPTURE_*) when the source cannot be
   * opened; a file source resolves once it has read everything.
   */
  start(onPacket: PacketHandler): Promise<void>;
  close(): void;
  stats(): SourceStats;
  /** The source's own counters (`<prefix>.received` …) for the counter registry; the decoder's are `decoder.counters`. */
  readonly counters: CounterGroup;
}

const notStarted: PacketHandler = () => {};

/**
 * The decode step every source shares: one Packet, one DecodeStats, one bound frame callback.
 * Several sources feeding one consumer share one decoder (their frames are counted together, as
 * one capture), so the consumer sees one Packet whichever source a frame came from.
 */
export class FrameDecoder {
  readonly packet = new Packet();
  readonly stats = new DecodeStats();
  /** The decoder's counters for the registry: `<prefix>.frames` … (decode/counters.ts). */
  readonly counters: CounterGroup;
  /**
   * Bound once: sources call it per frame (a FrameHandler: the wire length is not needed; a file
   * source's recordOffset is where decoder events say a frame is); it decodes and calls the consumer.
   */
  readonly onFrame: (buf: Buffer, offset: number, length: number, tsUs: number, linkType: number, originalLength?: number, recordOffset?: number) => void;
  #handler: PacketHandler = notStarted;

  /**
   * @param prefix counter names' prefix: `decode` for detection's capture, `respond.decode` for the responder's …
   * @param consumer the one consumer, when known now (detection's pipeline): the frame callback then
   *   calls it directly, one field load less per frame; otherwise the first source's start attaches it.
   */
  constructor(prefix = 'decode', consumer?: PacketHandler) {
    this.counters = decodeCounterGroup(this.stats, prefix);
    const packet = this.packet;
    const stats = this.stats;
    if (consumer !== undefined) {
      this.#handler = consumer;
      this.onFrame = (buf, offset, length, tsUs, linkType, _originalLength, recordOffset = -1) => {
        stats.position = recordOffset;
        decodeFrame(packet, buf, offset, length, linkType, tsUs, stats);
        packet.frameIndex = stats.frames - 1;
        consumer(packet);
      };
    } else {
      this.onFrame = (buf, offset, length, tsUs, linkType, _originalLength, recordOffset = -1) => {
        stats.position = recordOffset;
        decodeFrame(packet, buf, offset, length, linkType, tsUs, stats);
        packet.frameIndex = stats.frames - 1;
        this.#handler(packet);
      };
    }
  }

  /**
   * Sets the one consumer of this decoder's packets. Attaching the same handler again is a no-op
   * (two sources into one pipeline); a different one is refused: a decoder has one consumer.
   */
  attach(handler: PacketHandler): void {
    if (this.#handler === handler) return;
    if (this.#handler !== notStarted) throw new PortwardenError('PW_ERR_CAPTURE_LIVE', 'a packet decoder feeds one consumer: give each consumer its own FrameDecoder');
    this.#handler = handler;
  }

  /** Decodes one frame into the reused Packet and counts it; for sources that need the result back (NFQUEUE's verdict). */
  decode(buf: Buffer, offset: number, length: number, tsUs: number, linkType: number): Packet {
    const packet = this.packet;
    const stats = this.stats;
    decodeFrame(packet, buf, offset, length, linkType, tsUs, stats);
    packet.frameIndex = stats.frames - 1;
    return packet;
  }
}
