import { connect } from 'node:net';
import { ErrorCode, PortwardenError, type ErrorCodeName } from '../errors.js';
import type { CommandName, Reply, Request, ResultOf } from '../model/control.js';

/** Sends one request to the daemon and returns its result; daemon-side errors keep their codes. */
export async function request<C extends CommandName>(path: string, req: Extract<Request, { command: C }>, timeoutMs = 10_000): Promise<ResultOf[C]> {
  const reply = await new Promise<Reply<C>>((resolve, reject) => {
    const socket = connect(path);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PortwardenError('PW_ERR_CONTROL', `no answer from the daemon on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(req)}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as Reply<C>);
      } catch (err) {
        reject(new PortwardenError('PW_ERR_CONTROL', 'the daemon answered something that is not JSON', { cause: err }));
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is the daemon running? start it with `portwarden start`)' : err.code === 'EACCES' ? ' (the control socket is root-only)' : '';
      reject(new PortwardenError('PW_ERR_CONTROL', `cannot reach the daemon on ${path}: ${err.message}${hint}`, { cause: err }));
    });
  });
  if (!reply.ok) throw new PortwardenError(isKnownCode(reply.error.code) ? reply.error.code : 'PW_ERR_CONTROL', reply.error.message);
  return reply.result;
}

function isKnownCode(code: string): code is ErrorCodeName {
  return Object.hasOwn(ErrorCode, code);
}
