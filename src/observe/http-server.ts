import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { PortwardenError } from '../errors.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard/assets.js';
import type { Readiness } from './health.js';
import type { ListenAddress } from './listen-address.js';
import { tokenMatches } from './token.js';

/** Which bans the list shows: every field optional, all given ones must match. */
export interface BanFilter {
  origin?: string;
  /** Case-insensitive substring of the reason. */
  reason?: string;
  /** Substring of the target as written (`10.0.0.` finds every ban in 10.0.0.0/24 written as addresses). */
  contains?: string;
  limit: number;
}

/** A body of POST /api/ban: seconds null is a ban without expiry. */
export interface BanAction {
  target: string;
  seconds: number | null;
  reason: string;
}

/** What the listener serves; the observatory implements it over the daemon. */
export interface ObserveApi {
  metrics(): Promise<{ contentType: string; text: string }>;
  readiness(): Promise<Readiness>;
  summary(): Promise<unknown>;
  incidents(limit: number): unknown;
  bans(filter: BanFilter): Promise<unknown>;
  /** Incidents over the last `windowSeconds`, bucketed by time and kind. */
  timeline(windowSeconds: number): unknown;
  /** One address's history from the state database. Throws PW_ERR_USAGE for a non-address, PW_ERR_STATE without a database. */
  address(address: string): Promise<unknown>;
  /** Throws PortwardenError PW_ERR_USAGE for a target that is no address or network. */
  unban(target: string): Promise<{ target: string; removed: boolean }>;
  /** Through the daemon's control handler, like `portwarden ban`; PW_ERR_USAGE for what it refuses. */
  ban(action: BanAction): Promise<unknown>;
  /** Through the daemon's control handler, like `portwarden allow`. */
  allow(action: { target: string; reason: string }): Promise<unknown>;
  readonly token: string;
  /** observe.publicRead: the read endpoints answer without the token. */
  readonly publicRead: boolean;
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
 * its JSON API, all on one port, plain HTTP. Meant for loopback (the default). Actions need
 * `Authorization: Bearer <token>`; so do the API's reads (bans, incidents, an address's history: who was
 * banned and why is not for every local user) unless observe.publicRead is true. /metrics, /health and the
 * page's own assets hold no addresses and stay open; the event stream carries only event names without
 * the token setting. A Host header that is not an IP literal or localhost is
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
        // No state database (yet): the per-address history is unavailable, not broken.
        else if (err instanceof PortwardenError && err.code === 'PW_ERR_STATE') send(res, 503, { error: err.message });
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
      if (url.pathname === '/api/unban' || url.pathname === '/api/ban' || url.pathname === '/api/allow') return this.#action(url.pathname, req, res);
      return send(res, 404, { error: 'not found' });
    }
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    if (READS.has(url.pathname) && !this.#api.publicRead && !this.#authorized(req)) {
      return send(res, 401, { error: 'reading needs the token (observe.publicRead is false): Authorization: Bearer <token> (README "The dashboard")' });
    }
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
      case '/api/incidents':
        return send(res, 200, this.#api.incidents(boundedInt(url.searchParams.get('limit'), 100, 1, 1000)));
      case '/api/bans': {
        const q = url.searchParams;
        const filter: BanFilter = { limit: boundedInt(q.get('limit'), 1000, 1, 10_000) };
        for (const key of ['origin', 'reason', 'contains'] as const) {
          const v = q.get(key)?.trim();
          if (v) filter[key] = v;
        }
        return send(res, 200, await this.#api.bans(filter));
      }
      case '/api/timeline':
        return send(res, 200, this.#api.timeline(boundedInt(url.searchParams.get('seconds'), 3600, 60, 86_400)));
      case '/api/address': {
        const address = url.searchParams.get('address') ?? '';
        if (address === '') return send(res, 400, { error: 'address=ADDR is required' });
        return send(res, 200, await this.#api.address(address));
      }
      case '/api/events':
        return this.#events(res, this.#api.publicRead || this.#authorized(req));
      default:
        return send(res, 404, { error: 'not found' });
    }
  }

  #authorized(req: IncomingMessage): boolean {
    const auth = req.headers.authorization ?? '';
    return tokenMatches(this.#api.token, auth.startsWith('Bearer ') ? auth.slice(7).trim() : '');
  }

  /** POST /api/unban, /api/ban, /api/allow: the token, a JSON body, then the daemon's control handler. */
  async #action(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#authorized(req)) return send(res, 401, { error: 'actions need the token: Authorization: Bearer <token> (README "The dashboard")' });
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return send(res, 415, { error: 'send JSON: {"target": "…"}' });
    const text = await readBody(req);
    if (text === null) return send(res, 413, { error: `body over ${MAX_BODY_BYTES} bytes` });
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return send(res, 400, { error: 'the body is a JSON object' });
      body = parsed as Record<string, unknown>;
    } catch {
      return send(res, 400, { error: 'body is not JSON' });
    }
    const target = body.target;
    if (typeof target !== 'string' || target === '') return send(res, 400, { error: 'target: an address or network is required' });
    const reason = body.reason === undefined ? '' : body.reason;
    if (typeof reason !== 'string' || reason.length > 200) return send(res, 400, { error: 'reason: text of 200 characters at most' });
    if (path === '/api/unban') return send(res, 200, await this.#api.unban(target));
    if (path === '/api/allow') return send(res, 200, await this.#api.allow({ target, reason }));
    const seconds = body.seconds;
    if (seconds !== null && (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds <= 0)) {
      return send(res, 400, { error: 'seconds: a whole number above 0, or null for a ban without expiry' });
    }
    return send(res, 200, await this.#api.ban({ target, seconds, reason }));
  }

  /**
   * Server-Sent Events: one `event:` per incident, ban and unban, so the page refreshes at once. An
   * EventSource cannot send the token, so without publicRead (or a script's Authorization header) the
   * events come without their data: the page only needs to know that something changed.
   */
  #events(res: ServerResponse, withData: boolean): void {
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
    const unsubscribe = this.#api.subscribe((event, data) => write(`event: ${event}\ndata: ${withData ? JSON.stringify(data) : '{}'}\n\n`));
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

/** The API's reads, which need the token unless observe.publicRead (the event stream is handled apart). */
const READS = new Set(['/api/summary', '/api/incidents', '/api/bans', '/api/timeline', '/api/address']);

/** A whole number from a query parameter, `fallback` when absent or not a number, clamped to [min, max]. */
function boundedInt(value: string | null, fallback: number, min: number, max: number): number {
  const n = value === null || value === '' ? fallback : Math.floor(Number(value));
  return Math.min(max, Math.max(min, Number.isFinite(n) ? n : fallback));
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
