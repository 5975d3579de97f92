/**
 * Big-endian reads for the decoders. Callers bound-check first: these never check, so that the
 * check happens once per header instead of once per field. Manual shifts measured faster than
 * Buffer#readUInt16BE/readUInt32BE (which re-check bounds and can throw).
 */

export function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

/** Unsigned: `>>> 0` keeps addresses and sequence numbers above 2^31 positive. */
export function u32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}
