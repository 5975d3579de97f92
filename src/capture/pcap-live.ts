import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { PortwardenError } from '../errors.js';
import { LinkType } from '../decode/packet.js';
import type { FrameHandler } from './capture-file.js';

/**
 * Live capture through libpcap (the `cap` npm package, built against Debian's libpcap-dev): the
 * second live source, for watching traffic that is not addressed to this host, e.g. a switch's
 * mirror (SPAN) port. NFLOG (nflog.ts) only sees what passes this host's own netfilter hooks;
 * libpcap sees every frame the interface receives, in promiscuous mode those for other hosts too.
 *
 * The kernel runs the BPF filter before anything is copied to user space, so the default filter
 * (DEFAULT_PCAP_FILTER) is what keeps the cost down: an established bulk transfer costs its
 * handshake, teardown and bare ACKs, not its data segments.
 *
 * Limits of `cap` 0.2.1, and what this module does about them:
 * - no per-packet timestamp is exposed: frames carry the wall clock at delivery (µs). libpcap
 *   runs in immediate mode, so this is within the event loop's latency of the kernel's stamp;
 *   timestamps never go backwards.
 * - no original (wire) length is exposed: when a frame was cut at `snaplen`, originalLength is
 *   taken from its IPv4 / IPv6 header (plus the link header), like the NFLOG source does.
 * - libpcap's own snaplen is fixed at 65535: `snaplen` is the size of the single buffer frames
 *   are copied into, so JavaScript never sees more, but the kernel ring holds whole frames.
 * - promiscuous mode is always switched on: `promiscuous: false` is emulated by an in-kernel
 *   BPF condition keeping only frames sent to the interface's own MAC address, broadcast or
 *   multicast (Ethernet interfaces; on others it changes nothing).
 * - pcap_stats() is not exposed: `stats.kernelDrops` stays null.
 */

/**
 * Keeps what detection needs and drops the bulk of established traffic:
 * - TCP with SYN, RST or FIN (connection attempts, answers, FIN / XMAS / Maimon probes), or
 *   without ACK (NULL and odd-flag probes: no established segment lacks ACK), or a short
 *   segment without PSH (ACK probes, window probes; bare ACKs of a transfer pass too, data
 *   segments of a transfer do not);
 * - every other IPv4 protocol (UDP, ICMP, protocol probes) and non-first fragments (tcp[] never
 *   matches those, and fragmented probes evade port matching);
 * - all IPv6: libpcap's tcp[] / udp[] index IPv4 only, so IPv6 cannot be thinned by flags here;
 * - the same behind an 802.1Q / 802.1ad tag (mirror ports often keep them; `vlan` moves the
 *   offsets of what follows it).
 */
const CORE_FILTER =
  'tcp[tcpflags] & (tcp-syn|tcp-rst|tcp-fin) != 0 or tcp[tcpflags] & tcp-ack == 0' +
  ' or (tcp[tcpflags] & tcp-push == 0 and len <= 128)' +
  ' or (ip and not tcp) or (ip and ip[6:2] & 0x1fff != 0) or ip6';
export const DEFAULT_PCAP_FILTER = `(${CORE_FILTER}) or (vlan and (${CORE_FILTER}))`;

/** Same reasoning as DEFAULT_NFLOG_SNAPLEN: Ethernet + VLAN tag + IPv6 + the longest TCP header fit, or an ICMPv6 error's quote. */
export const DEFAULT_PCAP_SNAPLEN = 128;
export const DEFAULT_PCAP_BUFFER_BYTES = 64 * 1024 * 1024;

export interface PcapLiveSourceOptions {
  /** Interface to open (kernel name, at most 15 characters). */
  interface: string;
  /** Called synchronously for each frame; the buffer is reused, valid only during the call. */
  onFrame: FrameHandler;
  /** BPF filter (pcap-filter(7)); default DEFAULT_PCAP_FILTER. '' captures everything. */
  filter?: string;
  /** Most bytes of each frame handed to onFrame (14–65535); default DEFAULT_PCAP_SNAPLEN. */
  snaplen?: number;
  /** libpcap's kernel buffer (ring) in bytes; default 64 MiB. */
  bufferBytes?: number;
  /** See frames addressed to other hosts (a mirror port); default true. */
  promiscuous?: boolean;
}

/** Counters of one source. Live: read them any time. */
export class PcapLiveStats {
  /** Frames libpcap handed over (they passed the filter). */
  received = 0;
  /** Frames handed to onFrame. */
  delivered = 0;
  /** Frames longer than snaplen (delivered cut; originalLength from the IP header). */
  truncated = 0;
  /** Frames the kernel dropped (ring full): null, `cap` does not expose pcap_stats(). */
  kernelDrops: number | null = null;
}

/** The part of `cap`'s native Cap object this module uses. */
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event?: string): void;
}
interface CapModule {
  Cap: new () => CapHandle;
}

let capModule: CapModule | null = null;
function loadCap(): CapModule {
  if (capModule === null) capModule = createRequire(import.meta.url)('cap') as CapModule;
  return capModule;
}

/** What `cap`'s open() returns, as LINKTYPE_ numbers (the decoder's LinkType). */
function linkTypeNumber(name: string): number {
  switch (name) {
    case 'ETHERNET':
      return LinkType.ETHERNET;
    case 'NULL':
      return LinkType.NULL;
    case 'RAW':
      return LinkType.RAW;
    case 'LINKTYPE_LINUX_SLL':
      return LinkType.LINUX_SLL;
    case 'IEEE802_11_RADIO':
      return 127;
    default: {
      // "Unknown linktype N": N is a DLT_ value; on Linux those equal the LINKTYPE_ values
      // except the few named above.
      const m = /(\d+)$/.exec(name);
      return m === null ? -1 : Number(m[1]);
    }
  }
}

function intOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `libpcap ${name} ${String(value)} is out of range (${min}–${max})`);
  }
  return value;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sysfs(iface: string, file: string): string | null {
  try {
    return readFileSync(`/sys/class/net/${iface}/${file}`, 'utf8').trim();
  } catch {
    return null;
  }
}

type State = 'idle' | 'running' | 'stopped';

/** Ring of the filter probe in start(). */
const PROBE_BUFFER_BYTES = 65536;
/** Cap objects whose open() failed: kept reachable for the life of the process (see #open). */
const failedHandles: CapHandle[] = [];

/**
 * Reads one interface through libpcap. Lifecycle: idle → start() → running → stop() → stopped
 * (start() again reopens). Frames are delivered synchronously from libpcap's dispatch loop, one
 * reused buffer for all of them: no allocation per frame.
 */
export class PcapLiveSource {
  readonly interface: string;
  readonly filter: string;
  readonly snaplen: number;
  readonly bufferBytes: number;
  readonly promiscuous: boolean;
  readonly stats = new PcapLiveStats();
  readonly #onFrame: FrameHandler;
  readonly #buffer: Buffer;
  #state: State = 'idle';
  #cap: CapHandle | null = null;
  #linkType = -1;
  #lastTsUs = 0;

  constructor(options: PcapLiveSourceOptions) {
    const name = options.interface;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.@:-]{1,15}$/.test(name)) {
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `libpcap: ${JSON.stringify(name)} is not an interface name`);
    }
    this.interface = name;
    this.#onFrame = options.onFrame;
    this.filter = options.filter ?? DEFAULT_PCAP_FILTER;
    this.snaplen = intOption('snaplen', options.snaplen ?? DEFAULT_PCAP_SNAPLEN, 14, 65535);
    this.bufferBytes = intOption('bufferBytes', options.bufferBytes ?? DEFAULT_PCAP_BUFFER_BYTES, 65536, 2 ** 31 - 1);
    this.promiscuous = options.promiscuous ?? true;
    this.#buffer = Buffer.alloc(this.snaplen);
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /** LINKTYPE_ of the open interface (LinkType.ETHERNET on veth and real NICs), -1 before start(). */
  get linkType(): number {
    return this.#linkType;
  }

  /** The filter handed to libpcap (the configured one, narrowed when promiscuous is false). */
  effectiveFilter(): string {
    if (this.promiscuous) return this.filter;
    const mac = sysfs(this.interface, 'address');
    // ARPHRD_ETHER = 1; other link types have no notion of "another host's frame".
    if (sysfs(this.interface, 'type') !== '1' || mac === null || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) return this.filter;
    const own = `(ether dst ${mac} or ether multicast)`;
    return this.filter.trim() === '' ? own : `${own} and (${this.filter})`;
  }

  /**
   * Opens the interface and starts delivering. Synchronous underneath; async for the same shape
   * as NflogSource. Rejects with PortwardenError PW_ERR_CAPTURE_LIVE naming the interface: no
   * such device, no permission (CAP_NET_RAW), a filter libpcap cannot compile, `cap` not built.
   */
  async start(): Promise<void> {
    this.#open();
  }

  #open(): void {
    if (this.#state === 'running') {
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `libpcap on ${this.interface}: already started`);
    }
    const fail = (why: string, cause?: unknown): PortwardenError =>
      new PortwardenError('PW_ERR_CAPTURE_LIVE', `libpcap on ${this.interface}: ${why}`, cause === undefined ? undefined : { cause });
    // Checked first: libpcap would also fail, but only after printing a warning to stderr.
    if (sysfs(this.interface, 'ifindex') === null) throw fail('no such device');
    let mod: CapModule;
    try {
      mod = loadCap();
    } catch (err) {
      throw fail(`the cap package is not installed or not built (needs libpcap-dev): ${errText(err)}`, err);
    }
    const filter = this.effectiveFilter();
    // A Cap whose open() failed can be neither closed nor reopened (cap 0.2.1 aborts the process
    // in uv_poll_stop), and libpcap's handle stays open (a bad filter fails after activation, so
    // that handle captures into its ring). So the filter is tried first on a handle with the
    // smallest ring: a failure leaks only that, and a success is closed before the real open.
    let linkName = '';
    for (const [bufSize, buffer] of [[PROBE_BUFFER_BYTES, Buffer.alloc(14)], [this.bufferBytes, this.#buffer]] as const) {
      const cap = new mod.Cap();
      try {
        linkName = cap.open(this.interface, filter, bufSize, buffer);
      } catch (err) {
        failedHandles.push(cap); // never collected: its destructor would abort the same way
        const text = errText(err);
        const why = /permission|not permitted/i.test(text)
          ? `no permission to capture (needs root or CAP_NET_RAW): ${text}`
          : /no such device/i.test(text)
            ? `no such device: ${text}`
            : /syntax|parse|filter|expression/i.test(text)
              ? `bad filter ${JSON.stringify(filter)}: ${text}`
              : text;
        throw fail(why, err);
      }
      if (buffer === this.#buffer) {
        this.#cap = cap;
        break;
      }
      cap.close();
    }
    const cap = this.#cap;
    if (cap === null) throw fail('not opened');
    this.#linkType = linkTypeNumber(linkName);
    this.#state = 'running';
    cap.on('packet', (nbytes, truncated) => this.#deliver(cap, nbytes, truncated));
  }

  #deliver(cap: CapHandle, nbytes: number, truncated: boolean): void {
    // cap's dispatch loop may still hand over frames read before a stop() inside onFrame.
    if (this.#cap !== cap) return;
    const stats = this.stats;
    stats.received++;
    let tsUs = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    if (tsUs < this.#lastTsUs) tsUs = this.#lastTsUs;
    this.#lastTsUs = tsUs;
    let original = nbytes;
    if (truncated) {
      stats.truncated++;
      original = wireLength(this.#buffer, nbytes, this.#linkType);
    }
    stats.delivered++;
    this.#onFrame(this.#buffer, 0, nbytes, tsUs, this.#linkType, original);
  }

  /** Closes the capture. Idempotent; safe inside onFrame (no frame is delivered after it). */
  stop(): void {
    this.#state = 'stopped';
    const cap = this.#cap;
    if (cap === null) return;
    this.#cap = null;
    cap.removeAllListeners('packet');
    try {
      cap.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Length of a frame on the wire, from its IP header, when only `captured` bytes were kept; at
 * least `captured`. Ethernet (with up to two VLAN tags), raw IP and Linux cooked captures.
 */
export function wireLength(buf: Buffer, captured: number, linkType: number): number {
  let o: number;
  let etherType: number;
  if (linkType === LinkType.ETHERNET) {
    if (captured < 14) return captured;
    o = 14;
    etherType = buf.readUInt16BE(12);
    for (let tags = 0; (etherType === 0x8100 || etherType === 0x88a8) && tags < 2; tags++) {
      if (captured < o + 4) return captured;
      etherType = buf.readUInt16BE(o + 2);
      o += 4;
    }
  } else if (linkType === LinkType.LINUX_SLL) {
    if (captured < 16) return captured;
    o = 16;
    etherType = buf.readUInt16BE(14);
  } else if (linkType === LinkType.RAW) {
    if (captured < 1) return captured;
    o = 0;
    etherType = buf[0] >> 4 === 6 ? 0x86dd : 0x0800;
  } else {
    return captured;
  }
  let ipLen = 0;
  if (etherType === 0x0800 && captured >= o + 4) ipLen = buf.readUInt16BE(o + 2);
  else if (etherType === 0x86dd && captured >= o + 6) {
    const payload = buf.readUInt16BE(o + 4);
    ipLen = payload === 0 ? 0 : 40 + payload; // 0: jumbogram, length unknown here
  }
  return Math.max(captured, o + ipLen);
}
