import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { PortwardenError } from '../errors.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard/assets.js';
import type { Readiness } from './health.js';
import type { ListenAddress } from './listen-address.js';
import { tokenMatches } from './token.js';

/** What the listener serves; the observatory implements it over the daemon. */
export interface ObserveApi {
  metrics(): Promise<{ contentType: string; text: string }>;
  readiness(): Promise<Readiness>;
  summary(): Promise<unknown>;
  incidents(limit: number): unknown;
  bans(): Promise<unknown>;
  /** Throws PortwardenError PW_ERR_USAGE for a target that is no address or network. */
  unban(target: string): Promise<{ target: string; removed: boolean }>;
  readonly token: string;
  /** Live events for Server-Sent Events; returns the unsubscribe function. */
  subscribe(listener: (event: string, data: unknown) => void): () => void;
}

const MAX_BODY_BYTES = 4096;
/** Open event streams at most: each holds a socket; past it a new one is refused (503), never queued. */
const MAX_STREAMS = 32;
const STREAM_KEEPALIVE_MS = 15_000;
/**
 * Bytes an event stream may hold unsent (a client that stopped reading): past it the stream is ended,
 * so a burst of bans cannot grow the buffer without bound. The page reconnects, and polls every 5 s.
 */
const MAX_STREAM_BUFFER_BYTES = 1024 * 1024;

/**
 * Strict headers on every answer: the page loads only its own script and style (no inline code, no
 * third party), and no other site may frame it.
 */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'cache-control': 'no-store',
};

/**
 * The observe listener: /metrics, /health/live, /health/ready (and /health), the dashboard page and
 * its JSON API, all on one port, plain HTTP. Meant for loopback (the default): reading needs no token,
 * actions need `Authorization: Bearer <token>`. A Host header that is not an IP literal or localhost is
 * refused, so a web page of another site cannot read it through DNS rebinding; the token travels in a
 * header, which no other origin can make a browser send here (no CORS is answered).
 */
export class ObserveHttpServer {
  readonly #api: ObserveApi;
  readonly #server: Server;
  readonly #streams = new Set<ServerResponse>();
  #slowStreamsEnded = 0;

  private constructor(api: ObserveApi) {
    this.#api = api;
    this.#server = createServer((req, res) => {
      this.#route(req, res).catch((err: unknown) => {
        if (err instanceof PortwardenError && err.code === 'PW_ERR_USAGE') send(res, 400, { error: err.message });
        else send(res, 500, { error: err instanceof Error ? err.message : String(err) });
      });
    });
    // A slow or idle client must not hold a socket for long (event streams are exempt, see #events).
    this.#server.requestTimeout = 10_000;
    this.#server.headersTimeout = 5_000;
  }

  /** @throws PortwardenError PW_ERR_OBSERVE_LISTEN when the address cannot be bound. */
  static async listen(address: ListenAddress, api: ObserveApi): Promise<ObserveHttpServer> {
    const s = new ObserveHttpServer(api);
    await new Promise<void>((resolve, reject) => {
      const fail = (cause: Error) => reject(new PortwardenError('PW_ERR_OBSERVE_LISTEN', `observe.listen ${address.host}:${address.port}: ${cause.message}`, { cause }));
      s.#server.once('error', fail);
      s.#server.listen(address.port, address.host, () => {
        s.#server.off('error', fail);
        resolve();
      });
    });
    return s;
  }

  /** Event streams ended because their client stopped reading (over MAX_STREAM_BUFFER_BYTES unsent). */
  get slowStreamsEnded(): number {
    return this.#slowStreamsEnded;
  }

  /** The bound address (the port is the real one when 0 was asked for). */
  get address(): ListenAddress {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') return { host: '', port: 0 };
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    for (const res of this.#streams) res.end();
    this.#streams.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!allowedHost(req.headers.host)) return send(res, 403, { error: 'Host not allowed: use the IP address or localhost' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (method === 'POST') {
      if (url.pathname === '/api/unban') return this.#unban(req, res);
      return send(res, 404, { error: 'not found' });
    }
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    switch (url.pathname) {
      case '/metrics': {
        const m = await this.#api.metrics();
        res.writeHead(200, { 'content-type': m.contentType, ...SECURITY_HEADERS });
        res.end(m.text);
        return;
      }
      case '/health/live':
        return send(res, 200, { status: 'live' });
      case '/health':
      case '/health/ready': {
        const r = await this.#api.readiness();
        return send(res, r.status === 'ready' ? 200 : 503, r);
      }
      case '/':
        return asset(res, 'text/html; charset=utf-8', DASHBOARD_HTML);
      case '/dashboard.js':
        return asset(res, 'text/javascript; charset=utf-8', DASHBOARD_JS);
      case '/dashboard.css':
        return asset(res, 'text/css; charset=utf-8', DASHBOARD_CSS);
      case '/api/summary':
        return send(res, 200, await this.#api.summary());
      case '/api/incidents': {
        const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get('limit') ?? '100') || 100));
        return send(res, 200, this.#api.incidents(limit));
      }
      case '/api/bans':
        return send(res, 200, await this.#api.bans());
      case '/api/events':
        return this.#events(res);
      default:
        return send(res, 404, { error: 'not found' });
    }
  }

  async #unban(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    if (!tokenMatches(this.#api.token, given)) return send(res, 401, { error: 'actions need the token: Authorization: Bearer <token> (README "Dashboard")' });
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return send(res, 415, { error: 'send JSON: {"target": "…"}' });
    const body = await readBody(req);
    if (body === null) return send(res, 413, { error: `body over ${MAX_BODY_BYTES} bytes` });
    let target: unknown;
    try {
      target = (JSON.parse(body) as { target?: unknown }).target;
    } catch {
      return send(res, 400, { error: 'body is not JSON' });
    }
    if (typeof target !== 'string' || target === '') return send(res, 400, { error: 'target: an address or network is required' });
    return send(res, 200, await this.#api.unban(target));
  }

  /** Server-Sent Events: one `event:` per incident, ban and unban, so the page refreshes at once. */
  #events(res: ServerResponse): void {
    if (this.#streams.size >= MAX_STREAMS) return send(res, 503, { error: 'too many event streams' });
    res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...SECURITY_HEADERS });
    res.write(': portwarden events\n\n');
    this.#streams.add(res);
    let open = true;
    const write = (text: string): void => {
      if (!open) return;
      res.write(text);
      if (res.writableLength <= MAX_STREAM_BUFFER_BYTES) return;
      // The client stopped reading: drop the stream and what it holds (it reconnects, or polls).
      this.#slowStreamsEnded++;
      finish();
      res.destroy();
    };
    const unsubscribe = this.#api.subscribe((event, data) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
    const keepalive = setInterval(() => write(': keepalive\n\n'), STREAM_KEEPALIVE_MS);
    keepalive.unref();
    res.socket?.setTimeout(0);
    const finish = (): void => {
      if (!open) return;
      open = false;
      clearInterval(keepalive);
      unsubscribe();
      this.#streams.delete(res);
    };
    res.once('close', finish);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
  res.end(`${JSON.stringify(body)}\n`);
}

function asset(res: ServerResponse, type: string, text: string): void {
  res.writeHead(200, { 'content-type': type, ...SECURITY_HEADERS });
  res.end(text);
}

/** An IP literal (IPv6 in brackets) or localhost, with or without a port. */
function allowedHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || isIP(name) !== 0;
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
