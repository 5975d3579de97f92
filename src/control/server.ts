import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { PortwardenError } from '../errors.js';
import { requestProblem, type CommandName, type ControlHandler, type Reply, type Request } from '../model/control.js';

/** A request line longer than this is refused: the peer is local, but never trusted. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * The daemon's control socket. Only root may use it: the socket is created mode 0600 in a directory of
 * mode 0700 (a unix socket's permissions are what the kernel checks on connect).
 */
export class ControlServer {
  readonly #server: Server;
  readonly #path: string;

  private constructor(server: Server, path: string) {
    this.#server = server;
    this.#path = path;
  }

  static async listen(path: string, handler: ControlHandler): Promise<ControlServer> {
    // A folder we make is root's alone; one that exists (/tmp, a shared /run subfolder) keeps its mode: the
    // socket itself is 0600, which is what keeps other users out.
    if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // A socket file left by a daemon that died is stale: nothing listens there any more (the instance lock,
    // taken before, has made sure no live daemon owns it).
    rmSync(path, { force: true });
    // Half-open: a peer that writes its requests and then shuts its side still gets every answer.
    const server = createServer({ allowHalfOpen: true }, (socket) => serve(socket, handler));
    // Created 0600 from the start (no moment in which the umask's mode applies), and chmod'ed to be sure.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new PortwardenError('PW_ERR_CONTROL', `cannot listen on ${path}: ${err.message}`, { cause: err })));
        server.listen(path, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
    return new ControlServer(server, path);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#path, { force: true });
  }
}

/** Requests read ahead of their answers, at most: past this, reading pauses until the answers catch up. */
const MAX_PENDING = 1024;

/**
 * Commands whose handler queues its change on the ban book before its first await, so that several of them
 * in a row can be in flight at once and share one kernel transaction and one database commit (a batch of
 * 10,000 bans is a few commits, not 10,000). Every other command waits for all before it to finish, and the
 * ones after it wait for it: `ban` then `bans` sees the ban, `allow` then `ban` is refused.
 */
const PIPELINED: ReadonlySet<CommandName> = new Set(['ban', 'unban']);

/**
 * One connection: requests are lines, answered in the order they came, each with the effects of those
 * before it. The size limit applies to each line: a batch of any length, written at once, is fine; only a
 * line that grows past the limit is refused, and since its end cannot be found without reading on, the
 * connection is then closed (after the answers to the lines before it).
 */
function serve(socket: Socket, handler: ControlHandler): void {
  /** The start of a line whose newline has not come yet. */
  let partial: Buffer = Buffer.alloc(0);
  let pending = 0;
  /** Settles when every reply so far is written: replies go out in request order. */
  let written: Promise<void> = Promise.resolve();
  /** Settles when every request started so far is done. */
  let allDone: Promise<unknown> = Promise.resolve();
  /** Settles when the last exclusive (non-pipelined) request is done: pipelined ones start after it. */
  let exclusiveDone: Promise<unknown> = Promise.resolve();

  const start = (line: string | null): Promise<Reply> => {
    const { request: parsed, refusal } = line === null ? { refusal: tooLong() } : parse(line);
    if (parsed === undefined) return Promise.resolve(refusal);
    if (PIPELINED.has(parsed.command)) {
      // Started in arrival order (then-callbacks run in the order they were added).
      const done = exclusiveDone.then(() => run(handler, parsed));
      allDone = Promise.all([allDone, done]);
      return done;
    }
    const done = allDone.then(() => run(handler, parsed));
    allDone = done;
    exclusiveDone = done;
    return done;
  };
  const enqueue = (line: string | null): void => {
    pending += 1;
    if (pending >= MAX_PENDING) socket.pause();
    const answered = start(line);
    written = written.then(async () => {
      reply(socket, await answered);
      pending -= 1;
      if (pending < MAX_PENDING && socket.isPaused() && !socket.destroyed) socket.resume();
    });
  };
  socket.on('data', (chunk: Buffer) => {
    let from = 0;
    let newline: number;
    while ((newline = chunk.indexOf(0x0a, from)) >= 0) {
      const length = partial.length + newline - from;
      // A whole line over the limit is answered with an error in its place; the next lines are served.
      enqueue(length > MAX_LINE_BYTES ? null : (partial.length > 0 ? Buffer.concat([partial, chunk.subarray(from, newline)]) : chunk.subarray(from, newline)).toString('utf8'));
      partial = Buffer.alloc(0);
      from = newline + 1;
    }
    if (from < chunk.length) partial = Buffer.concat([partial, chunk.subarray(from)]);
    if (partial.length > MAX_LINE_BYTES) {
      // The rest of this line would have to be read (and held) to find the next one: answer what came
      // before, refuse this one, and hang up.
      partial = Buffer.alloc(0);
      socket.removeAllListeners('data');
      written = written.then(() => {
        reply(socket, tooLong());
        socket.end();
      });
    }
  });
  socket.on('end', () => {
    written = written.then(() => void socket.end());
  });
  socket.on('error', () => socket.destroy());
}

function tooLong(): Reply {
  return { ok: false, error: { code: 'PW_ERR_CONTROL', message: `request longer than ${MAX_LINE_BYTES} bytes` } };
}

/** A line as a request, or the error reply that refuses it. */
function parse(line: string): { request: Request; refusal?: undefined } | { request?: undefined; refusal: Reply } {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    return { refusal: { ok: false, error: { code: 'PW_ERR_CONTROL', message: 'request is not JSON' } } };
  }
  const problem = requestProblem(request);
  if (problem !== null) return { refusal: { ok: false, error: { code: 'PW_ERR_CONTROL', message: problem } } };
  return { request: request as Request };
}

/** Runs a request; never rejects (a failure is the reply, with its code). */
async function run(handler: ControlHandler, request: Request): Promise<Reply> {
  try {
    return { ok: true, result: await dispatch(handler, request) } as Reply;
  } catch (err) {
    const code = err instanceof PortwardenError ? err.code : 'PW_ERR_CONTROL';
    return { ok: false, error: { code, message: err instanceof Error ? err.message : String(err) } };
  }
}

function dispatch(handler: ControlHandler, r: Request): Promise<unknown> {
  switch (r.command) {
    case 'status':
      return handler.status(r);
    case 'bans':
      return handler.bans(r);
    case 'ban':
      return handler.ban(r);
    case 'unban':
      return handler.unban(r);
    case 'allow':
      return handler.allow(r);
    case 'reload':
      return handler.reload(r);
    case 'lookup':
      return handler.lookup(r);
    case 'feeds':
      return handler.feeds(r);
    case 'feeds-update':
      return handler['feeds-update'](r);
    case 'fleet':
      return handler.fleet(r);
  }
}

function reply(socket: Socket, value: Reply): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(value)}\n`);
}
