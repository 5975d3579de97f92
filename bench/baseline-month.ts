/**
 * A month of a server's ordinary traffic in packet time, for the baseline tests and the `baselines` bench: clients
 * connect to four services with a daily rhythm (quiet nights, busy afternoons) and a weekly one
 * (weekends at half), counts drawn from Poisson distributions with a fixed seed; a few refused
 * contacts to a closed port every hour. Optionally one hour of one port surges by a factor.
 */
import { createRng, ethernet, etherTypeOf, ipPacket, Proto, tcp, type Rng } from '../scripts/frames.js';
import { PcapWriter } from '../src/capture/pcap-writer.js';
import { LinkType } from '../src/model/packet.js';

export const SERVER = '10.0.0.1';
/** Busiest-hour connections per service port. */
export const PORT_RATES: Readonly<Record<number, number>> = { 22: 8, 80: 30, 443: 40, 25: 12 };
export const CLOSED_PORT = 8080;
/** A Monday, 00:00 UTC. */
export const MONTH_START_MS = Date.parse('2026-01-05T00:00:00Z');
const HOUR_MS = 3_600_000;
const CLIENTS = Array.from({ length: 60 }, (_, i) => `10.1.${i >> 4}.${(i & 15) + 10}`);
const MAC_A = '02:00:00:00:00:01';
const MAC_B = '02:00:00:00:00:02';

export interface Surge {
  /** Day (0: the first) and hour of day (UTC). */
  day: number;
  hour: number;
  port: number;
  factor: number;
}

export interface MonthOptions {
  days: number;
  /** First day to emit (a later part of the same month: same traffic as a whole run). */
  fromDay?: number;
  surge?: Surge;
  seed?: number;
}

export interface TimedFrame {
  tsUs: number;
  frame: Buffer;
}

/** Share of the busiest hour's traffic at this hour of the day and day of the week. */
export function rhythm(day: number, hour: number): number {
  const daily = hour >= 7 && hour <= 21 ? 0.25 + 0.75 * Math.sin((Math.PI * (hour - 6)) / 16) : 0.25;
  const weekend = day % 7 >= 5 ? 0.5 : 1;
  return daily * weekend;
}

function poisson(rng: Rng, lambda: number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rng.next();
  while (p > limit) {
    k++;
    p *= rng.next();
  }
  return k;
}

function frame(src: string, dst: string, srcPort: number, dstPort: number, flags: string, seq: number, ack?: number): Buffer {
  const seg = tcp({ src, dst, srcPort, dstPort, flags, seq, ack, options: flags === 'S' || flags === 'SA' ? 'linux' : 'none' });
  const ip = ipPacket({ src, dst, protocol: Proto.TCP, payload: seg });
  return ethernet(MAC_A, MAC_B, etherTypeOf(ip), ip);
}

/** One hour's frames, in time order. Each hour has its own seed, so any day range reproduces the same traffic. */
export function hourOfTraffic(day: number, hour: number, surge: Surge | undefined, seed: number): TimedFrame[] {
  const rng = createRng((seed * 1_000_003 + day * 24 + hour) >>> 0);
  const startUs = (MONTH_START_MS + (day * 24 + hour) * HOUR_MS) * 1000;
  const share = rhythm(day, hour);
  const out: TimedFrame[] = [];
  const emit = (atUs: number, f: Buffer) => out.push({ tsUs: atUs, frame: f });
  // A random client's handshake (open) or refused SYN at a random moment of the hour.
  const contact = (port: number, open: boolean): void => {
    const client = rng.pick(CLIENTS);
    const clientPort = rng.int(32768, 60999);
    const at = startUs + Math.floor(rng.next() * (HOUR_MS - 1000) * 1000);
    emit(at, frame(client, SERVER, clientPort, port, 'S', 1));
    if (!open) {
      emit(at + 200, frame(SERVER, client, port, clientPort, 'RA', 0, 2));
      return;
    }
    emit(at + 200, frame(SERVER, client, port, clientPort, 'SA', 100, 2));
    emit(at + 400, frame(client, SERVER, clientPort, port, 'A', 2, 101));
  };
  for (const [portText, rate] of Object.entries(PORT_RATES)) {
    const port = Number(portText);
    const factor = surge !== undefined && surge.day === day && surge.hour === hour && surge.port === port ? surge.factor : 1;
    const n = poisson(rng, rate * share * factor);
    for (let i = 0; i < n; i++) contact(port, true);
  }
  const refused = poisson(rng, 2 * share);
  for (let i = 0; i < refused; i++) contact(CLOSED_PORT, false);
  return out.sort((a, b) => a.tsUs - b.tsUs);
}

export function* monthOfTraffic(opts: MonthOptions): Generator<TimedFrame> {
  const seed = opts.seed ?? 15;
  for (let day = opts.fromDay ?? 0; day < opts.days; day++) {
    for (let hour = 0; hour < 24; hour++) yield* hourOfTraffic(day, hour, opts.surge, seed);
  }
}

/** Writes the traffic to a pcap; returns the number of frames. */
export function writeMonthPcap(path: string, opts: MonthOptions): number {
  const w = new PcapWriter(path, LinkType.ETHERNET);
  let n = 0;
  for (const f of monthOfTraffic(opts)) {
    w.write(f.tsUs, f.frame);
    n++;
  }
  w.close();
  return n;
}

/** Packet time (ms) of an hour of the month. */
export function monthHourMs(day: number, hour: number): number {
  return MONTH_START_MS + (day * 24 + hour) * HOUR_MS;
}
