/**
 * The local control protocol between `portwarden <command>` and the daemon: one JSON object per line
 * over a unix socket. A request names a command; the reply is `{ ok: true, result }` or
 * `{ ok: false, error: { code, message } }` with a stable PW_ERR_* code.
 */
import type { FleetLinkState, FleetStatusView } from './fleet.js';

import type { FeedMatch, GeoFacts } from './intel.js';

export type BanOriginName = 'detection' | 'operator' | 'config' | 'fleet';
export const BAN_ORIGINS: readonly BanOriginName[] = ['detection', 'operator', 'config', 'fleet'];

export interface BanView {
  target: string;
  reason: string;
  /** Seconds left, or null for a ban without timeout. */
  expiresInSeconds: number | null;
  origin: BanOriginName;
  /** When it was decided (ISO 8601); null when the daemon did not make it (found in the kernel). Absent from daemons before 0.2. */
  createdAt?: string | null;
  /** When it ends (ISO 8601); null: permanent. */
  expiresAt?: string | null;
  /** Its whole length in seconds (created to expires); null: permanent or unknown. */
  lengthSeconds?: number | null;
}

/** What a ban request did: banned, or already held by the wider ban `by` (covered), or `by` made to last longer (extended). */
export interface BanResult {
  target: string;
  /** Seconds the target stays banned from now; null: permanent. */
  expiresInSeconds: number | null;
  outcome?: 'banned' | 'covered' | 'extended';
  /** The wider ban that holds the target (covered, extended). */
  by?: string;
  /** When the ban that holds the target ends (ISO 8601); null: permanent. */
  expiresAt?: string | null;
  /** Narrower bans this one replaced (their records lifted). */
  merged?: string[];
}

export interface UnbanResult {
  target: string;
  removed: boolean;
  /** The wider ban that still holds `target` (an address inside a banned prefix): unban that to lift it. */
  blockedBy?: { target: string; expiresAt: string | null };
  /** unban --all: the bans lifted. */
  lifted?: string[];
}

export interface StatusView {
  version: string;
  startedAt: string;
  profile: string;
  backend: string;
  dryRun: boolean;
  /** The interfaces captured; empty when every interface but loopback is (allInterfaces). */
  interfaces: string[];
  allInterfaces: boolean;
  captureMethod: 'nflog' | 'pcap';
  /** The control socket this answer came through. */
  socket: string;
  stateDir: string;
  /** The config file the daemon read (and re-reads on reload), or null: built-in defaults. */
  configFile: string | null;
  bans: number;
  incidents: number;
  counters: Record<string, number>;
  /** The fleet link (fleet.servers set): connected or disconnected; off without a fleet. */
  fleet?: FleetLinkState;
  /** The CrowdSec-compatible decision stream (lapi section); absent or null: not serving. */
  lapi?: LapiStatusView | null;
}

/** The decision stream for CrowdSec bouncers, as status, metrics and the dashboard show it. */
export interface LapiStatusView {
  /** The address it answers on (host:port, the real port). */
  listen: string;
  /** Every configured bouncer key, seen or not. */
  bouncers: LapiBouncerView[];
}

export interface LapiBouncerView {
  name: string;
  /** Its last stream pull (ISO 8601); null: not seen since the daemon started. */
  lastPullAt: string | null;
  pulls: number;
  /** Decisions served to it as new and as deleted, since the daemon started. */
  servedNew: number;
  servedDeleted: number;
  /** Decisions it holds as far as its last pull told it. */
  holding: number;
  /** Its User-Agent and address at the last request (crowdsec-firewall-bouncer/v0.0.25, 127.0.0.1). */
  userAgent: string | null;
  address: string | null;
}

/** Everything the daemon knows of one address (`portwarden lookup ADDR`). */
export interface LookupView {
  address: string;
  /** Bans that hold it: its own, or a wider one that contains it. */
  bans: { target: string; reason: string; origin: BanOriginName; createdAt: string | null; expiresAt: string | null }[];
  /** The feed entries that list it (empty: none, or no feed configured). */
  feeds: FeedMatch[];
  /** Country and ASN; null when the database does not know it, or none is configured. */
  geo: GeoFacts | null;
  /** The country database in use (its path), or null: geo is off. */
  geoDatabase: string | null;
  /** What the kernel's geo rules do with it ("blocked: CN is in geo.block", …); null without geo rules. */
  geoPolicy: string | null;
  /** Its own offences (the state database); null: never banned. */
  offences: { count: number; firstSeen: string; lastSeen: string; score: number } | null;
  reputation: { score: number; offenceScore: number; offences: number; feedWeight: number; feeds: string[] };
  /** Why it is never banned (lockout guard: loopback, own address, gateway, resolver, SSH peer; allowlist), or null. */
  protected: { reason: string } | null;
  /** On-demand reputation services (AbuseIPDB, VirusTotal) when enabled; absent otherwise. */
  enrichment?: EnrichmentView[];
}

/** One reputation service's answer about an address (`intel.enrich`), or why there is none. */
export interface EnrichmentView {
  service: 'abuseipdb' | 'virustotal';
  /** ok: fresh or cached answer; error: the service failed; limited: the free tier's budget is spent. */
  status: 'ok' | 'error' | 'limited';
  /** When the answer was fetched (ISO 8601); cached answers keep their time. */
  fetchedAt?: string;
  cached?: boolean;
  /** AbuseIPDB: abuseConfidenceScore 0-100 and totalReports; VirusTotal: last_analysis_stats malicious/suspicious/harmless. */
  summary?: Record<string, number | string | boolean | null>;
  error?: string;
}

/** One threat feed as `portwarden feeds` shows it (intel/feeds). */
export interface FeedView {
  name: string;
  format: string;
  action: 'drop' | 'alert';
  /** Entries of the copy in force, as listed; `ranges`: what is in the kernel after merging and subtraction. */
  entries: number;
  ranges: number;
  refreshSeconds: number;
  /** Seconds since the copy in force was fetched or confirmed; null: there is none. */
  ageSeconds: number | null;
  /** Last fetch attempt, whatever came of it (ISO 8601); null: none yet. */
  lastFetch: string | null;
  lastError: string | null;
  fetchErrors: number;
  badLines: number;
  /** Packets and bytes from listed addresses, counted by the kernel; null: not read. */
  matches: { packets: number; bytes: number } | null;
  /** Older than 3x its refresh. */
  stale: boolean;
}

export type Request =
  | { command: 'status' }
  | { command: 'bans' }
  | { command: 'ban'; target: string; seconds: number | null; reason: string }
  | { command: 'unban'; target: string }
  /** Lifts every ban of this daemon (of one origin if given); the CLI asks for --yes first. */
  | { command: 'unban'; target?: undefined; all: true; origin?: BanOriginName }
  | { command: 'allow'; target: string; reason: string }
  | { command: 'reload' }
  | { command: 'lookup'; address: string }
  | { command: 'feeds' }
  /** Fetches one feed (or every feed) now, within each source's minimum refresh. */
  | { command: 'feeds-update'; name?: string }
  | { command: 'fleet' };

export type CommandName = Request['command'];

export interface ResultOf {
  status: StatusView;
  bans: BanView[];
  ban: BanResult;
  unban: UnbanResult;
  allow: { target: string };
  /** `restartNeeded`: keys the file changes that the running daemon cannot apply (kept at their running values). */
  reload: { profile: string; changed: boolean; restartNeeded: string[] };
  lookup: LookupView;
  feeds: FeedView[];
  /** outcome: updated, not-modified, too-soon (inside the source's minimum refresh), failed (see feed.lastError), unknown (no such feed). */
  'feeds-update': { name: string; outcome: string; feed: FeedView | null }[];
  fleet: FleetStatusView;
}

export type Reply<C extends CommandName = CommandName> = { ok: true; result: ResultOf[C] } | { ok: false; error: { code: string; message: string } };

/** What the daemon implements; the server only moves requests and replies. */
export type ControlHandler = { [C in CommandName]: (request: Extract<Request, { command: C }>) => Promise<ResultOf[C]> };

const COMMANDS: readonly CommandName[] = ['status', 'bans', 'ban', 'unban', 'allow', 'reload', 'lookup', 'feeds', 'feeds-update', 'fleet'];

/** Checks a request's shape; returns a problem description or null. Never trusts the peer. */
export function requestProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'a request is a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r.command !== 'string' || !(COMMANDS as readonly string[]).includes(r.command)) return `unknown command ${JSON.stringify(r.command)}; commands: ${COMMANDS.join(', ')}`;
  if (r.command === 'unban' && r.all === true && r.target === undefined) {
    if (r.origin !== undefined && !(BAN_ORIGINS as readonly unknown[]).includes(r.origin)) return `unban --all --origin must be one of ${BAN_ORIGINS.join(', ')}`;
    return null;
  }
  if (r.command === 'ban' || r.command === 'unban' || r.command === 'allow') {
    if (typeof r.target !== 'string' || r.target.length === 0) return `${r.command} needs a target (address or CIDR)`;
  }
  if (r.command === 'ban') {
    if (r.seconds !== null && (typeof r.seconds !== 'number' || !Number.isInteger(r.seconds) || r.seconds <= 0)) return 'ban needs seconds: a whole number above 0, or null';
    if (typeof r.reason !== 'string') return 'ban needs a reason';
  }
  if (r.command === 'allow' && typeof r.reason !== 'string') return 'allow needs a reason';
  if (r.command === 'lookup' && (typeof r.address !== 'string' || r.address.length === 0 || r.address.length > 64)) return 'lookup needs an address';
  if (r.command === 'feeds-update' && r.name !== undefined && (typeof r.name !== 'string' || !/^[a-z0-9-]{1,40}$/.test(r.name))) return 'feeds-update needs a feed name (a-z, 0-9, -) or none';
  return null;
}

/** Where the daemon listens unless control.socketPath says otherwise (root-only: /run is root's). */
export const DEFAULT_SOCKET_PATH = '/run/portwarden/control.sock';

/** The keys a reload could not apply, for a message: all of them, or the first eight and how many more. */
export function restartKeysText(keys: readonly string[]): string {
  const shown = keys.length > 8 ? [...keys.slice(0, 8), `and ${keys.length - 8} more`] : keys;
  return shown.join(', ');
}
