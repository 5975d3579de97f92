import { IpProtocol, TcpFlag, type Packet } from '../model/packet.js';

/**
 * Scanner attribution: the tools that craft their own probes leave fixed traits the tools' own source
 * sets, and a probe either carries one or not. Each first contact of a record with evidence gets a
 * trait (a few comparisons), counted per record; the name is decided when the incident is reported.
 *
 * - nmap (raw TCP probes, nmap's tcpip.cc / scan_engine): window 1024, or 1024 × (ttl % 4 + 1) in
 *   versions before 5 (the window came from the TTL); SYNs carry exactly one option, MSS 1460.
 * - masscan (templ-pkt.c / proto-tcp): IP ID = (destination ^ destination port ^ sequence) & 0xffff
 *   (its SYN cookie folded), window 1024, TTL 255.
 * - zmap before 4.1 (probe_modules/packet.c): IP ID 54321, window 65535, TTL 255.
 * - unicornscan: window 4128.
 * - hping3 (defaults, as measured from Debian's hping3 3.0.0-alpha-2): window 512, no TCP options.
 *
 * An OS stack's SYN (a connect() scan, a browser) carries SACK-permitted or timestamps, so it never
 * matches a raw tool's trait, and a benign client never gets a tool name.
 */
export const Tool = { none: 0, nmap: 1, masscan: 2, zmap: 3, unicornscan: 4, hping3: 5 } as const;
export const TOOL_NAMES = ['', 'nmap', 'masscan', 'zmap', 'unicornscan', 'hping3'] as const;
export const TOOL_COUNT = TOOL_NAMES.length;

const TRAIT_TEXT: readonly string[] = [
  '',
  'TCP window 1024 (or 1024 × (TTL % 4 + 1)), a SYN\'s only option MSS 1460',
  'IP ID = (destination ^ destination port ^ sequence) & 0xffff, window 1024',
  'IP ID 54321, window 65535',
  'TCP window 4128',
  'TCP window 512 without options',
];

const { SYN, ACK, RST } = TcpFlag;

/** The tool whose trait a TCP probe carries, or Tool.none. The IP ID traits are IPv4's only. */
export function toolTrait(p: Packet): number {
  if (p.protocol !== IpProtocol.TCP || p.tcpOsOptions) return Tool.none;
  const v4 = p.ipVersion === 4;
  const win = p.window;
  const syn = (p.tcpFlags & (SYN | ACK | RST)) === SYN;
  // Options: none, or (SYN only) MSS alone. Anything else is not a raw scanner's probe.
  const bare = p.tcpOptionsLength === 0;
  const mssOnly = p.tcpOptionsLength === 4 && p.tcpMss > 0;
  if (!bare && !mssOnly) return Tool.none;
  if (v4 && bare && win === 1024 && ((p.dst4 ^ p.dstPort ^ p.seq) & 0xffff) === p.ipId) return Tool.masscan;
  if (v4 && bare && win === 65535 && p.ipId === 54321) return Tool.zmap;
  if (win === 1024 || (win > 1024 && win <= 4096 && win === 1024 * ((p.ttl % 4) + 1))) {
    if (!syn ? bare : mssOnly && p.tcpMss === 1460) return Tool.nmap;
    return Tool.none;
  }
  if (win === 4128) return Tool.unicornscan;
  if (bare && win === 512) return Tool.hping3;
  return Tool.none;
}

/** Share of a record's attributable probes that must carry one tool's trait before the tool is named. */
const MIN_SHARE = 0.8;
/** Fewest probes with the trait before a tool is named. */
const MIN_PROBES = 3;

/** Tool traits of one record's first contacts: counts per tool, and how often the source port stayed the same. */
export class ToolVotes {
  readonly counts: number[] = [0, 0, 0, 0, 0, 0];
  probes = 0;
  #lastSrcPort = -1;
  sameSourcePort = 0;

  /** Seeds the votes of a record counted before it had evidence: `matching` of its `probes` carried `trait`. */
  seed(trait: number, matching: number, probes: number): void {
    this.counts[trait] += matching;
    this.probes += probes;
  }

  add(trait: number, srcPort: number): void {
    this.probes++;
    this.counts[trait]++;
    if (srcPort === this.#lastSrcPort) this.sameSourcePort++;
    this.#lastSrcPort = srcPort;
  }

  /** The tool most probes name, when at least MIN_SHARE of them do; else Tool.none. */
  decide(): number {
    let best: number = Tool.none;
    for (let t = 1; t < TOOL_COUNT; t++) if (this.counts[t] > this.counts[best]) best = t;
    if (best === Tool.none || this.counts[best] < MIN_PROBES || this.counts[best] < MIN_SHARE * this.probes) return Tool.none;
    return best;
  }

  /** What named the tool, for the incident's evidence. */
  evidence(tool: number): Record<string, unknown> {
    const out: Record<string, unknown> = {
      tool: TOOL_NAMES[tool],
      trait: TRAIT_TEXT[tool],
      probes_with_trait: this.counts[tool],
      probes_judged: this.probes,
    };
    // nmap keeps one source port per pass; masscan and zmap vary theirs.
    if (tool === Tool.nmap) out.constant_source_port_share = Math.round((this.sameSourcePort / Math.max(1, this.probes - 1)) * 100) / 100;
    return out;
  }
}
