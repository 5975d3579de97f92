import { constants } from 'node:os';
import { NETLINK_NETFILTER, NETLINK_NO_ENOBUFS, NetlinkSocket, SOL_NETLINK, SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE } from '../kernel/netlink-socket.js';

/** NFLOG's default socket receive buffer (see NflogSourceOptions.bufferBytes). */
export const DEFAULT_NFLOG_BUFFER_BYTES = 32 * 1024 * 1024;
import { PortwardenError } from '../errors.js';
import { nftRuleText, type HookRule, type RuleContribution } from '../kernel/ruleset.js';
import { u16, u32 } from '../decode/bytes.js';
import { LinkType } from '../model/packet.js';
import type { FrameHandler } from './capture-file.js';

/**
 * Live capture through NFLOG: nft rules in the kernel pick the few packets detection needs (first
 * contacts, invalid packets and this host's answers) and copy their first bytes to a netlink
 * socket; this module reads that socket and hands each packet to the pipeline's frame handler.
 *
 * Why NFLOG: the kernel's conntrack already knows which packets open something new, so an
 * established download of a million packets costs JavaScript two frames (its SYN and SYN-ACK),
 * not a million. Reading goes through our netlink addon (src/netlink/socket.ts: every datagram a
 * wakeup finds, in one callback); the NFLOG messages themselves are built and parsed here, byte by
 * byte.
 *
 * Loss is detected, never silent: the group is configured with per-packet sequence numbers, so a
 * gap in them is exactly the number of packets the kernel logged but could not queue to us
 * (`stats.lost`), and the source keeps running (NETLINK_NO_ENOBUFS is set, so an overflow only drops).
 */

// ---- nft rules -------------------------------------------------------------------------------

/** Bytes of each logged packet copied to user space: IPv6 + TCP with the longest options (40 + 60),
 * or an ICMPv6 error quoting IPv6 + a full TCP header (40 + 8 + 40 + 20). DNS names are not needed. */
export const DEFAULT_NFLOG_SNAPLEN = 128;

export interface NflogRuleOptions {
  /** Bytes copied per packet (nft `snaplen`); default DEFAULT_NFLOG_SNAPLEN. */
  snaplen?: number;
  /**
   * Interfaces to watch. Given: only packets in on / out of these (nft `iifname` / `oifname`).
   * Omitted: every interface except loopback (local processes talking to each other are neither
   * probes nor answers to one, and a busy local service would otherwise flood the group).
   */
  interfaces?: readonly string[];
}

/**
 * capture's part of the ruleset (kernel/ruleset.ts): rules that log to NFLOG group `group` exactly
 * the packets detection needs, in the input and output chains' `log` phase, so after the allowlist
 * and the drops (what is dropped costs detection nothing). `log` never ends evaluation. Each rule
 * carries its iptables form too (NFLOG target, one rule per interface), for the iptables backend.
 *
 * The rules are disjoint (no packet matches two of one chain), so no packet is logged twice.
 */
export function nflogRules(group: number, opts: NflogRuleOptions = {}): RuleContribution {
  checkGroup(group);
  const snaplen = opts.snaplen ?? DEFAULT_NFLOG_SNAPLEN;
  if (!Number.isInteger(snaplen) || snaplen < 40 || snaplen > 65535) {
    throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG snaplen ${String(snaplen)} is out of range (40–65535 bytes)`);
  }
  let inIf = 'iif != "lo" ';
  let outIf = 'oif != "lo" ';
  if (opts.interfaces !== undefined) {
    if (opts.interfaces.length === 0) throw new PortwardenError('PW_ERR_CAPTURE_LIVE', 'NFLOG interfaces: the list is empty');
    for (const name of opts.interfaces) {
      // Kernel names are at most 15 bytes; allowing only these characters keeps the rule text safe.
      if (!/^[A-Za-z0-9_.@:-]{1,15}$/.test(name)) {
        throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG interfaces: ${JSON.stringify(name)} is not an interface name`);
      }
    }
    const set = `{ ${opts.interfaces.map((n) => `"${n}"`).join(', ')} }`;
    inIf = `iifname ${set} `;
    outIf = `oifname ${set} `;
  }
  const log = `log group ${group} snaplen ${snaplen}`;
  const iptLog = `-j NFLOG --nflog-group ${group} --nflog-size ${snaplen}`;
  // iptables matches one interface per rule: the rule once per named interface, or once for "not lo".
  const on = (dir: '-i' | '-o', specs: readonly string[]) => (opts.interfaces === undefined ? specs.map((r) => `! ${dir} lo ${r}`) : opts.interfaces.flatMap((name) => specs.map((r) => `${dir} ${name} ${r}`)));
  const rule = (hook: 'input' | 'output', nftMatch: string, comment: string, v4: readonly string[], v6: readonly string[]): HookRule => {
    const iptComment = `-m comment --comment "portwarden: ${comment}"`;
    const dir = hook === 'input' ? '-i' : '-o';
    return {
      hook,
      phase: 'log',
      nft: `${hook === 'input' ? inIf : outIf}${nftMatch} ${log}`,
      comment: `portwarden: ${comment}`,
      iptables: { 4: on(dir, v4.map((m) => `${m} ${iptComment} ${iptLog}`)), 6: on(dir, v6.map((m) => `${m} ${iptComment} ${iptLog}`)) },
    };
  };
  const tcp = (flags: string) => [`-p tcp --tcp-flags ${flags}`];
  return {
    owner: 'capture',
    rules: [
      // Every first contact and every packet conntrack cannot place. SYN, ACK (conntrack picks up
      // mid-stream ACKs as new), UDP and IP-protocol probes, ICMP echo / timestamp / address-mask
      // requests are `new`; FIN, NULL, XMAS, Maimon and odd-flag probes to no connection, and ICMP
      // errors quoting nothing we sent, are `invalid`. Established traffic (the bulk) matches
      // neither. IPv6 neighbour discovery and MLD are `untracked`, so they stay out too.
      rule('input', 'ct state new,invalid', 'first contacts and invalid packets', ['-m conntrack --ctstate NEW,INVALID'], ['-m conntrack --ctstate NEW,INVALID']),
      // ICMP / ICMPv6 errors that quote one of this host's own connections (`related` is only ever
      // an error, or an expected helper connection, which the protocol match excludes): a remote
      // refusing our traffic, or a forged error aimed at our connections (RFC 5927). Echo requests
      // need no rule here: they are `new` above.
      rule('input', 'ct state related meta l4proto { icmp, ipv6-icmp }', 'ICMP errors about our connections', ['-p icmp -m conntrack --ctstate RELATED'], ['-p ipv6-icmp -m conntrack --ctstate RELATED']),
      // This host's answers are the evidence TRW weighs: a SYN-ACK says the probed port is open (a
      // success for the prober), a RST says it is closed (a failure), the RST to FIN / NULL / XMAS
      // probes included.
      rule('output', 'tcp flags & (syn | ack) == syn | ack', 'SYN-ACK answers', tcp('SYN,ACK SYN,ACK'), tcp('SYN,ACK SYN,ACK')),
      rule('output', 'tcp flags & (syn | rst) == rst', 'RST answers', tcp('SYN,RST RST'), tcp('SYN,RST RST')),
      // Closed UDP port and unknown IP protocol (port / protocol unreachable, the quote names the
      // probe), and answers to ping sweeps (echo reply).
      rule('output', 'icmp type { destination-unreachable, echo-reply }', 'ICMP answers', ['-p icmp --icmp-type destination-unreachable', '-p icmp --icmp-type echo-reply'], []),
      rule('output', 'icmpv6 type { destination-unreachable, echo-reply }', 'ICMPv6 answers', [], ['-p ipv6-icmp --icmpv6-type destination-unreachable', '-p ipv6-icmp --icmpv6-type echo-reply']),
    ],
  };
}

/**
 * ARP never passes an `inet` table, so host discovery on the link (ARP who-has sweeps) reaches
 * detection through a table of its own in the `arp` family: requests and replies heard on the watched
 * interfaces go to the same NFLOG group, where the family in each message tells them apart. Replies
 * are logged too: they say which asked-for addresses are in use. Replaces a table of the same name
 * in one transaction.
 */
export function nflogArpTableText(table: string, group: number, opts: NflogRuleOptions = {}): string {
  checkGroup(group);
  if (!/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(table)) throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `ARP table name ${JSON.stringify(table)} is not an nft identifier`);
  const on = opts.interfaces !== undefined ? `iifname { ${opts.interfaces.map((n) => `"${n}"`).join(', ')} } ` : '';
  return [
    `add table arp ${table}`,
    `delete table arp ${table}`,
    `table arp ${table} {`,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    ${on}arp htype 1 arp ptype ip arp operation { request, reply } log group ${group} snaplen 28 comment "portwarden: ARP for link sweeps"`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * The same rules as nft rule lines (without `add rule`, comment included), split by chain: for a
 * table of one's own (tests) and for callers that pass `prefilter` / `prefilterOutput` to the
 * enforcement ruleset. New code passes `nflogRules(…)` as a contribution instead.
 */
export function nflogPrefilterRules(group: number, opts: NflogRuleOptions = {}): { input: string[]; output: string[] } {
  const rules = nflogRules(group, opts).rules ?? [];
  const lines = (hook: 'input' | 'output') => rules.filter((r) => r.hook === hook).map((r) => nftRuleText({ nft: r.nft, comment: r.comment ?? null }));
  return { input: lines('input'), output: lines('output') };
}

function checkGroup(group: number): void {
  if (!Number.isInteger(group) || group < 0 || group > 65535) {
    throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${String(group)} is out of range (0–65535)`);
  }
}

// ---- netlink protocol constants (linux/netlink.h, linux/netfilter/nfnetlink*.h) ----------------

const NLMSG_HDRLEN = 16;
const NLMSG_NOOP = 1;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_OVERRUN = 4;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
/** Netfilter's protocol family of ARP (linux/netfilter.h), as nfgenmsg carries it. */
const NFPROTO_ARP = 3;
/** struct nfgenmsg: family u8, version u8, res_id be16 (the group). */
const NFGENMSG_LEN = 4;
const NFNL_SUBSYS_ULOG = 4;
const NFULNL_MSG_PACKET = (NFNL_SUBSYS_ULOG << 8) | 0;
const NFULNL_MSG_CONFIG = (NFNL_SUBSYS_ULOG << 8) | 1;

const NFULA_TIMESTAMP = 3;
const NFULA_PAYLOAD = 9;
const NFULA_SEQ = 12;

const NFULA_CFG_CMD = 1;
const NFULA_CFG_MODE = 2;
const NFULA_CFG_NLBUFSIZ = 3;
const NFULA_CFG_TIMEOUT = 4;
const NFULA_CFG_QTHRESH = 5;
const NFULA_CFG_FLAGS = 6;
const NFULNL_CFG_CMD_BIND = 1;
const NFULNL_CFG_CMD_UNBIND = 2;
const NFULNL_COPY_PACKET = 2;
const NFULNL_CFG_F_SEQ = 0x0001;
/** The kernel refuses other batch buffer sizes (one page minus overhead … 128 KiB). */
const NLBUFSIZ_MIN = 3776;
const NLBUFSIZ_MAX = 131072;
/** Attribute type bits; the top two are the nested / byte-order flags. */
const NLA_TYPE_MASK = 0x3fff;
/** Room around a logged packet's bytes in its message (headers, prefix, hardware header, timestamps…). */
const MESSAGE_OVERHEAD = 1024;

// ---- the source ------------------------------------------------------------------------------

/**
 * Adaptive batching: one packet per datagram costs more CPU than 64 per datagram (the kernel
 * builds and queues one skb per datagram, and a wakeup reads fewer packets), but a
 * partial batch waits for the kernel's next timer tick (up to 4 ms at HZ=250). So the source
 * asks for single packets while the rate is low (latency matters: a ban should follow the
 * deciding probe within milliseconds) and for batches once it is high (a batch then fills in well
 * under a millisecond, and only batching keeps up).
 */
const ADAPT_INTERVAL_MS = 100;
/** Packets per second above which the kernel is asked to batch, and below which to stop. */
const ADAPT_UP_PPS = 20_000;
const ADAPT_DOWN_PPS = 5_000;
const ADAPT_BATCH = 64;

export interface NflogSourceOptions {
  /** NFLOG group the nft rules log to (0–65535); one listener per group per network namespace. */
  group: number;
  /** Called synchronously for each logged packet: an IP packet, link type RAW (the decoder reads the version). */
  onFrame: FrameHandler;
  /** Socket failures other than overruns (the socket may have died: see `running`), as PortwardenError PW_ERR_CAPTURE_LIVE. */
  onError?: (err: Error) => void;
  /**
   * Socket receive buffer (SO_RCVBUFFORCE, else SO_RCVBUF) in bytes: how large a burst the kernel can queue
   * while JavaScript is busy. Default 32 MiB: at 100,000 SYN/s, 4 MiB held about 100 ms and lost packets at a
   * flood's start in `npm run bench -- live`, 32 MiB lost none (BENCHMARKS.md). Kernel memory, used only
   * while a burst waits; `stats.receiveBufferBytes` says what was granted.
   */
  bufferBytes?: number;
  /** Most bytes copied per packet (NFULNL_COPY_PACKET range); default DEFAULT_NFLOG_SNAPLEN. The rule's snaplen also caps it. */
  snaplen?: number;
  /**
   * Packets the kernel gathers into one datagram before sending (NFULA_CFG_QTHRESH): a number
   * fixes it (1 = each packet at once); 'adaptive' (default) switches between 1 and 64 by rate.
   */
  batchPackets?: number | 'adaptive';
  /** Longest wait of a partial batch (NFULA_CFG_TIMEOUT, 10 ms steps; 0 = the next timer tick). Default 0. */
  flushTimeoutMs?: number;
  /** Size of the kernel's batch buffer (NFULA_CFG_NLBUFSIZ), 3776–131072 bytes; default the kernel's (one page: about 15 packets). */
  batchBytes?: number;
}

/** Counters of one source. Live: read them any time. */
export class NflogStats {
  /** Netlink datagrams read (each holds one or more logged packets). */
  datagrams = 0;
  /** Logged-packet messages (NFULNL_MSG_PACKET) read. */
  received = 0;
  /** Packets handed to onFrame. */
  delivered = 0;
  /** Messages or datagrams that could not be parsed (bad lengths, a packet without payload): counted and skipped. */
  malformed = 0;
  /** Packets the kernel logged but could not queue to the socket (buffer full): the gaps in the per-packet sequence numbers. */
  lost = 0;
  /** ENOBUFS reports (receive buffer overflowed; once per episode). Only if NETLINK_NO_ENOBUFS could not be set: with it, loss shows in `lost` alone. */
  overruns = 0;
  /** Other socket errors. */
  socketErrors = 0;
  /** Times adaptive batching switched between single packets and batches. */
  batchSwitches = 0;
  /** SO_RCVBUF the kernel granted (it doubles the request, up to twice net.core.rmem_max); 0 before start. */
  receiveBufferBytes = 0;
}

type State = 'idle' | 'starting' | 'running' | 'stopped';

interface PendingAck {
  resolve: () => void;
  reject: (err: Error) => void;
}

interface ConfigAttrs {
  cmd?: number;
  copyRange?: number;
  qthresh?: number;
  timeoutCs?: number;
  flags?: number;
  nlbufsiz?: number;
}

const ACK_TIMEOUT_MS = 2000;

/**
 * Reads one NFLOG group. Lifecycle: idle → start() → running → stop() → stopped (start() again
 * opens a new socket). Frames are delivered synchronously from the socket's read callback; the
 * buffer holds every datagram of one wakeup and is valid only during the call.
 *
 * Back-pressure: none is possible, the kernel never waits for us. What does not fit in the
 * receive buffer is dropped by the kernel and counted (`stats.lost`); a bigger `bufferBytes`
 * absorbs longer stalls, batching makes each packet cheaper to read.
 */
export class NflogSource {
  readonly group: number;
  readonly stats = new NflogStats();
  readonly #onFrame: FrameHandler;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #bufferBytes: number;
  readonly #snaplen: number;
  readonly #adaptive: boolean;
  readonly #fixedBatch: number;
  readonly #flushTimeoutCs: number;
  readonly #batchBytes: number;
  #state: State = 'idle';
  #socket: NetlinkSocket | null = null;
  #seq = 1;
  readonly #pending = new Map<number, PendingAck>();
  /** Sequence number the next logged packet should carry, or -1 before the first. */
  #expectedSeq = -1;
  /** Timestamp of the last packet delivered (µs). */
  #lastTsUs = 0;
  #overrunGuard = false;
  #batch = 1;
  #adaptTimer: NodeJS.Timeout | null = null;
  #adaptReceived = 0;

  constructor(options: NflogSourceOptions) {
    checkGroup(options.group);
    this.group = options.group;
    this.#onFrame = options.onFrame;
    this.#onError = options.onError;
    this.#bufferBytes = intOption('bufferBytes', options.bufferBytes ?? DEFAULT_NFLOG_BUFFER_BYTES, 4096, 2 ** 31 - 1);
    this.#snaplen = intOption('snaplen', options.snaplen ?? DEFAULT_NFLOG_SNAPLEN, 1, 65535);
    const batch = options.batchPackets ?? 'adaptive';
    this.#adaptive = batch === 'adaptive';
    this.#fixedBatch = batch === 'adaptive' ? 1 : intOption('batchPackets', batch, 1, 65535);
    this.#flushTimeoutCs = Math.ceil(intOption('flushTimeoutMs', options.flushTimeoutMs ?? 0, 0, 600_000) / 10);
    this.#batchBytes = options.batchBytes === undefined ? 0 : intOption('batchBytes', options.batchBytes, NLBUFSIZ_MIN, NLBUFSIZ_MAX);
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /** The socket's netlink port id (as /proc/net/netlink shows it), or 0 when no socket is open. */
  get portId(): number {
    return this.#socket === null ? 0 : this.#socket.portId;
  }

  /**
   * True when the socket has NETLINK_NO_ENOBUFS set: a full receive buffer then only drops
   * packets (counted in `stats.lost`). False (the option was refused) means an overflow is also
   * reported, as a count in `stats.overruns`; the loss still shows in `stats.lost`.
   */
  get overrunGuard(): boolean {
    return this.#overrunGuard;
  }

  /** Packets per datagram currently asked of the kernel (changes under 'adaptive'). */
  get batchPackets(): number {
    return this.#batch;
  }

  /**
   * Opens the socket and binds the group; resolves once the kernel has acknowledged the binding
   * and the copy settings. Rejects with PortwardenError PW_ERR_CAPTURE_LIVE: not root
   * (CAP_NET_ADMIN), group already taken by another listener, NFLOG not available in this kernel.
   */
  async start(): Promise<void> {
    if (this.#state === 'starting' || this.#state === 'running') {
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${this.group}: already started`);
    }
    let socket: NetlinkSocket | null = null;
    // A datagram holds up to the kernel's batch buffer (one page by default, batchBytes when set),
    // or a single packet larger than that: the receive buffers take the larger of both.
    const recvBytes = Math.max(this.#batchBytes > 0 ? this.#batchBytes : 16384, this.#snaplen + MESSAGE_OVERHEAD);
    try {
      const opened: NetlinkSocket = new NetlinkSocket(
        NETLINK_NETFILTER,
        (data, datagrams, enobufs, truncated, errno) => this.#batchIn(opened, data, datagrams, enobufs, truncated, errno),
        { recvBytes },
      );
      socket = opened;
      // FORCE passes net.core.rmem_max (the daemon has CAP_NET_ADMIN); without the capability, the capped size.
      try {
        opened.setsockopt(SOL_SOCKET, SO_RCVBUFFORCE, this.#bufferBytes);
      } catch {
        opened.setsockopt(SOL_SOCKET, SO_RCVBUF, this.#bufferBytes);
      }
      this.stats.receiveBufferBytes = opened.getsockopt(SOL_SOCKET, SO_RCVBUF);
      opened.bind();
    } catch (err) {
      socket?.close();
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${this.group}: cannot open a netfilter netlink socket: ${errText(err)}`, { cause: err });
    }
    this.#socket = socket;
    this.#state = 'starting';
    this.#expectedSeq = -1;
    this.#batch = this.#fixedBatch;
    // A full receive buffer then only drops packets, which the sequence numbers count, instead of
    // also raising ENOBUFS on the socket (our addon would count that too, in stats.overruns).
    this.#overrunGuard = setNoEnobufs(socket);
    // No PF_UNBIND / PF_BIND: `log group N` rules name their group, so the kernel finds this
    // listener without them, and PF_BIND would also make NFLOG the namespace's default logger,
    // taking plain `log` rules and conntrack's own messages away from the kernel log.
    // One message binds and configures, so the group never runs on the kernel's defaults
    // (100-packet batches flushed once a second).
    const bind = configMessage(this.group, {
      cmd: NFULNL_CFG_CMD_BIND,
      copyRange: this.#snaplen,
      qthresh: this.#batch,
      timeoutCs: this.#flushTimeoutCs,
      flags: NFULNL_CFG_F_SEQ,
      nlbufsiz: this.#batchBytes,
    });
    try {
      await this.#request(socket, bind);
    } catch (err) {
      if (this.#socket !== socket) {
        throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${this.group}: stopped before the binding completed`, { cause: err });
      }
      this.#close();
      const code = (err as { code?: unknown }).code;
      const why = code === 'EPERM' || code === 'EBUSY' ? 'group already bound by another listener' : errText(err);
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${this.group}: cannot bind: ${why}`, { cause: err });
    }
    if (this.#state !== 'starting' || this.#socket !== socket) {
      throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${this.group}: stopped before the binding completed`);
    }
    this.#state = 'running';
    if (this.#adaptive) {
      this.#adaptReceived = this.stats.received;
      this.#adaptTimer = setInterval(() => this.#adapt(), ADAPT_INTERVAL_MS);
      this.#adaptTimer.unref();
    }
  }

  /**
   * Unbinds the group and closes the socket. Idempotent; safe inside onFrame (the rest of the
   * current datagram is not delivered). The kernel also unbinds by itself when the socket closes,
   * so a crashed daemon leaves no binding behind.
   */
  stop(): void {
    if (this.#socket === null) {
      this.#state = 'stopped';
      return;
    }
    const socket = this.#socket;
    try {
      socket.send(configMessage(this.group, { cmd: NFULNL_CFG_CMD_UNBIND }));
    } catch {
      // Closing releases the binding anyway.
    }
    this.#close();
  }

  /**
   * Parses one netlink datagram as the socket delivered it: every logged packet in it goes to
   * onFrame, config acknowledgements settle start(). Public so recorded or built datagrams can be
   * replayed in tests. Never throws on bad input (counted in `stats.malformed`). Allocates
   * nothing per packet.
   */
  ingest(buf: Buffer): void {
    if (this.#state === 'stopped') return;
    this.stats.datagrams++;
    this.#parse(buf);
  }

  /** One wakeup's read from the socket: its datagrams back to back (each padded to 4 bytes), and what went wrong. */
  #batchIn(socket: NetlinkSocket, data: Buffer | undefined, datagrams: number, enobufs: number, truncated: number, errno: number): void {
    if (this.#socket !== socket || this.#state === 'stopped') return;
    const stats = this.stats;
    // The kernel dropped what did not fit; the sequence gap tells how many. Keep reading.
    stats.overruns += enobufs;
    // A datagram over the receive buffer size: cut off, left out by the socket.
    stats.datagrams += truncated;
    stats.malformed += truncated;
    if (data !== undefined) {
      stats.datagrams += datagrams;
      this.#parse(data);
    }
    if (errno !== 0 && this.#socket === socket) this.#socketError(socket, errno);
  }

  /** Walks netlink messages (one datagram, or several back to back). */
  #parse(buf: Buffer): void {
    const stats = this.stats;
    const end = buf.length;
    let o = 0;
    let nowUs = -1;
    while (end - o >= NLMSG_HDRLEN) {
      // Netlink headers are in host order (read as little-endian: x86-64 and arm64, the platforms
      // portwarden runs on); attribute values of NFLOG in network order. Manual byte reads: the bounds
      // were checked once, and Buffer#read* would check (and maybe throw) again per field.
      const len = (buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16) | (buf[o + 3] << 24)) >>> 0;
      const type = buf[o + 4] | (buf[o + 5] << 8);
      if (len < NLMSG_HDRLEN || len > end - o) {
        stats.malformed++;
        return;
      }
      const msgEnd = o + len;
      if (type === NFULNL_MSG_PACKET) {
        stats.received++;
        let payload = -1;
        let payloadLen = 0;
        let tsUs = -1;
        let seq = -1;
        let broken = false;
        let a = o + NLMSG_HDRLEN + NFGENMSG_LEN;
        while (msgEnd - a >= 4) {
          const alen = buf[a] | (buf[a + 1] << 8);
          if (alen < 4 || alen > msgEnd - a) {
            broken = true;
            break;
          }
          const atype = (buf[a + 2] | (buf[a + 3] << 8)) & NLA_TYPE_MASK;
          if (atype === NFULA_PAYLOAD) {
            payload = a + 4;
            payloadLen = alen - 4;
          } else if (atype === NFULA_TIMESTAMP && alen >= 20) {
            // struct nfulnl_msg_packet_timestamp: be64 seconds, be64 microseconds.
            tsUs = (u32(buf, a + 4) * 4294967296 + u32(buf, a + 8)) * 1e6 + u32(buf, a + 16);
          } else if (atype === NFULA_SEQ && alen >= 8) {
            seq = u32(buf, a + 4);
          }
          a += (alen + 3) & ~3;
        }
        if (seq >= 0) {
          // The kernel numbers every packet it logs for this group, sent or not: a gap is loss.
          if (this.#expectedSeq >= 0 && seq !== this.#expectedSeq) stats.lost += (seq - this.#expectedSeq) >>> 0;
          this.#expectedSeq = (seq + 1) >>> 0;
        }
        if (broken || payload < 0 || payloadLen === 0) {
          // A message whose attributes do not add up is not trusted, even for what it seemed to hold.
          stats.malformed++;
        } else {
          if (tsUs < 0) {
            // Linux stamps logged packets only on the way in (prerouting, input, forward), not
            // on output: use the read time, taken once per datagram, but never earlier than the
            // packet before (Date.now() has whole milliseconds; an answer must not precede its
            // question).
            if (nowUs < 0) nowUs = Date.now() * 1000;
            tsUs = nowUs > this.#lastTsUs ? nowUs : this.#lastTsUs;
          }
          this.#lastTsUs = tsUs;
          stats.delivered++;
          // The nfgenmsg family: NFPROTO_ARP for what the `arp` table logs (a bare ARP packet), IP otherwise.
          if (buf[o + NLMSG_HDRLEN] === NFPROTO_ARP) this.#onFrame(buf, payload, payloadLen, tsUs, LinkType.ARP, payloadLen);
          else this.#onFrame(buf, payload, payloadLen, tsUs, LinkType.RAW, ipLength(buf, payload, payloadLen));
          // onFrame may have stopped us; the rest of this datagram is then for no one.
          if ((this.#state as State) === 'stopped') return;
        }
      } else if (type === NLMSG_ERROR) {
        this.#ack(buf, o, msgEnd);
      } else if (type !== NLMSG_NOOP && type !== NLMSG_DONE && type !== NLMSG_OVERRUN) {
        stats.malformed++;
      }
      o += (len + 3) & ~3;
    }
    if (o < end) stats.malformed++;
  }

  #adapt(): void {
    const socket = this.#socket;
    if (socket === null || this.#state !== 'running') return;
    const pps = ((this.stats.received - this.#adaptReceived) * 1000) / ADAPT_INTERVAL_MS;
    this.#adaptReceived = this.stats.received;
    let want = this.#batch;
    if (this.#batch === 1 && pps > ADAPT_UP_PPS) want = ADAPT_BATCH;
    else if (this.#batch > 1 && pps < ADAPT_DOWN_PPS) want = 1;
    if (want === this.#batch) return;
    this.#batch = want;
    this.stats.batchSwitches++;
    // No acknowledgement awaited: a refusal comes back as an error message nobody waits for,
    // and the group keeps working with the previous setting (so does a failed send).
    try {
      socket.send(configMessage(this.group, { qthresh: want }));
    } catch {
      // counted nowhere: the next interval tries again
    }
  }

  #ack(buf: Buffer, o: number, msgEnd: number): void {
    if (msgEnd - o < NLMSG_HDRLEN + 4) {
      this.stats.malformed++;
      return;
    }
    const seq = buf.readUInt32LE(o + 8);
    const pending = this.#pending.get(seq);
    if (pending === undefined) return;
    this.#pending.delete(seq);
    const errno = -buf.readInt32LE(o + NLMSG_HDRLEN);
    if (errno === 0) {
      pending.resolve();
    } else {
      const code = errnoName(errno);
      pending.reject(Object.assign(new Error(`the kernel answered ${code}`), { errno, code }));
    }
  }

  #request(socket: NetlinkSocket, msg: Buffer): Promise<void> {
    const seq = this.#seq++ >>> 0;
    msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
    msg.writeUInt32LE(seq, 8);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new Error(`no answer from the kernel within ${ACK_TIMEOUT_MS} ms`));
      }, ACK_TIMEOUT_MS);
      timer.unref();
      const done: PendingAck = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#pending.set(seq, done);
      try {
        socket.send(msg);
      } catch (err) {
        if (this.#pending.delete(seq)) done.reject(err as Error);
      }
    });
  }

  #socketError(socket: NetlinkSocket, errno: number): void {
    this.stats.socketErrors++;
    const code = errnoName(errno);
    const err = Object.assign(new Error(`receiving failed: ${code}`), { errno, code });
    const wrapped = new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG group ${this.group}: socket error: ${errText(err)}`, { cause: err });
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    // A failed receive leaves the socket usable; a socket that can no longer be polled is closed.
    if (socket.stats().polling === 0) this.#close();
    this.#onError?.(wrapped);
  }

  #close(): void {
    const socket = this.#socket;
    this.#socket = null;
    this.#state = 'stopped';
    if (this.#adaptTimer !== null) {
      clearInterval(this.#adaptTimer);
      this.#adaptTimer = null;
    }
    const closed = new Error('socket closed');
    for (const p of this.#pending.values()) p.reject(closed);
    this.#pending.clear();
    socket?.close();
  }
}

/**
 * Sets NETLINK_NO_ENOBUFS (and reads it back): a full receive buffer then only drops packets, which
 * the sequence numbers count. False if the kernel refused; the source still works, an overflow is
 * then also counted in `stats.overruns`.
 */
function setNoEnobufs(socket: NetlinkSocket): boolean {
  try {
    socket.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1);
    return socket.getsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS) === 1;
  } catch {
    return false;
  }
}

/** One NFULNL_MSG_CONFIG message with the given attributes, in the order the kernel applies them. */
function configMessage(group: number, c: ConfigAttrs): Buffer {
  const len =
    NLMSG_HDRLEN +
    NFGENMSG_LEN +
    (c.cmd !== undefined ? 8 : 0) +
    (c.copyRange !== undefined ? 12 : 0) +
    (c.qthresh !== undefined ? 8 : 0) +
    (c.timeoutCs !== undefined ? 8 : 0) +
    (c.flags !== undefined ? 8 : 0) +
    (c.nlbufsiz !== undefined && c.nlbufsiz > 0 ? 8 : 0);
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(NFULNL_MSG_CONFIG, 4);
  b.writeUInt16LE(NLM_F_REQUEST, 6);
  // nfgenmsg: AF_UNSPEC (the family matters only to PF_(UN)BIND), version 0, the group.
  b.writeUInt16BE(group, NLMSG_HDRLEN + 2);
  let o = NLMSG_HDRLEN + NFGENMSG_LEN;
  if (c.cmd !== undefined) {
    o = attr(b, o, NFULA_CFG_CMD, 5);
    b[o - 4] = c.cmd;
  }
  if (c.copyRange !== undefined) {
    // struct nfulnl_msg_config_mode (packed): be32 copy_range, u8 copy_mode, u8 pad.
    o = attr(b, o, NFULA_CFG_MODE, 10);
    b.writeUInt32BE(c.copyRange, o - 8);
    b[o - 4] = NFULNL_COPY_PACKET;
  }
  if (c.qthresh !== undefined) {
    o = attr(b, o, NFULA_CFG_QTHRESH, 8);
    b.writeUInt32BE(c.qthresh, o - 4);
  }
  if (c.timeoutCs !== undefined) {
    o = attr(b, o, NFULA_CFG_TIMEOUT, 8);
    b.writeUInt32BE(c.timeoutCs, o - 4);
  }
  if (c.flags !== undefined) {
    o = attr(b, o, NFULA_CFG_FLAGS, 6);
    b.writeUInt16BE(c.flags, o - 4);
  }
  if (c.nlbufsiz !== undefined && c.nlbufsiz > 0) {
    o = attr(b, o, NFULA_CFG_NLBUFSIZ, 8);
    b.writeUInt32BE(c.nlbufsiz, o - 4);
  }
  return b;
}

/** Writes an attribute header at `o`; returns the aligned end of the attribute. */
function attr(b: Buffer, o: number, type: number, len: number): number {
  b.writeUInt16LE(len, o);
  b.writeUInt16LE(type, o + 2);
  return o + ((len + 3) & ~3);
}

/** The packet's length on the wire, from its IP header (NFLOG passes only the copied bytes). */
function ipLength(buf: Buffer, o: number, len: number): number {
  const version = buf[o] >>> 4;
  if (version === 4 && len >= 4) return u16(buf, o + 2);
  if (version === 6 && len >= 6) return 40 + u16(buf, o + 4);
  return len;
}

function intOption(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new PortwardenError('PW_ERR_CAPTURE_LIVE', `NFLOG ${name} ${String(v)} is out of range (${min}–${max})`);
  }
  return v;
}

function errnoName(errno: number): string {
  for (const [name, n] of Object.entries(constants.errno)) if (n === errno) return name;
  return `errno ${errno}`;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
