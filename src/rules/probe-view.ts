/**
 * One probe as probe rules read it: the reused packet view and what detection classified, with the
 * fields of fields.ts computed only when a rule asks (address text is the costly part, so it is made at
 * most once per probe). Reset for every probe; never kept.
 */
import { formatIPv4, formatIPv6 } from '../net/address.js';
import { PortFamily } from '../model/incident.js';
import type { Packet } from '../model/packet.js';
import { PROBE_CLASS_NAMES } from '../model/probe.js';

export const PROTOCOL_NAMES = ['tcp', 'udp', 'proto', 'icmp'] as const;

export class ProbeView {
  packet: Packet | null = null;
  cls = 0;
  portKey = 0;
  nowMs = 0;
  #source: string | null = null;
  #destination: string | null = null;

  set(packet: Packet, cls: number, portKey: number, nowMs: number): void {
    this.packet = packet;
    this.cls = cls;
    this.portKey = portKey;
    this.nowMs = nowMs;
    this.#source = null;
    this.#destination = null;
  }

  /** 0 tcp, 1 udp, 2 proto, 3 icmp (PortFamily's upper bits). */
  get family(): number {
    return this.portKey >>> 16;
  }

  /** The port field: the port, the IP protocol number for proto probes, 0 for ICMP. */
  get port(): number {
    return this.portKey >= PortFamily.icmp ? 0 : this.portKey & 0xffff;
  }

  get source(): string {
    const p = this.packet!;
    return (this.#source ??= p.ipVersion === 6 ? formatIPv6(p.buf, p.src6Offset) : formatIPv4(p.src4));
  }

  get destination(): string {
    const p = this.packet!;
    return (this.#destination ??= p.ipVersion === 6 ? formatIPv6(p.buf, p.dst6Offset) : formatIPv4(p.dst4));
  }

  get className(): string {
    return PROBE_CLASS_NAMES[this.cls] ?? 'odd';
  }

  get protocol(): string {
    return PROTOCOL_NAMES[this.family] ?? 'proto';
  }

  /** A field's value as text, for bucket keys and distinct values. */
  text(field: string): string {
    switch (field) {
      case 'source':
        return this.source;
      case 'destination':
        return this.destination;
      case 'port':
        return String(this.port);
      case 'class':
        return this.className;
      case 'protocol':
        return this.protocol;
      default:
        return 'probe';
    }
  }

  /** A field's value as a bucket key: a number where the probe has one (IPv4 address, port, class id, protocol family). */
  key(field: string): number | string {
    const p = this.packet!;
    switch (field) {
      case 'source':
        return p.ipVersion === 4 ? p.src4 >>> 0 : this.source;
      case 'destination':
        return p.ipVersion === 4 ? p.dst4 >>> 0 : this.destination;
      case 'port':
        return this.port;
      case 'class':
        return this.cls;
      case 'protocol':
        return this.family;
      default:
        return 0;
    }
  }

  /** The text of a `key(field)` value (for the incident a bucket makes). */
  static formatKey(field: string, key: number | string): string {
    if (typeof key === 'string') return key;
    switch (field) {
      case 'source':
      case 'destination':
        return formatIPv4(key);
      case 'class':
        return PROBE_CLASS_NAMES[key] ?? 'odd';
      case 'protocol':
        return PROTOCOL_NAMES[key] ?? 'proto';
      default:
        return String(key);
    }
  }

  /** The CEL context, for filters the fast path cannot compile. */
  context(): Record<string, unknown> {
    return { kind: 'probe', class: this.className, source: this.source, destination: this.destination, port: BigInt(this.port), protocol: this.protocol };
  }
}
