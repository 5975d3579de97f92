import { openSync, readSync, fstatSync, closeSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { CaptureError, PortwardenError } from '../errors.js';
import type { CaptureFormat, FrameHandler, RecordParser } from './file-format.js';
import { PcapParser } from './pcap.js';
import { PcapngParser, PCAPNG_MAGIC } from './pcapng.js';

/**
 * Streaming reader for capture files (classic pcap and pcapng).
 *
 * Memory stays constant whatever the file size: one reusable buffer receives fixed-size chunks,
 * the format parser delivers every complete record in it, and the incomplete record at the end
 * (if any) moves to the front before the next read. The buffer grows only when a single record
 * is larger than it, and never beyond MAX_RECORD_BYTES.
 *
 * Error contract: every frame before a bad record has been delivered to the handler before the
 * CaptureError for that record is thrown, so the caller can analyse what came before.
 */

export type { CaptureFormat, FrameHandler, RecordParser } from './file-format.js';

export interface CaptureFileSummary {
  format: CaptureFormat;
  /** Frames delivered to the handler. */
  frames: number;
  /** Bytes read from the file (its size, once the whole file has been read). */
  bytes: number;
}

export interface ReadOptions {
  /** Called now and then (about every 4 MiB) with bytes consumed so far and the file size. */
  onProgress?: (bytesRead: number, fileSize: number) => void;
  /** Chunk size for reads; default 4 MiB. Tests use a small one to exercise records that straddle chunks. */
  chunkSize?: number;
}

export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;
/** No sane record is larger (libpcap's largest snaplen for any link type is 256 MiB). */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const PROGRESS_STEP_BYTES = 4 * 1024 * 1024;
/** Bytes needed to tell the formats apart. */
const MAGIC_BYTES = 4;

export async function readCaptureFile(
  path: string,
  onFrame: FrameHandler,
  options: ReadOptions = {},
): Promise<CaptureFileSummary> {
  const chunkSize = checkChunkSize(options.chunkSize);
  const handle = await open(path, 'r').catch((err: unknown) => {
    throw openError(path, 0, err);
  });
  try {
    const st = await handle.stat().catch((err: unknown) => {
      throw openError(path, 0, err);
    });
    const loop = new ChunkLoop(path, onFrame, options.onProgress, st.size, st.isFile(), chunkSize);
    for (;;) {
      const n = await readAsync(handle, loop, path);
      if (n === 0) return loop.finish();
      loop.accept(n);
    }
  } finally {
    await handle.close();
  }
}

/** The path that names standard input (`analyze -`). */
export const STDIN_PATH = '-';
/** How standard input is named in messages. */
const STDIN_NAME = 'standard input';

/**
 * Same as readCaptureFile, blocking: for tools and tests that have nothing else to do meanwhile.
 * The path `-` reads standard input (a pipe or a redirected file) to its end; it is not closed.
 */
export function readCaptureFileSync(path: string, onFrame: FrameHandler, options: ReadOptions = {}): CaptureFileSummary {
  const chunkSize = checkChunkSize(options.chunkSize);
  const stdin = path === STDIN_PATH;
  const name = stdin ? STDIN_NAME : path;
  let fd: number;
  let size: number;
  let regular: boolean;
  try {
    fd = stdin ? 0 : openSync(path, 'r');
  } catch (err) {
    throw openError(name, 0, err);
  }
  try {
    try {
      // A pipe's size is 0: progress then stays quiet, as it does for small files.
      const st = fstatSync(fd);
      size = st.size;
      regular = st.isFile();
    } catch (err) {
      throw openError(name, 0, err);
    }
    const loop = new ChunkLoop(name, onFrame, options.onProgress, size, regular, chunkSize);
    for (;;) {
      const n = readSyncChunk(fd, loop, name);
      if (n === 0) return loop.finish();
      loop.accept(n);
    }
  } finally {
    if (!stdin) closeSync(fd);
  }
}

/**
 * Whether `path` can be opened as a capture file, checked before any file is analysed so that a
 * missing file or a directory is one error line, not an empty analysis. Returns the error, or null.
 * Only regular files are opened for the check: opening a FIFO would wait for its writer, so FIFOs,
 * devices and `-` (standard input) pass and fail, if at all, when they are read.
 */
export function checkCaptureFile(path: string): PortwardenError | null {
  if (path === STDIN_PATH) return null;
  try {
    const st = statSync(path);
    if (st.isDirectory()) return new PortwardenError('PW_ERR_CAPTURE_OPEN', `${path}: is a directory, not a capture file`);
    if (st.isFile()) closeSync(openSync(path, 'r'));
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'ENOTDIR'
            ? 'a component of the path is not a directory'
            : err instanceof Error
              ? err.message
              : String(err);
    return new PortwardenError('PW_ERR_CAPTURE_OPEN', `${path}: cannot open the capture file: ${reason}`, { cause: err });
  }
}

async function readAsync(handle: FileHandle, loop: ChunkLoop, path: string): Promise<number> {
  try {
    // position null: read sequentially, which also works for pipes and FIFOs.
    const { bytesRead } = await handle.read(loop.buf, loop.filled, loop.buf.length - loop.filled, null);
    return bytesRead;
  } catch (err) {
    throw openError(path, loop.bytesRead, err);
  }
}

/** For a non-blocking standard input: how long to wait before asking again. */
const RETRY_WAIT_MS = 2;
const retryWaiter = new Int32Array(new SharedArrayBuffer(4));

function readSyncChunk(fd: number, loop: ChunkLoop, path: string): number {
  for (;;) {
    try {
      return readSync(fd, loop.buf, loop.filled, loop.buf.length - loop.filled, null);
    } catch (err) {
      // A pipe another process set to non-blocking (standard input shared with a Node parent, say)
      // has no data yet: wait a little without spinning, then read again.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(retryWaiter, 0, 0, RETRY_WAIT_MS);
        continue;
      }
      throw openError(path, loop.bytesRead, err);
    }
  }
}

function openError(path: string, offset: number, err: unknown): CaptureError {
  const reason = err instanceof Error ? err.message : String(err);
  return new CaptureError('PW_ERR_CAPTURE_OPEN', path, offset, `cannot read the capture file: ${reason}`, { cause: err });
}

function checkChunkSize(chunkSize: number | undefined): number {
  if (chunkSize === undefined) return DEFAULT_CHUNK_BYTES;
  // Above the record limit the growth check below could be bypassed: a whole oversized record would fit.
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_RECORD_BYTES) {
    throw new RangeError(`chunkSize must be an integer from 1 to ${MAX_RECORD_BYTES}, got ${chunkSize}`);
  }
  return chunkSize;
}

/**
 * The I/O-independent half of the reader: owns the buffer, hands bytes to the parser, keeps the
 * unconsumed tail. The sync and async readers differ only in how they fill `buf`.
 * Invariant between reads: buf[0, filled) holds unconsumed bytes starting at file offset `base`,
 * and filled < buf.length (there is room to read).
 */
class ChunkLoop {
  buf: Buffer;
  filled = 0;
  bytesRead = 0;
  #base = 0;
  #parser: RecordParser | null = null;
  #nextProgress = PROGRESS_STEP_BYTES;
  #lastProgress = -1;
  readonly #file: string;
  readonly #onFrame: FrameHandler;
  readonly #onProgress: ((bytesRead: number, fileSize: number) => void) | undefined;
  readonly #fileSize: number;
  /** A regular file's size bounds every record in it; a pipe's says nothing. */
  readonly #sizeBounds: boolean;
  readonly #chunkSize: number;

  constructor(
    file: string,
    onFrame: FrameHandler,
    onProgress: ((bytesRead: number, fileSize: number) => void) | undefined,
    fileSize: number,
    regularFile: boolean,
    chunkSize: number,
  ) {
    this.#file = file;
    this.#onFrame = onFrame;
    this.#onProgress = onProgress;
    this.#fileSize = fileSize;
    this.#sizeBounds = regularFile;
    this.#chunkSize = chunkSize;
    this.buf = Buffer.allocUnsafe(Math.max(chunkSize, MAGIC_BYTES));
  }

  /** Takes `n` more bytes just read into buf[filled, filled + n). */
  accept(n: number): void {
    this.filled += n;
    this.bytesRead += n;
    const parser = this.#parser ?? this.#detect();
    if (parser !== null) {
      const consumed = parser.parse(this.buf, 0, this.filled, this.#base);
      this.#keepTail(consumed);
      this.#ensureRoom(parser);
    }
    this.#reportProgress();
  }

  /** End of file: the summary, or the error for a file that stops inside a record. */
  finish(): CaptureFileSummary {
    const parser = this.#parser;
    if (parser === null) throw this.#tooShort();
    if (this.filled > 0) throw this.#truncated(parser, this.filled);
    if (this.#onProgress !== undefined && this.#lastProgress !== this.bytesRead) {
      this.#onProgress(this.bytesRead, this.#fileSize);
    }
    return { format: parser.format, frames: parser.frames, bytes: this.bytesRead };
  }

  #detect(): RecordParser | null {
    if (this.filled < MAGIC_BYTES) return null;
    const magic = this.buf.readUInt32LE(0);
    if (PcapParser.isMagic(magic)) this.#parser = new PcapParser(this.#file, this.#onFrame, magic);
    else if (magic === PCAPNG_MAGIC) this.#parser = new PcapngParser(this.#file, this.#onFrame);
    else {
      const hex = this.buf.subarray(0, MAGIC_BYTES).toString('hex');
      throw new CaptureError('PW_ERR_CAPTURE_FORMAT', this.#file, 0, `not a pcap or pcapng file (starts with 0x${hex})`);
    }
    return this.#parser;
  }

  #truncated(parser: RecordParser, present: number): CaptureError {
    return new CaptureError(
      'PW_ERR_CAPTURE_TRUNCATED',
      this.#file,
      this.#base,
      `file ends inside the ${parser.pendingRecord}: ${present} of ${parser.need} bytes present`,
    );
  }

  #tooShort(): CaptureError {
    const detail =
      this.bytesRead === 0
        ? 'empty file: not a pcap or pcapng capture'
        : `file of ${this.bytesRead} bytes is too short to be a pcap or pcapng capture`;
    return new CaptureError('PW_ERR_CAPTURE_FORMAT', this.#file, 0, detail);
  }

  /** Moves the incomplete record at `consumed` to the front; it is at most one record long. */
  #keepTail(consumed: number): void {
    if (consumed === 0) return;
    if (consumed < this.filled) this.buf.copyWithin(0, consumed, this.filled);
    this.filled -= consumed;
    this.#base += consumed;
  }

  /**
   * Grows the buffer when the pending record does not fit. The parser reports a record's size
   * as soon as its header is read, so an absurd length is caught here before any allocation.
   */
  #ensureRoom(parser: RecordParser): void {
    const need = parser.need;
    if (need <= this.buf.length) return;
    if (need > MAX_RECORD_BYTES) {
      throw new CaptureError(
        'PW_ERR_CAPTURE_CORRUPT',
        this.#file,
        this.#base,
        `record of ${need} bytes exceeds the ${MAX_RECORD_BYTES}-byte limit`,
      );
    }
    // A record longer than the rest of a regular file can only end in truncation: say so now, rather
    // than grow the buffer up to 256 MiB for a length a few corrupt bytes made up.
    if (this.#sizeBounds && this.#base + need > this.#fileSize) throw this.#truncated(parser, this.#fileSize - this.#base);
    const chunks = Math.ceil(need / this.#chunkSize);
    const grown = Buffer.allocUnsafe(Math.min(chunks * this.#chunkSize, MAX_RECORD_BYTES));
    this.buf.copy(grown, 0, 0, this.filled);
    this.buf = grown;
  }

  #reportProgress(): void {
    if (this.#onProgress === undefined || this.bytesRead < this.#nextProgress) return;
    this.#onProgress(this.bytesRead, this.#fileSize);
    this.#lastProgress = this.bytesRead;
    // On a fixed grid, so reads shorter than a step do not make reports drift apart.
    this.#nextProgress = (Math.floor(this.bytesRead / PROGRESS_STEP_BYTES) + 1) * PROGRESS_STEP_BYTES;
  }
}
