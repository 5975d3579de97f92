/**
 * Test helper, not shipped behaviour: a child process started inside a network namespace
 * (`ip netns exec NS node --import tsx testkit-driver.ts`, see Driver in testkit-netns.ts), because
 * node cannot enter a namespace itself and netlink sockets belong to the namespace that opened them.
 * It runs an enforcement backend, nftables or iptables as the `init` request names it, and tiny
 * TCP/UDP endpoints there, driven by one JSON request per stdin line, one JSON answer per stdout
 * line: {id, op, args} → {id, ok, result} or {id, ok: false, error}.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { PortwardenError } from '../../src/errors.js';
import type { EnforcementBackend } from '../../src/enforce/backend.js';
import type { Ban } from '../../src/model/ban.js';
import { EnforceError } from '../../src/enforce/decisions.js';
import { IptablesBackend, type IptablesBackendOptions } from '../../src/enforce/iptables.js';
import { NftablesBackend } from '../../src/enforce/nftables.js';
import type { NftRulesetOptions } from '../../src/enforce/nft-ruleset.js';

/** The options `init` takes for each backend: nftables its ruleset options, iptables its own. */
export interface BackendOptions {
  nftables: NftRulesetOptions;
  iptables: IptablesBackendOptions;
}
export type BackendKind = keyof BackendOptions;

export type DriverChange =
  | { action: 'ban'; target: string; timeoutSeconds: number | null }
  | { action: 'unban' | 'allow' | 'disallow'; target: string };

type Probe = { from: string; to: string; port: number; timeoutMs: number };

export type DriverRequest =
  | { op: 'init'; args: { [K in BackendKind]: { backend: K; options: BackendOptions[K] } }[BackendKind] }
  | { op: 'setup' | 'setupKeepingBans' | 'commit' | 'bans' | 'present' | 'teardown' | 'exit'; args?: undefined }
  | { op: 'queue'; args: { changes: DriverChange[] } }
  | { op: 'listenTcp' | 'listenUdp'; args: { host: string; port: number } }
  | { op: 'connectTcp' | 'probeUdp'; args: Probe };

export interface DriverError {
  name: string;
  code?: string;
  message: string;
  failures?: EnforceError['failures'];
}

type Backend = EnforcementBackend & { setupKeepingBans?: () => Promise<string | null> };

let backend: Backend | null = null;
const servers: Server[] = [];

function need(): Backend {
  if (backend === null) throw new Error('init first');
  return backend;
}

function create(args: Extract<DriverRequest, { op: 'init' }>['args']): Backend {
  switch (args.backend) {
    case 'nftables':
      return new NftablesBackend({ ruleset: args.options ?? {} });
    case 'iptables':
      return new IptablesBackend(args.options ?? {});
  }
}

async function handle(request: DriverRequest): Promise<unknown> {
  switch (request.op) {
    case 'init':
      backend = create(request.args);
      return null;
    case 'setup':
      return need().setup();
    case 'setupKeepingBans': {
      const b = need();
      if (b.setupKeepingBans === undefined) throw new Error(`${b.name} has no setupKeepingBans`);
      return b.setupKeepingBans();
    }
    case 'queue':
      for (const change of request.args.changes) {
        if (change.action === 'ban') need().ban({ target: change.target, timeoutSeconds: change.timeoutSeconds } satisfies Ban);
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
      return listenTcp(request.args.host, request.args.port);
    case 'listenUdp':
      return listenUdp(request.args.host, request.args.port);
    case 'connectTcp':
      return connectTcp(request.args);
    case 'probeUdp':
      return probeUdp(request.args);
    case 'exit':
      for (const server of servers) server.close();
      setImmediate(() => process.exit(0));
      return null;
    default:
      throw new Error(`unknown op ${(request as { op: string }).op}`);
  }
}

function listenTcp(host: string, port: number): Promise<null> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on('error', () => {}); // a client that resets is not the driver's problem
      socket.end('hello\n');
    });
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host.includes(':') }, () => resolve(null));
    server.unref();
    servers.push(server);
  });
}

function listenUdp(host: string, port: number): Promise<null> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
    socket.once('error', reject);
    socket.bind(port, host, () => resolve(null));
    socket.unref();
  });
}

/** 'open', 'refused', or 'timeout' (a dropped SYN is never answered). */
function connectTcp(args: Probe): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: args.to, port: args.port, localAddress: args.from });
    let settled = false;
    const done = (result: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), args.timeoutMs);
    socket.once('connect', () => done('open'));
    // `on`, not `once`: a reset can still arrive after the outcome is known.
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'refused' : `error ${error.code}`));
  });
}

/** 'reply' when the echo comes back, else 'timeout'. */
function probeUdp(args: Probe): Promise<string> {
  return new Promise((resolve) => {
    const socket = createSocket(args.to.includes(':') ? 'udp6' : 'udp4');
    let settled = false;
    const done = (result: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), args.timeoutMs);
    socket.once('message', () => done('reply'));
    socket.on('error', (error: NodeJS.ErrnoException) => done(`error ${error.code}`));
    socket.bind(0, args.from, () => socket.send('ping', args.port, args.to));
  });
}

function describeError(error: unknown): DriverError {
  if (error instanceof EnforceError) return { name: error.name, code: error.code, message: error.message, failures: error.failures };
  if (error instanceof PortwardenError) return { name: error.name, code: error.code, message: error.message };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

const answer = (id: number, work: Promise<unknown>): Promise<void> =>
  work.then(
    (result) => void process.stdout.write(`${JSON.stringify({ id, ok: true, result: result ?? null })}\n`),
    (error: unknown) => void process.stdout.write(`${JSON.stringify({ id, ok: false, error: describeError(error) })}\n`),
  );

// Requests run one at a time, in order, like a caller that awaits each one; only the probes, which
// touch no shared state, run side by side, so a test can try many sources at once.
let tail: Promise<void> = Promise.resolve();
const probes = new Set<Promise<void>>();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const { id, ...request } = JSON.parse(line) as DriverRequest & { id: number };
  if (request.op === 'connectTcp' || request.op === 'probeUdp') {
    const p = answer(id, handle(request)).finally(() => probes.delete(p));
    probes.add(p);
  } else {
    tail = tail.then(() => answer(id, handle(request)));
  }
});
lines.on('close', () => void Promise.all([tail, ...probes]).then(() => process.exit(0)));
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
