/**
 * The CrowdSec-compatible decision API for bouncers (the bouncer half of CrowdSec's LAPI, v1), on
 * node:http, meant for loopback or a private network:
 *
 *   GET  /v1/decisions/stream?startup=true|false   {"deleted":[…]|null,"new":[…]|null}; a per-bouncer cursor
 *   HEAD /v1/decisions/stream                       200, the cursor untouched (a probe)
 *   GET  /v1/decisions?ip=A | range=CIDR | scope=&value=   the decisions holding it, or null
 *
 * Every request needs `X-Api-Key` with a configured bouncer's key; without one, or with another, the
 * answer is 403 {"message":"access forbidden"}, as the LAPI answers. Empty lists are `null`, as LAPI
 * v1.4 (Debian 12's) writes them. Nothing here can stop the daemon: it only reads the ban book.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PortwardenError } from '../errors.js';
import type { ActiveBan, BanBook } from '../enforce/ban-book.js';
import type { Target } from '../model/ban.js';
import type { LapiBouncerView, LapiStatusView } from '../model/control.js';
import { CounterTable, type CounterDocs } from '../model/counters.js';
import type { EventLogger } from '../model/logger.js';
import { parseTarget } from '../net/target.js';
import { BouncerKeys } from './bouncer-keys.js';
import { DecisionStream, streamFilter, type StreamAnswer } from './decision-stream.js';
import type { LapiDecision } from './decision.js';
import { splitHostPort, type LapiSettings } from './settings.js';

export const LapiCounterDoc = {
  'lapi.pulls': 'decision stream pulls answered (GET /v1/decisions/stream)',
  'lapi.decisions.new': 'decisions served to bouncers as new',
  'lapi.decisions.deleted': 'decisions served to bouncers as deleted (unbanned, merged or expired)',
  'lapi.queries': 'single-address queries answered (GET /v1/decisions)',
  'lapi.refused': 'requests refused for a missing or unknown X-Api-Key (403)',
  'lapi.bad_requests': 'requests refused as malformed (400), unknown (404) or with another method (405)',
} as const satisfies CounterDocs;

/** What the server reads of the ban book. */
export type LapiBook = Pick<BanBook, 'active' | 'get' | 'coveringBan'>;

export interface LapiServerOptions {
  settings: LapiSettings & { listen: string };
  book: LapiBook;
  log: EventLogger;
  /** Wall-clock ms; default Date.now. */
  clock?: () => number;
}

interface BouncerSeen {
  lastPullMs: number | null;
  pulls: number;
  servedNew: number;
  servedDeleted: number;
  userAgent: string | null;
  address: string | null;
}

/** A refused request is logged at most this often (each is counted): a wrong key retried every 10 s must not fill the log. */
const REFUSAL_LOG_EVERY_MS = 60_000;

const FORBIDDEN = { message: 'access forbidden' };

export class LapiServer {
  readonly counters = new CounterTable('lapi', LapiCounterDoc);
  readonly #server: Server;
  readonly #keys: BouncerKeys;
  readonly #stream: DecisionStream;
  readonly #book: LapiBook;
  readonly #log: EventLogger;
  readonly #clock: () => number;
  readonly #seen = new Map<string, BouncerSeen>();
  #lastRefusalLogMs = Number.NEGATIVE_INFINITY;

  private constructor(options: LapiServerOptions) {
    this.#keys = new BouncerKeys(options.settings.keys);
    this.#book = options.book;
    this.#log = options.log;
    this.#clock = options.clock ?? Date.now;
    this.#stream = new DecisionStream({ bans: () => options.book.active, changes: () => options.book.active.changes }, this.#clock);
    for (const name of this.#keys.names) this.#seen.set(name, { lastPullMs: null, pulls: 0, servedNew: 0, servedDeleted: 0, userAgent: null, address: null });
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.requestTimeout = 30_000;
    this.#server.headersTimeout = 10_000;
    // Bouncers pull every few seconds (10 s by default) over one kept-alive connection: closing it after
    // node's default 5 s idle races their next request (a reset). Kept open longer than they wait.
    this.#server.keepAliveTimeout = 75_000;
  }

  /**
   * Reads the keys and binds `settings.listen`.
   * @throws PortwardenError PW_ERR_LAPI when a key file is unreadable or the address cannot be bound.
   */
  static async listen(options: LapiServerOptions): Promise<LapiServer> {
    const where = splitHostPort(options.settings.listen);
    if (where === null) throw new PortwardenError('PW_ERR_LAPI', `lapi.listen ${options.settings.listen}: not host:port`);
    const s = new LapiServer(options);
    await new Promise<void>((resolve, reject) => {
      const fail = (cause: Error) => reject(new PortwardenError('PW_ERR_LAPI', `lapi.listen ${options.settings.listen}: ${cause.message}`, { cause }));
      s.#server.once('error', fail);
      s.#server.listen(where.port, where.host, () => {
        s.#server.off('error', fail);
        resolve();
      });
    });
    return s;
  }

  /** host:port bound (the real port when 0 was asked for). */
  get listening(): string {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') return '';
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  status(): LapiStatusView {
    const bouncers: LapiBouncerView[] = [];
    for (const [name, s] of this.#seen) {
      bouncers.push({ name, lastPullAt: s.lastPullMs === null ? null : new Date(s.lastPullMs).toISOString(), pulls: s.pulls, servedNew: s.servedNew, servedDeleted: s.servedDeleted, holding: this.#stream.holding(name), userAgent: s.userAgent, address: s.address });
    }
    return { listen: this.listening, bouncers };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://lapi');
    const path = url.pathname.replace(/\/+$/, '');
    const route = path === '/v1/decisions/stream' ? 'stream' : path === '/v1/decisions' ? 'query' : null;
    if (route === null) return this.#bad(res, 404, { message: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return this.#bad(res, 405, { message: `method ${req.method ?? ''} not allowed` });
    }
    const key = req.headers['x-api-key'];
    const bouncer = this.#keys.bouncer(Array.isArray(key) ? key[0] : key);
    if (bouncer === null) return this.#refuse(req, res, key === undefined ? 'no X-Api-Key' : 'unknown X-Api-Key');
    const seen = this.#seen.get(bouncer)!;
    seen.userAgent = req.headers['user-agent'] ?? null;
    seen.address = req.socket.remoteAddress ?? null;
    // A HEAD is a probe: answered, and neither cursor nor last pull moves (the LAPI's choice too).
    if (req.method === 'HEAD') return send(res, 200, null, true);
    if (route === 'stream') return this.#pull(bouncer, seen, url.searchParams, res);
    return this.#query(url.searchParams, seen, res);
  }

  #pull(bouncer: string, seen: BouncerSeen, query: URLSearchParams, res: ServerResponse): void {
    const startup = query.get('startup') === 'true';
    const answer: StreamAnswer = this.#stream.pull(bouncer, startup, { filter: streamFilter(query), ...this.#keys.serving(bouncer) });
    const first = seen.lastPullMs === null;
    seen.lastPullMs = this.#clock();
    seen.pulls++;
    seen.servedNew += answer.new.length;
    seen.servedDeleted += answer.deleted.length;
    const c = this.counters;
    c.inc(c.id['lapi.pulls']);
    c.inc(c.id['lapi.decisions.new'], answer.new.length);
    c.inc(c.id['lapi.decisions.deleted'], answer.deleted.length);
    if (first) {
      this.#log.info({ 'event.action': 'lapi-bouncer-seen', 'lapi.bouncer': bouncer, 'user_agent.original': seen.userAgent, 'client.ip': seen.address, 'lapi.new': answer.new.length }, `bouncer ${bouncer} pulls decisions (${seen.userAgent ?? 'no user agent'} from ${seen.address ?? '?'}); ${answer.new.length} in force`);
    } else if (answer.new.length + answer.deleted.length > 0) {
      this.#log.debug({ 'event.action': 'lapi-pull', 'lapi.bouncer': bouncer, 'lapi.startup': startup, 'lapi.new': answer.new.length, 'lapi.deleted': answer.deleted.length }, `bouncer ${bouncer}: ${answer.new.length} new, ${answer.deleted.length} deleted`);
    }
    // Go's encoding of map[string][]Decision: keys sorted, an empty list as null.
    send(res, 200, { deleted: orNull(answer.deleted), new: orNull(answer.new) });
  }

  /** GET /v1/decisions: the decisions holding an address or range (`contains`, the LAPI's default), or exactly scope+value. */
  #query(query: URLSearchParams, seen: BouncerSeen, res: ServerResponse): void {
    const type = query.get('type');
    const asked = query.get('ip') ?? query.get('range') ?? query.get('value');
    const scope = query.get('scope')?.toLowerCase();
    this.counters.inc(this.counters.id['lapi.queries']);
    seen.lastPullMs = this.#clock();
    if (type !== null && type !== 'ban') return send(res, 200, null);
    if (asked === null) return send(res, 200, orNull(this.#all(scope)));
    const parsed = parseTarget(asked);
    if (!parsed.ok) return this.#bad(res, 400, { message: `${asked}: ${parsed.reason}` });
    const target = parsed.target.text;
    const exact = query.get('ip') === null && query.get('range') === null;
    const own = this.#book.get(target);
    const found: readonly [Target, ActiveBan] | undefined = own !== undefined ? [target, own] : exact ? undefined : toPair(this.#book.coveringBan(target));
    const decision = this.#stream.decisionFor(found);
    if (decision === null || (scope !== undefined && decision.scope.toLowerCase() !== scope)) return send(res, 200, null);
    send(res, 200, [decision]);
  }

  #all(scope: string | undefined): LapiDecision[] {
    const out: LapiDecision[] = [];
    for (const entry of this.#book.active) {
      const d = this.#stream.decisionFor(entry);
      if (d !== null && (scope === undefined || d.scope.toLowerCase() === scope)) out.push(d);
    }
    return out;
  }

  #refuse(req: IncomingMessage, res: ServerResponse, why: string): void {
    this.counters.inc(this.counters.id['lapi.refused']);
    const now = this.#clock();
    if (now - this.#lastRefusalLogMs >= REFUSAL_LOG_EVERY_MS) {
      this.#lastRefusalLogMs = now;
      this.#log.warn({ 'event.action': 'lapi-refused', 'client.ip': req.socket.remoteAddress, 'event.reason': why, 'user_agent.original': req.headers['user-agent'] }, `decision stream request refused: ${why} (from ${req.socket.remoteAddress ?? '?'}; further refusals within a minute are only counted)`);
    }
    send(res, 403, FORBIDDEN);
  }

  #bad(res: ServerResponse, status: number, body: { message: string }): void {
    this.counters.inc(this.counters.id['lapi.bad_requests']);
    send(res, status, body);
  }
}

function toPair(hit: { target: Target; ban: ActiveBan } | undefined): readonly [Target, ActiveBan] | undefined {
  return hit === undefined ? undefined : [hit.target, hit.ban];
}

function orNull<T>(list: T[]): T[] | null {
  return list.length === 0 ? null : list;
}

function send(res: ServerResponse, status: number, body: unknown, head = false): void {
  const text = head ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

