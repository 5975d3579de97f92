/**
 * The daemon's live capture as one part: which interfaces it watches (the config's, else the default route's,
 * else every interface but loopback for NFLOG), the NFLOG rules the table needs for them, and the packet sources
 * (NFLOG, or libpcap per interface) started into one consumer through one shared decoder.
 */
import { PortwardenError } from '../errors.js';
import { defaultRouteInterface } from '../kernel/default-route.js';
import type { RuleContribution } from '../kernel/ruleset.js';
import type { CounterRegistry } from '../model/counters.js';
import { NflogPacketSource, PcapPacketSource } from './live-sources.js';
import { runNft } from '../kernel/nft.js';
import { nflogArpTableText, nflogRules } from './nflog.js';
import type { CaptureSettings } from './settings.js';
import type { FrameDecoder, PacketHandler, PacketSource } from './source.js';

/** What is watched, and why those interfaces (the start log and `status` say it). */
export interface Watching {
  method: 'nflog' | 'pcap';
  /** The interfaces captured; empty: every interface but loopback (NFLOG with no default route). */
  interfaces: string[];
  /** Where the interfaces came from: the config or command line, the default route, or nothing (all). */
  from: 'config' | 'default route' | 'no default route';
}

/** The `arp` table that logs ARP for link sweeps (NFLOG only), named like the daemon's `inet` table. */
export const ARP_TABLE = 'portwarden';

export class LiveCapture {
  readonly watching: Watching;
  /** Why ARP is not watched (null: it is, or the method is libpcap, which sees ARP on its own). */
  arpUnwatched: string | null = null;
  #arpTable = false;
  /** NFLOG's rules for the table; none with libpcap (the kernel then logs nothing for detection). */
  readonly rules: RuleContribution | undefined;
  #sources: PacketSource[] = [];
  readonly #settings: CaptureSettings;

  /** Throws PW_ERR_CAPTURE_LIVE when libpcap has no interface to watch (no default route and none named). */
  constructor(settings: CaptureSettings, defaultInterfaces: () => string[] = defaultRouteInterface) {
    this.#settings = settings;
    const interfaces = settings.interfaces.length > 0 ? [...settings.interfaces] : defaultInterfaces();
    const from = settings.interfaces.length > 0 ? 'config' : interfaces.length > 0 ? 'default route' : 'no default route';
    this.watching = { method: settings.method, interfaces, from };
    if (settings.method === 'pcap' && interfaces.length === 0) throw new PortwardenError('PW_ERR_CAPTURE_LIVE', 'no default route, so no interface for libpcap to watch: name one with --interface');
    this.rules = settings.method === 'nflog' ? nflogRules(settings.nflogGroup, { snaplen: settings.snaplenBytes, interfaces: this.interfaces }) : undefined;
  }

  /** The interfaces named (undefined: every interface but loopback). */
  get interfaces(): string[] | undefined {
    return this.watching.interfaces.length > 0 ? this.watching.interfaces : undefined;
  }

  /** Opens the sources into `onPacket` through `decoder`; their counters join `counters`. */
  async start(decoder: FrameDecoder, onPacket: PacketHandler, counters: CounterRegistry, onError: (err: Error) => void): Promise<void> {
    const s = this.#settings;
    const live = { snaplen: s.snaplenBytes, onError, decoder };
    this.#sources = s.method === 'nflog' ? [new NflogPacketSource({ group: s.nflogGroup, ...live })] : this.watching.interfaces.map((name) => new PcapPacketSource({ interface: name, ...live }));
    for (const source of this.#sources) {
      counters.add(source.counters);
      await source.start(onPacket);
    }
    if (s.method === 'nflog') await this.#watchArp(s.nflogGroup);
  }

  /** ARP sweeps are detection's only view of host discovery on the link; without nft they go unseen, and it is said. */
  async #watchArp(group: number): Promise<void> {
    try {
      await runNft('nft', ['-f', '-'], nflogArpTableText(ARP_TABLE, group, { interfaces: this.interfaces }));
      this.#arpTable = true;
      this.arpUnwatched = null;
    } catch (err) {
      this.arpUnwatched = err instanceof Error ? err.message : String(err);
    }
  }

  /** Every source is running (false before start, after close, after one died). */
  get running(): boolean {
    return this.#sources.length > 0 && this.#sources.every((source) => source.running);
  }

  close(): void {
    for (const source of this.#sources) source.close();
  }

  /** Removes the `arp` table, if this capture made it (nothing reads its group any more). */
  async removeKernelRules(): Promise<void> {
    if (!this.#arpTable) return;
    this.#arpTable = false;
    await runNft('nft', ['delete', 'table', 'arp', ARP_TABLE]);
  }
}
