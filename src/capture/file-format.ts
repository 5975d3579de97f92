/**
 * What the capture-file reader (capture-file.ts) and its format parsers (pcap.ts, pcapng.ts) share.
 * It lives apart so the reader imports the parsers and the parsers import only this: no file cycle.
 */

/**
 * Called once per frame. buf/offset/length: the captured bytes (valid only during the call, the
 * buffer is reused). `recordOffset`: byte offset in the file of the frame's record (its record or
 * block header), for events and errors that must say where a frame is; live sources, which have no
 * file, leave it out.
 */
export type FrameHandler = (
  buf: Buffer,
  offset: number,
  length: number,
  tsUs: number,
  linkType: number,
  originalLength: number,
  recordOffset?: number,
) => void;

export type CaptureFormat = 'pcap' | 'pcapng';

/**
 * What a format parser must provide to the chunk loop. The parser keeps its own state between
 * calls (byte order, interfaces); the loop only moves bytes.
 */
export interface RecordParser {
  readonly format: CaptureFormat;
  /** Frames delivered so far. */
  readonly frames: number;
  /** After parse(): bytes the first unconsumed record needs in one piece, counted from its start. */
  readonly need: number;
  /** After parse(): what the first unconsumed record is, for the truncation message. */
  readonly pendingRecord: string;
  /**
   * Delivers every complete record in buf[start, end) and returns the offset of the first byte
   * not consumed. `base` is the file offset of buf[0], for error offsets. Throws CaptureError at
   * the first bad record, after delivering all the frames before it.
   */
  parse(buf: Buffer, start: number, end: number, base: number): number;
}
