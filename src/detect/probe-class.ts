import { TcpFlag } from '../model/packet.js';
import { ProbeClass } from '../model/probe.js';

const F = TcpFlag.FIN;
const S = TcpFlag.SYN;
const R = TcpFlag.RST;
const P = TcpFlag.PSH;
const A = TcpFlag.ACK;
const U = TcpFlag.URG;
/** ECE and CWR say nothing about the probe type (nmap and OS stacks set them for ECN). */
const CORE = F | S | R | P | A | U;

/**
 * Class of a TCP packet that opens no known flow, from its flags. Returns -1 for packets that are no
 * probe (RST backscatter, SYN-ACK answers).
 */
export function classifyTcpFlags(flags: number): number {
  const f = flags & CORE;
  if (f === S) return ProbeClass.syn;
  if (f === F) return ProbeClass.fin;
  if (f === 0) return ProbeClass.null;
  if (f === (F | P | U)) return ProbeClass.xmas;
  if (f === A) return ProbeClass.ack;
  if (f === (F | A)) return ProbeClass.maimon;
  if ((f & R) !== 0 && (f & S) === 0) return -1;
  if (f === (S | A)) return -1;
  return ProbeClass.odd;
}
