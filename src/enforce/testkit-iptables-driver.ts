/**
 * Test helper, not shipped behaviour: a child process started inside a network namespace
 * (`ip netns exec NS node --import tsx testkit-iptables-driver.ts`) running an IptablesBackend and
 * tiny TCP endpoints, driven by one JSON request per stdin line, one JSON answer per stdout line:
 * {id, op, args} → {id, ok, result} or {id, ok: false, error}.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { PortwardenError } from '../errors.js';
import { EnforceError } from './decisions.js';
import { IptablesBackend, type IptablesBackendOptions } from './iptables.js';

export type IptDriverChange =
  | { action: 'ban'; target: string; timeoutSeconds: number | null }
  | { action: 'unban' | 'allow' | 'disallow'; target: string };

interface Request {
  id: number;
  op: string;
  args?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

let backend: IptablesBackend | null = null;
const servers: Server[] = [];

function need(): IptablesBackend {
  if (backend === null) throw new Error('init first');
  return backend;
}

async function handle(request: Request): Promise<unknown> {
  const args = request.args;
  switch (request.op) {
    case 'init':
      backend = new IptablesBackend((args ?? {}) as IptablesBackendOptions);
      return null;
    case 'setup':
      return need().setup();
    case 'queue':
      for (const change of args.changes as IptDriverChange[]) {
        if (change.action === 'ban') need().ban({ target: change.target, timeoutSeconds: change.timeoutSeconds });
        else need()[change.action](change.target);
      }
      return null;
    case 'commit':
      return need().commit();
    case 'bans':
      return need().bans();
    case 'present':
      return need().present();
    case 'teardown':
      return need().teardown();
    case 'listenTcp':
      return new Promise<null>((resolve, reject) => {
        const server = createServer((socket) => socket.end());
        server.once('error', reject);
        server.listen({ host: args.host as string, port: args.port as number }, () => resolve(null));
        servers.push(server);
      });
    case 'listenUdp':
      return new Promise<null>((resolve, reject) => {
        const socket = createSocket(args.host.includes(':') ? 'udp6' : 'udp4');
        socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
        socket.once('error', reject);
        socket.bind(args.port as number, args.host as string, () => resolve(null));
      });
    case 'probeUdp':
      // 'reply' when the echo comes back, else 'timeout'.
      return new Promise<string>((resolve) => {
        const socket = createSocket(args.to.includes(':') ? 'udp6' : 'udp4');
        const done = (outcome: string) => {
          clearTimeout(timer);
          socket.close();
          resolve(outcome);
        };
        const timer = setTimeout(() => done('timeout'), (args.timeoutMs as number | undefined) ?? 700);
        socket.once('message', () => done('reply'));
        socket.once('error', (error: NodeJS.ErrnoException) => done(`error ${error.code}`));
        socket.bind(0, args.from as string, () => socket.send('ping', args.port as number, args.to as string));
      });
    case 'connectTcp':
      return new Promise<string>((resolve) => {
        const socket = connect({ host: args.to as string, port: args.port as number, localAddress: args.from as string });
        const done = (outcome: string) => {
          clearTimeout(timer);
          socket.destroy();
          resolve(outcome);
        };
        const timer = setTimeout(() => done('timeout'), (args.timeoutMs as number | undefined) ?? 700);
        socket.once('connect', () => done('open'));
        socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'refused' : `error ${error.code}`));
      });
    case 'exit':
      for (const server of servers) server.close();
      setImmediate(() => process.exit(0));
      return null;
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const request = JSON.parse(line) as Request;
  handle(request).then(
    (result) => process.stdout.write(`${JSON.stringify({ id: request.id, ok: true, result: result ?? null })}\n`),
    (error: unknown) => {
      const detail =
        error instanceof EnforceError
          ? { name: error.name, code: error.code, message: error.message, failures: error.failures }
          : error instanceof PortwardenError
            ? { name: error.name, code: error.code, message: error.message }
            : { name: 'Error', message: error instanceof Error ? error.message : String(error) };
      process.stdout.write(`${JSON.stringify({ id: request.id, ok: false, error: detail })}\n`);
    },
  );
});
lines.on('close', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
