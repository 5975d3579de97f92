import { openSync, writeSync, closeSync } from 'node:fs';

/**
 * Writes a classic pcap file (little-endian, microsecond timestamps), buffered.
 * Used to produce crafted test captures and benchmark inputs; the daemon never writes captures.
 */
export class PcapWriter {
  readonly #fd: number;
  readonly #chunk = Buffer.allocUnsafe(1 << 20);
  #used = 0;
  #closed = false;

  constructor(path: string, linkType: number, snaplen = 262144) {
    this.#fd = openSync(path, 'w');
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(snaplen, 16);
    header.writeUInt32LE(linkType, 20);
    writeSync(this.#fd, header);
  }

  /** Appends one frame captured at `tsUs` (microseconds since the epoch). */
  write(tsUs: number, frame: Uint8Array): void {
    const need = 16 + frame.length;
    if (this.#used + need > this.#chunk.length) this.#flush();
    if (need > this.#chunk.length) throw new RangeError(`frame of ${frame.length} bytes is too large`);
    const seconds = Math.floor(tsUs / 1e6);
    const c = this.#chunk;
    let o = this.#used;
    c.writeUInt32LE(seconds >>> 0, o);
    c.writeUInt32LE(Math.round(tsUs - seconds * 1e6) >>> 0, o + 4);
    c.writeUInt32LE(frame.length, o + 8);
    c.writeUInt32LE(frame.length, o + 12);
    o += 16;
    c.set(frame, o);
    this.#used = o + frame.length;
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    closeSync(this.#fd);
    this.#closed = true;
  }

  #flush(): void {
    if (this.#used > 0) writeSync(this.#fd, this.#chunk, 0, this.#used);
    this.#used = 0;
  }
}
