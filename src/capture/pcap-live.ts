import { PortwardenError } from '../errors.js';
import { loadAddon as loadNativeAddon } from '../kernel/addon.js';
import type { FrameHandler } from './capture-file.js';

/**
 * Live capture through libpcap, for traffic not addressed to this host (a switch's mirror port, a
 * tap): the second live source beside NFLOG (nflog.ts), which only sees what passes this host's own
 * netfilter hooks. Reading goes through portwarden's own N-API addon (native/pcap): libuv polls the
 * handle and the addon hands over packets in batches, one JavaScript call for up to a few thousand
 * packets, each with the kernel's nanosecond timestamp and its length on the wire.
 *
 * The kernel runs the BPF filter (PCAP_PREFILTER) before anything is copied to user space: it keeps
 * what detection reads (first contacts, stealth probes, answers, handshake ACKs, UDP, ICMP) and
 * leaves out the data segments of established connections, the bulk of any link.
 */

/**
 * The BPF prefilter, in the spirit of the NFLOG rules: what detection needs and not the bulk.
 * libpcap has no connection state, so "first contact" is approximated from the TCP flags:
 * - TCP with SYN, FIN, RST or URG (connection attempts, answers, FIN / XMAS / Maimon / odd probes),
 *   or without ACK (NULL and other odd probes: no established segment lacks ACK), or an ACK with no
 *   payload and no PSH (ACK and window probes, the prober's handshake ACK that tells a connect()
 *   scan from a SYN scan; a transfer's bare ACKs pass too, its data segments do not);
 * - every other IPv4 protocol (UDP, ICMP, IP-protocol probes) and non-first fragments (tcp[] never
 *   matches those, and fragmented probes are a way around port matching);
 * - IPv6 the same way when TCP follows the fixed header directly (libpcap's tcp[] indexes IPv4
 *   only, so the flags are read at their IPv6 offsets); everything else in IPv6, extension headers
 *   included, passes;
 * - the same behind an 802.1Q / 802.1ad tag (mirror ports often keep them; `vlan` moves the offsets
 *   of what follows it).
 * - ARP (host discovery on the link: ARP who-has sweeps; replies say which addresses are in use).
 * Not kept: other non-IP frames, the decoder has nothing to say about them.
 */
const TCP_V4 =
  'tcp[13] & 0x27 != 0 or tcp[13] & 0x10 == 0' +
  ' or (tcp[13] & 0x08 == 0 and ip[2:2] - ((ip[0] & 0x0f) << 2) - ((tcp[12] & 0xf0) >> 2) == 0)';
const TCP_V6 =
  'ip6[53] & 0x27 != 0 or ip6[53] & 0x10 == 0' + ' or (ip6[53] & 0x08 == 0 and ip6[4:2] - ((ip6[52] & 0xf0) >> 2) == 0)';
const CORE_FILTER = `(ip and (not tcp or ip[6:2] & 0x1fff != 0 or ${TCP_V4})) or (ip6 and (ip6[6] != 6 or ${TCP_V6})) or arp`;
export const PCAP_PREFILTER = `${CORE_FILTER} or (vlan and (${CORE_FILTER}))`;

/** Ethernet + a VLAN tag + IPv6 + the longest TCP header, or an ICMPv6 error's quote (DEFAULT_NFLOG_SNAPLEN's reasoning). */
export const DEFAULT_PCAP_SNAPLEN = 128;
/** The kernel ring: about 2.7 µs of JavaScript per packet, so 64 MiB rides out bursts far above 100,000 packets/s. */
export const DEFAULT_PCAP_BUFFER_BYTES = 64 * 1024 * 1024;
/** Batch buffer shared with the addon: about 1,800 packets of 128 bytes per JavaScript call. */
const BATCH_BYTES = 256 * 1024;
/** Record header written by the addon: u32 seconds, nanoseconds, caplen, wirelen (host order). */
const RECORD_HEADER = 16;

export interface PcapLiveSourceOptions {
  /** Interface to open (a kernel name; `any` works too, without promiscuous mode). */
  interface: string;
  /** Called synchronously for each frame; the buffer is reused, valid only during the call. */
  onFrame: FrameHandler;
  /** Reading failed (the interface went down or away): the source has stopped. PW_ERR_CAPTURE_LIVE. */
  onError?: (err: Error) => void;
  /** BPF filter (pcap-filter(7)); default PCAP_PREFILTER; '' captures everything. */
  filter?: string;
  /** Most bytes of each frame copied (14–65535); default DEFAULT_PCAP_SNAPLEN. */
  snaplen?: number;
  /** libpcap's kernel ring in bytes; default DEFAULT_PCAP_BUFFER_BYTES. */
  bufferBytes?: number;
  /** See frames addressed to other hosts (a mirror port); default true. */
  promiscuous?: boolean;
  /** Deliver each packet as it arrives instead of when the kernel's block fills; default true (a ban should follow its probe within milliseconds). */
  immediate?: boolean;
  /** Most packets read per wake-up before the event loop gets its turn back; default 16,384. */
  budgetPackets?: number;
}

/** Counters of one source. Read through `PcapLiveSource.stats`, which refreshes the kernel's. */
export class PcapLiveStats {
  /** Addon calls (each with one or more packets). */
  batches = 0;
  /** Frames handed to onFrame. */
  delivered = 0;
  /** Frames longer than the snap length (delivered cut; originalLength is the wire length). */
  truncated = 0;
  /** Packets that passed the filter, as the kernel counts them (pcap_stats ps_recv). */
  received = 0;
  /** Packets the kernel dropped because the ring was full, plus those the interface dropped (ps_drop + ps_ifdrop). */
  lost = 0;
}

interface NativeStats {
  received: number;
  dropped: number;
  ifdropped: number;
}

interface NativeCapture {
  open(
    iface: string,
    options: { snaplen: number; bufferBytes: number; promiscuous: boolean; immediate: boolean; budgetPackets: number; filter: string },
    batch: Buffer,
    onBatch: (count: number, bytes: number, error: string | null) => void,
  ): { linkType: number; nanoseconds: boolean; warning: string | null };
  close(): void;
  stats(): NativeStats;
}

interface NativeModule {
  Capture: new () => NativeCapture;
  libraryVersion: string;
}

/** The addon, loaded on first use (offline analysis never needs libpcap). @throws PortwardenError PW_ERR_ADDON when not built or stale. */
function loadAddon(): NativeModule {
  return loadNativeAddon<NativeModule>('pcap');
}

function intOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `libpcap ${name} ${String(value)} is out of range (${min}–${max})`);
  }
  return value;
}

type State = 'idle' | 'running' | 'stopped';

/**
 * Reads one interface through libpcap. Lifecycle: idle → start() → running → stop() → stopped
 * (start() again reopens). Frames are delivered synchronously from the addon's batch callback, all
 * from one buffer: no allocation per frame.
 *
 * Back-pressure: none is possible, the kernel never waits for us. What does not fit in the ring is
 * dropped by the kernel and counted (`stats.lost`); a bigger `bufferBytes` rides out longer stalls.
 */
export class PcapLiveSource {
  readonly interface: string;
  readonly filter: string;
  readonly snaplen: number;
  readonly bufferBytes: number;
  readonly promiscuous: boolean;
  readonly immediate: boolean;
  readonly budgetPackets: number;
  readonly #stats = new PcapLiveStats();
  readonly #onFrame: FrameHandler;
  readonly #onError: ((err: Error) => void) | undefined;
  /** Allocated once: the addon writes records into it, onFrame reads frames out of it. */
  readonly #batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  readonly #words = new Uint32Array(this.#batch.buffer, this.#batch.byteOffset, BATCH_BYTES >>> 2);
  #state: State = 'idle';
  #capture: NativeCapture | null = null;
  #linkType = -1;
  #lastTsUs = 0;
  /** Kernel counters of handles closed before (start() after stop() opens a new one). */
  #closedReceived = 0;
  #closedLost = 0;

  constructor(options: PcapLiveSourceOptions) {
    const name = options.interface;
    // Kernel names are at most 15 bytes of these characters; `any` is libpcap's own.
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.@:-]{1,15}$/.test(name)) {
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `libpcap: ${JSON.stringify(name)} is not an interface name`);
    }
    this.interface = name;
    this.#onFrame = options.onFrame;
    this.#onError = options.onError;
    this.filter = options.filter ?? PCAP_PREFILTER;
    this.snaplen = intOption('snaplen', options.snaplen ?? DEFAULT_PCAP_SNAPLEN, 14, 65535);
    this.bufferBytes = intOption('bufferBytes', options.bufferBytes ?? DEFAULT_PCAP_BUFFER_BYTES, 65536, 2 ** 31 - 1);
    this.promiscuous = options.promiscuous ?? true;
    this.immediate = options.immediate ?? true;
    this.budgetPackets = intOption('budgetPackets', options.budgetPackets ?? 16_384, 1, 1 << 24);
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /** LINKTYPE_ of the open interface (Ethernet on veth and real NICs), -1 before start(). */
  get linkType(): number {
    return this.#linkType;
  }

  /** The counters, the kernel's refreshed (one getsockopt) while the capture is open. */
  get stats(): PcapLiveStats {
    const s = this.#stats;
    if (this.#capture !== null) {
      try {
        const k = this.#capture.stats();
        s.received = this.#closedReceived + k.received;
        s.lost = this.#closedLost + k.dropped + k.ifdropped;
      } catch {
        // A handle that just failed: the last counters stand.
      }
    }
    return s;
  }

  /**
   * Opens the interface and starts delivering. Synchronous underneath; async for the same shape as
   * NflogSource. Rejects with PortwardenError PW_ERR_CAPTURE_LIVE naming the interface and
   * libpcap's reason: no such device, no permission (CAP_NET_RAW), a filter libpcap cannot compile;
   * PW_ERR_ADDON when the addon is not built or stale. A warning from libpcap (no promiscuous mode on `any`) is not an error.
   */
  async start(): Promise<void> {
    if (this.#state === 'running') throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `libpcap on ${this.interface}: already started`);
    const capture = new (loadAddon().Capture)();
    try {
      const opened = capture.open(
        this.interface,
        { snaplen: this.snaplen, bufferBytes: this.bufferBytes, promiscuous: this.promiscuous, immediate: this.immediate, budgetPackets: this.budgetPackets, filter: this.filter },
        this.#batch,
        (count, bytes, error) => this.#onBatch(capture, count, bytes, error),
      );
      this.#linkType = opened.linkType;
    } catch (err) {
      capture.close();
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', err instanceof Error ? err.message : String(err), { cause: err });
    }
    this.#capture = capture;
    this.#state = 'running';
  }

  /** Closes the capture. Idempotent; safe inside onFrame (no frame is delivered after it). */
  stop(): void {
    this.#state = 'stopped';
    const capture = this.#capture;
    if (capture === null) return;
    const s = this.stats;
    this.#closedReceived = s.received;
    this.#closedLost = s.lost;
    this.#capture = null;
    capture.close();
  }

  #onBatch(capture: NativeCapture, count: number, bytes: number, error: string | null): void {
    if (this.#capture !== capture) return;
    const s = this.#stats;
    s.batches++;
    const buf = this.#batch;
    const words = this.#words;
    const linkType = this.#linkType;
    let o = 0;
    for (let i = 0; i < count && o + RECORD_HEADER <= bytes; i++) {
      const w = o >>> 2;
      const caplen = words[w + 2];
      const wirelen = words[w + 3];
      let tsUs = words[w] * 1e6 + Math.floor(words[w + 1] / 1000);
      // Packets of one ring are in arrival order, but two CPUs may stamp them a hair out of order;
      // an answer must not precede its question.
      if (tsUs < this.#lastTsUs) tsUs = this.#lastTsUs;
      this.#lastTsUs = tsUs;
      if (wirelen > caplen) s.truncated++;
      s.delivered++;
      this.#onFrame(buf, o + RECORD_HEADER, caplen, tsUs, linkType, wirelen);
      // onFrame may have stopped us; the rest of this batch is then for no one.
      if (this.#capture !== capture) return;
      o += RECORD_HEADER + ((caplen + 3) & ~3);
    }
    if (error !== null) {
      this.stop();
      this.#onError?.(new PortwardenError('PW_ERR_CAPTURE_LIVE', error));
    }
  }
}
