import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { PortwardenError } from '../errors.js';
import { requestProblem, type ControlHandler, type Reply, type Request } from '../model/control.js';

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
    const server = createServer((socket) => serve(socket, handler));
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

function serve(socket: Socket, handler: ControlHandler): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    if (buffered.length > MAX_LINE_BYTES) {
      reply(socket, { ok: false, error: { code: 'PW_ERR_CONTROL', message: `request longer than ${MAX_LINE_BYTES} bytes` } });
      socket.end();
      return;
    }
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      void answer(socket, line, handler);
    }
  });
  socket.on('error', () => socket.destroy());
}

async function answer(socket: Socket, line: string, handler: ControlHandler): Promise<void> {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    reply(socket, { ok: false, error: { code: 'PW_ERR_CONTROL', message: 'request is not JSON' } });
    return;
  }
  const problem = requestProblem(request);
  if (problem !== null) {
    reply(socket, { ok: false, error: { code: 'PW_ERR_CONTROL', message: problem } });
    return;
  }
  try {
    const result = await dispatch(handler, request as Request);
    reply(socket, { ok: true, result } as Reply);
  } catch (err) {
    const code = err instanceof PortwardenError ? err.code : 'PW_ERR_CONTROL';
    reply(socket, { ok: false, error: { code, message: err instanceof Error ? err.message : String(err) } });
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
  }
}

function reply(socket: Socket, value: Reply): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(value)}\n`);
}
