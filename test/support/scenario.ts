/**
 * Builds traffic packet by packet and feeds it through the real pipeline (decoder included), so detector
 * tests read as a story: who sent what to whom, when, and what came back.
 */
import { defaultConfig } from '../../src/config/load.js';
import type { DetectionSettings } from '../../src/detect/settings.js';
import type { ProfileName } from '../../src/model/profile.js';
import type { Incident } from '../../src/detect/incident.js';
import type { IncidentRecord } from '../../src/model/incident.js';
import { LinkType } from '../../src/model/packet.js';
import { Pipeline } from '../../src/detect/pipeline.js';
import { ethernet, etherTypeOf, icmpEcho, icmpUnreachable, icmpv6Neighbour, ipPacket, Proto, tcp, udp, type TcpOptionSet } from '../../scripts/frames.js';
import { arpFrame, MAC_DST, type ArpSpec } from './frames.js';

const MAC_A = '02:00:00:00:00:01';
const MAC_B = '02:00:00:00:00:02';
export const T0 = Date.parse('2026-01-01T00:00:00Z');

export class Scenario {
  readonly pipeline: Pipeline;
  /** Incidents in the order they opened, as the live daemon would see them. */
  readonly opened: Incident[] = [];
  /** Milliseconds since T0 of the next packet. */
  nowMs = 0;

  constructor(settings: DetectionSettings | ProfileName = 'normal') {
    const s = typeof settings === 'string' ? defaultConfig(settings).detection : settings;
    this.pipeline = new Pipeline(s, (i) => this.opened.push(i));
  }

  get engine() {
    return this.pipeline.engine;
  }

  at(ms: number): this {
    this.nowMs = ms;
    return this;
  }

  send(ip: Buffer): this {
    const frame = ethernet(MAC_A, MAC_B, etherTypeOf(ip), ip);
    this.pipeline.onFrame(frame, 0, frame.length, (T0 + this.nowMs) * 1000, LinkType.ETHERNET);
    return this;
  }

  tcp(src: string, dst: string, srcPort: number, dstPort: number, flags: string, opts: { seq?: number; ack?: number; options?: TcpOptionSet; payload?: Uint8Array; id?: number } = {}): this {
    const seg = tcp({ src, dst, srcPort, dstPort, flags, seq: opts.seq ?? 1000, ack: opts.ack, options: opts.options ?? 'none', payload: opts.payload });
    return this.send(ipPacket({ src, dst, protocol: Proto.TCP, payload: seg, id: opts.id }));
  }

  udp(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array = Buffer.alloc(8)): this {
    return this.send(ipPacket({ src, dst, protocol: Proto.UDP, payload: udp({ src, dst, srcPort, dstPort, payload }) }));
  }

  /** An ICMP port unreachable from `target` quoting a UDP datagram `prober` sent to it. */
  portUnreachable(target: string, prober: string, proberPort: number, port: number): this {
    const quoted = ipPacket({ src: prober, dst: target, protocol: Proto.UDP, payload: udp({ src: prober, dst: target, srcPort: proberPort, dstPort: port, payload: Buffer.alloc(8) }) });
    return this.send(ipPacket({ src: target, dst: prober, protocol: Proto.ICMP, payload: icmpUnreachable(3, quoted) }));
  }

  ping(src: string, dst: string, id: number, type: 'request' | 'reply' = 'request'): this {
    return this.send(ipPacket({ src, dst, protocol: Proto.ICMP, payload: icmpEcho({ type, id, seq: 1 }) }));
  }

  /** A SYN probe answered by RST (closed port), SYN-ACK then scanner RST (open), or nothing. */
  synProbe(src: string, dst: string, port: number, answer: 'closed' | 'open' | 'silent', srcPort = 40000 + (port % 20000)): this {
    this.tcp(src, dst, srcPort, port, 'S', { seq: 7000 });
    if (answer === 'closed') this.tcp(dst, src, port, srcPort, 'RA', { seq: 0, ack: 7001 });
    if (answer === 'open') this.tcp(dst, src, port, srcPort, 'SA', { seq: 9000, ack: 7001 }).tcp(src, dst, srcPort, port, 'R', { seq: 7001 });
    return this;
  }

  /** A full, successful client connection with a request and response, then FIN both ways. */
  session(client: string, server: string, clientPort: number, port: number): this {
    const data = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    this.tcp(client, server, clientPort, port, 'S', { seq: 1, options: 'linux' });
    this.tcp(server, client, port, clientPort, 'SA', { seq: 100, ack: 2, options: 'linux' });
    this.tcp(client, server, clientPort, port, 'A', { seq: 2, ack: 101 });
    this.tcp(client, server, clientPort, port, 'PA', { seq: 2, ack: 101, payload: data });
    this.tcp(server, client, port, clientPort, 'PA', { seq: 101, ack: 2 + data.length, payload: data });
    this.tcp(client, server, clientPort, port, 'FA', { seq: 2 + data.length, ack: 101 + data.length });
    this.tcp(server, client, port, clientPort, 'FA', { seq: 101 + data.length, ack: 3 + data.length });
    return this;
  }

  /** An ARP packet: a request goes to the broadcast address unless `unicast` (a cache refresh). */
  arp(spec: ArpSpec, unicast = false): this {
    const frame = arpFrame(spec, unicast ? MAC_DST : undefined);
    this.pipeline.onFrame(frame, 0, frame.length, (T0 + this.nowMs) * 1000, LinkType.ETHERNET);
    return this;
  }

  /** An ICMPv6 neighbour solicitation to `target`'s solicited-node group, or an advertisement of `target` to `dst`. */
  neighbour(type: 135 | 136, src: string, target: string, dst?: string): this {
    const groupOf = (t: string): string => {
      const tail = t.split(':').pop() ?? '0';
      const low = parseInt(tail === '' ? '0' : tail, 16);
      return `ff02::1:ff00:${(low & 0xffff).toString(16)}`;
    };
    const to = dst ?? (type === 135 ? groupOf(target) : 'ff02::1');
    return this.send(ipPacket({ src, dst: to, protocol: Proto.ICMPV6, payload: icmpv6Neighbour({ src, dst: to, type, target }), ttl: 255 }));
  }

  /** End of input; returns the final incident records. */
  finish(): IncidentRecord[] {
    this.pipeline.engine.flush();
    return this.pipeline.engine.incidents().map((i) => i.toRecord());
  }
}

export function summary(records: IncidentRecord[]): string[] {
  return records.map((r) => `${r.kind}/${r.class} ${r['source.ip'] ?? (r.sources ?? []).join(',')} -> ${r['destination.ip'] ?? r['destination.port'] ?? ''}`);
}
