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

/** Marks a used inline contact word, so a contact that packs to 0 (TCP port 0, class syn) still shows. */
export const PRESENT = 1 << 28;

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

/*
 * A (source, port) sweep record before it needs evidence, packed the same way: distinct hosts
 * (19 bits, saturating), successful first contacts (6 bits, saturating: four already take the TRW to
 * its benign bound), whether the first host's contact failed (1), the first probe's class (4) and
 * OS-like SYN (1). A sweep becomes an incident only with two hosts or more and a failure (the TRW only
 * rises on failures and the windows need a share of them), so until both hold it is only counted.
 */
const SWEEP_HOSTS_MAX = (1 << 19) - 1;
const SWEEP_SUCCESS_SHIFT = 19;
const SWEEP_SUCCESS_MAX = (1 << 6) - 1;
const SWEEP_FAILED = 1 << 25;
const SWEEP_CLASS_SHIFT = 26;
const SWEEP_OS_SYN = 1 << 30;

export function packSweep(cls: number, osSyn: boolean): number {
  return 1 | (cls << SWEEP_CLASS_SHIFT) | (osSyn ? SWEEP_OS_SYN : 0);
}

export function sweepHosts(v: number): number {
  return v & SWEEP_HOSTS_MAX;
}

export function sweepSuccesses(v: number): number {
  return (v >>> SWEEP_SUCCESS_SHIFT) & SWEEP_SUCCESS_MAX;
}

/** Failed first contacts in the packed record: 0, or 1 when the first host's failed. */
export function sweepFailures(v: number): number {
  return (v & SWEEP_FAILED) !== 0 ? 1 : 0;
}

export function sweepClass(v: number): number {
  return (v >>> SWEEP_CLASS_SHIFT) & 15;
}

export function sweepOsSyn(v: number): boolean {
  return (v & SWEEP_OS_SYN) !== 0;
}

export function withSweepHost(v: number): number {
  return sweepHosts(v) === SWEEP_HOSTS_MAX ? v : v + 1;
}

export function withSweepSuccess(v: number): number {
  return sweepSuccesses(v) === SWEEP_SUCCESS_MAX ? v : v + (1 << SWEEP_SUCCESS_SHIFT);
}

export function withSweepFailure(v: number): number {
  return v | SWEEP_FAILED;
}
