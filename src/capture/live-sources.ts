/**
 * NFLOG and libpcap as PacketSources: the raw readers (nflog.ts, pcap-live.ts) deliver frames, a
 * FrameDecoder turns them into the reused Packet, the consumer gets that. Counters are read in
 * place from the readers' stats objects.
 */
import { CounterReader, type CounterGroup } from '../model/counters.js';
import { NflogSource, type NflogSourceOptions } from './nflog.js';
import { PcapLiveSource, type PcapLiveSourceOptions } from './pcap-live.js';
import { FrameDecoder, type PacketHandler, type PacketSource, type SourceStats } from './source.js';

export interface LiveSourceRole {
  /** Shared decoder (several sources into one consumer); default a new one with `decodePrefix`. */
  decoder?: FrameDecoder;
  /** Prefix of this source's counters: `capture` (detection, the default), `respond.capture` … */
  counterPrefix?: string;
  /** Prefix of a new decoder's counters; default `decode`. */
  decodePrefix?: string;
}

const NFLOG_DOCS = {
  received: 'packets the kernel logged to the daemon (NFLOG messages read)',
  delivered: 'packets handed to the decoder',
  lost: 'packets the kernel logged but could not queue to the daemon (receive buffer full): gaps in the sequence numbers',
  datagrams: 'netlink datagrams read (each holds one or more logged packets)',
  malformed: 'NFLOG messages or datagrams that could not be parsed (counted and skipped)',
  overruns: 'receive-buffer overflow reports (ENOBUFS), only when NETLINK_NO_ENOBUFS could not be set',
  socket_errors: 'other socket errors',
  batch_switches: 'times adaptive batching switched between single packets and batches',
} as const;

const PCAP_DOCS = {
  received: 'packets that passed the BPF filter, as the kernel counts them (pcap_stats ps_recv)',
  delivered: 'frames handed to the decoder',
  lost: 'packets the kernel or the interface dropped (ring full: ps_drop + ps_ifdrop)',
  batches: 'addon calls (each with one or more packets)',
  truncated: 'frames longer than the snap length (delivered cut)',
} as const;

/** What both live readers offer: frames into a decoder, started, stopped, counted. */
interface LiveReader {
  readonly running: boolean;
  readonly stats: SourceStats;
  start(): Promise<void>;
  stop(): void;
}

/** A live reader as a PacketSource: the lifecycle both kinds share. */
abstract class LivePacketSource<R extends LiveReader> implements PacketSource {
  abstract readonly name: string;
  abstract readonly counters: CounterGroup;
  readonly decoder: FrameDecoder;
  /** The raw reader: its stats and socket or handle state (tests read them). */
  readonly reader: R;

  constructor(decoder: FrameDecoder, reader: (onFrame: FrameDecoder['onFrame']) => R) {
    this.decoder = decoder;
    this.reader = reader(decoder.onFrame);
  }

  get running(): boolean {
    return this.reader.running;
  }

  async start(onPacket: PacketHandler): Promise<void> {
    this.decoder.attach(onPacket);
    await this.reader.start();
  }

  close(): void {
    this.reader.stop();
  }

  stats(): SourceStats {
    return this.reader.stats;
  }
}

/** NFLOG group → decoded packets. */
export class NflogPacketSource extends LivePacketSource<NflogSource> {
  readonly name: string;
  readonly counters: CounterGroup;

  constructor(options: Omit<NflogSourceOptions, 'onFrame'> & LiveSourceRole) {
    const { decoder, counterPrefix, decodePrefix, ...nflog } = options;
    super(decoder ?? new FrameDecoder(decodePrefix), (onFrame) => new NflogSource({ ...nflog, onFrame }));
    this.name = `nflog group ${options.group}`;
    const p = `${counterPrefix ?? 'capture'}.`;
    const s = this.reader.stats;
    this.counters = new CounterReader(`${p}nflog`, prefixed(p, NFLOG_DOCS), () => ({
      [`${p}received`]: s.received,
      [`${p}delivered`]: s.delivered,
      [`${p}lost`]: s.lost,
      [`${p}datagrams`]: s.datagrams,
      [`${p}malformed`]: s.malformed,
      [`${p}overruns`]: s.overruns,
      [`${p}socket_errors`]: s.socketErrors,
      [`${p}batch_switches`]: s.batchSwitches,
    }));
  }
}

/** An interface through libpcap → decoded packets. */
export class PcapPacketSource extends LivePacketSource<PcapLiveSource> {
  readonly name: string;
  readonly counters: CounterGroup;

  constructor(options: Omit<PcapLiveSourceOptions, 'onFrame'> & LiveSourceRole) {
    const { decoder, counterPrefix, decodePrefix, ...pcap } = options;
    super(decoder ?? new FrameDecoder(decodePrefix), (onFrame) => new PcapLiveSource({ ...pcap, onFrame }));
    this.name = `pcap ${options.interface}`;
    const p = `${counterPrefix ?? 'capture'}.`;
    this.counters = new CounterReader(`${p}pcap`, prefixed(p, PCAP_DOCS), () => {
      const s = this.reader.stats; // refreshes the kernel's counters
      return { [`${p}received`]: s.received, [`${p}delivered`]: s.delivered, [`${p}lost`]: s.lost, [`${p}batches`]: s.batches, [`${p}truncated`]: s.truncated };
    });
  }
}

function prefixed(p: string, docs: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(docs).map(([k, v]) => [p + k, v]));
}
