/**
 * One first contact packed into a small integer: port key (18 bits), probe class (4), OS-like SYN (1),
 * outcome (2), handshake completed (1) and half-open reset (1): 27 bits, so V8 stores it unboxed. Most
 * (source, target) pairs are one client connection; keeping them as a number in the source's map, not
 * an object, is what keeps the garbage collector off the packet path. A pair becomes full evidence
 * (ContactEvidence) at its second distinct port.
 */
const PORT_BITS = 18;
const CLASS_SHIFT = PORT_BITS;
const OS_SYN = 1 << 22;
const OUTCOME_SHIFT = 23;
const COMPLETED = 1 << 25;
const RESET = 1 << 26;

export const Outcome = { unknown: 0, success: 1, failure: 2 } as const;

export function packFirstContact(portKey: number, cls: number, osSyn: boolean): number {
  return portKey | (cls << CLASS_SHIFT) | (osSyn ? OS_SYN : 0);
}

export function contactPort(v: number): number {
  return v & ((1 << PORT_BITS) - 1);
}

export function contactClass(v: number): number {
  return (v >>> CLASS_SHIFT) & 15;
}

export function contactOsSyn(v: number): boolean {
  return (v & OS_SYN) !== 0;
}

export function contactOutcome(v: number): number {
  return (v >>> OUTCOME_SHIFT) & 3;
}

export function withOutcome(v: number, success: boolean): number {
  return (v & ~(3 << OUTCOME_SHIFT)) | ((success ? Outcome.success : Outcome.failure) << OUTCOME_SHIFT);
}

export function contactCompleted(v: number): boolean {
  return (v & COMPLETED) !== 0;
}

export function contactReset(v: number): boolean {
  return (v & RESET) !== 0;
}

/** Records what the prober did after an answer: a completed handshake clears an earlier reset. */
export function withHandshake(v: number, completed: boolean): number {
  return completed ? (v | COMPLETED) & ~RESET : v | RESET;
}
