/**
 * This host as a member of a fleet on NATS JetStream: its bans go into a KV bucket (one key per
 * target, each value a signed message with the ban's expiry or a signed unban), and every other host's
 * bans come back out of it into this host's ban book (origin `fleet`), through this host's lockout
 * guard and allowlist, with the time they have left.
 *
 * Server 2.9 facts this follows: a bucket's TTL works but watchers hear nothing when a key expires,
 * and per-key TTL is ignored. So the bucket's TTL is the longest ban it carries, each value says when
 * its ban ends (each host sets its kernel timeout from that), unbans are explicit (a signed tombstone:
 * a bare KV delete could not be signed), and the watch resumes from the last revision applied.
 *
 * NATS down at start or later: the daemon enforces locally; changes wait in a per-target outbox and
 * are published once NATS is back (no duplicates, the last word per target). The client reconnects
 * for ever with backoff.
 */
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { BanListener, BanBook } from '../enforce/ban-book.js';
import type { IncidentListener } from '../enforce/incident-flow.js';
import { CounterTable } from '../model/counters.js';
import type { Decision } from '../model/decision.js';
import type { FleetLinkState, FleetStatusView } from '../model/fleet.js';
import type { IncidentRecord } from '../model/incident.js';
import type { EventLogger } from '../model/logger.js';
import { SourceLimiter } from '../net/rate-limit.js';
import { decodeSigned, encodeSigned, isFleetMessage, keyOf, secondsLeft, type FleetBan, type FleetMessage, type Refusal } from './codec.js';
import { connectOptions } from './connection.js';
import { FleetCursor } from './cursor.js';
import { Outbox } from './outbox.js';
import { Peers } from './peers.js';
import type { FleetSettings } from './settings.js';
import { decisionDocument, incidentDocument, type EcsDocument } from './siem.js';
import { fingerprint, loadOrCreateKey, signBytes, type SigningKey } from './signing.js';

export const FLEET_COUNTERS = {
  'fleet.published': 'bans and unbans this host published to the fleet (acknowledged by JetStream)',
  'fleet.publishFailed': 'publish attempts that failed (NATS away or slow); the change stays in the outbox and is sent again',
  'fleet.outboxDropped': 'changes dropped from a full outbox (fleet.maxOutbox) while NATS was away',
  'fleet.received': 'fleet messages read from the bucket (every host, this one included)',
  'fleet.applied': 'fleet bans applied to this host\'s kernel',
  'fleet.unbansApplied': 'fleet unbans that lifted a ban here',
  'fleet.expired': 'fleet bans read after their end (not applied)',
  'fleet.refused': 'fleet bans this host\'s lockout guard or allowlist refused',
  'fleet.capped': 'fleet bans beyond their origin host\'s fleet.maxFleetBansPerMinute (alert only, not applied)',
  'fleet.dropped.unsigned': 'fleet messages without a signature (dropped)',
  'fleet.dropped.unknownKey': 'fleet messages from a host not in fleet.trustedKeys (dropped)',
  'fleet.dropped.badSignature': 'fleet messages whose signature does not verify (dropped)',
  'fleet.dropped.malformed': 'fleet messages that are not portwarden fleet messages (dropped)',
  'fleet.siemPublished': 'ECS documents published to fleet.siemSubject',
  'fleet.siemDropped': 'ECS documents dropped (NATS away, or too many in flight)',
  'fleet.connected': '1 while connected to NATS, 0 otherwise',
} as const;
type FleetCounter = keyof typeof FLEET_COUNTERS;

const DROP_COUNTER: Record<Refusal, FleetCounter> = {
  unsigned: 'fleet.dropped.unsigned',
  'unknown-key': 'fleet.dropped.unknownKey',
  'bad-signature': 'fleet.dropped.badSignature',
  malformed: 'fleet.dropped.malformed',
};

/** Puts in flight at once: enough to carry 1,000 bans/s over a few ms of round trip. */
const MAX_IN_FLIGHT = 256;
const MAX_SIEM_IN_FLIGHT = 1024;
const RETRY_EVERY_MS = 1_000;
const CURSOR_EVERY_MS = 1_000;
/** Log lines about dropped messages, at most one per reason per this long (a forged flood must not flood the log). */
const DROP_LOG_EVERY_MS = 10_000;
const SIEM_STREAM = 'PORTWARDEN_SIEM';
/** A watch that delivered nothing this long while the bucket has newer revisions is started again. */
const STALL_MS = 5_000;

export interface FleetParts {
  settings: FleetSettings;
  stateDir: string;
  /** The host's ban book (undefined before enforcement started): remote bans go in with origin `fleet`. */
  book(): BanBook<never> | undefined;
  /** Who is never banned here (lockout guard with the allowlist; rebuilt on reload). */
  guard(): { protects(target: string): { reason: string } | null };
  log: EventLogger;
  clock?: () => number;
}

export class Fleet {
  readonly host: string;
  readonly key: SigningKey;
  readonly counters = new CounterTable('fleet', FLEET_COUNTERS);
  readonly #s: FleetSettings;
  readonly #p: FleetParts;
  readonly #log: EventLogger;
  readonly #clock: () => number;
  readonly #peers: Peers;
  readonly #cursor: FleetCursor;
  readonly #outbox: Outbox<FleetMessage>;
  readonly #inFlight = new Set<string>();
  readonly #limiter: SourceLimiter;
  /** Incident ids of the targets a decision is about to ban (the incident listener runs just before the ban). */
  readonly #incidentOf = new Map<string, string>();
  #state: FleetLinkState = 'disconnected';
  #nc: NatsConnection | null = null;
  #js: JetStreamClient | null = null;
  #kv: KV | null = null;
  #stream = '';
  #synced = false;
  /** Set while this module changes the book, so the listener does not publish the fleet's own changes back. */
  #applying = false;
  #lastRevision = 0;
  #savedRevision = 0;
  #siemInFlight = 0;
  #siemReady = false;
  readonly #lastDropLog = new Map<Refusal, number>();
  readonly #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  #run: Promise<void> | null = null;
  /** The bucket watch in force, and when it last delivered (performance.now()). */
  #iter: { stop(): void } | null = null;
  #lastEntryMs = 0;

  private constructor(parts: FleetParts, key: SigningKey) {
    this.#p = parts;
    this.#s = parts.settings;
    this.#log = parts.log;
    this.#clock = parts.clock ?? Date.now;
    this.host = parts.settings.host || hostname();
    this.key = key;
    this.#peers = new Peers(parts.settings.trustedKeys);
    this.#cursor = new FleetCursor(parts.stateDir, parts.settings.bucket);
    this.#outbox = new Outbox(parts.settings.maxOutbox);
    const perMinute = parts.settings.maxFleetBansPerMinute;
    this.#limiter = new SourceLimiter(perMinute / 60, perMinute, 1024);
  }

  /** Reads (or, at first start, makes) this host's signing key. Throws PW_ERR_FLEET naming the file. */
  static open(parts: FleetParts): Fleet {
    const file = parts.settings.keyFile || join(parts.stateDir, 'fleet.key');
    const { key, created } = loadOrCreateKey(file);
    const fleet = new Fleet(parts, key);
    if (created) parts.log.info({ 'event.action': 'fleet-key-created', 'file.path': file, 'fleet.public_key': key.publicKey }, `fleet signing key made in ${file}; other hosts trust it with: ${fleet.host}: "${key.publicKey}"`);
    return fleet;
  }

  get state(): FleetLinkState {
    return this.#state;
  }

  /** Connects in the background (NATS may be down: the daemon goes on enforcing locally). */
  start(): void {
    this.#run = this.#connectLoop();
    this.#every(RETRY_EVERY_MS, () => this.#pump());
    this.#every(CURSOR_EVERY_MS, () => void this.#saveCursor());
    this.#every(STALL_MS, () => void this.#checkWatch());
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    const nc = this.#nc;
    this.#nc = null;
    this.#kv = null;
    this.#iter?.stop();
    await this.#saveCursor();
    if (nc !== null) await nc.close().catch(() => {});
    await this.#run?.catch(() => {});
  }

  /** The book's and the incident flow's listener: what this host decides goes to the fleet. */
  readonly listener: BanListener & IncidentListener = {
    incident: (record: IncidentRecord, decision: Decision) => {
      const id = `${this.host}:${record.kind}:${record.first_seen}:${record['source.ip'] ?? decision.targets[0] ?? ''}`;
      for (const t of decision.targets) this.#incidentOf.set(t, id);
      if (this.#incidentOf.size > 10_000) this.#incidentOf.clear(); // only the decision in flight matters
      if (this.#s.share.includes('incidents')) this.#siem(incidentDocument(this.host, id, record, decision, this.#clock()));
    },
    ban: (target, seconds, origin, reason) => {
      if (this.#applying || origin === 'fleet') return;
      const now = this.#clock();
      const incident = this.#incidentOf.get(target) ?? null;
      this.#incidentOf.delete(target);
      this.#siem(decisionDocument(this.host, 'ban', target, { seconds, reason, origin, incidentId: incident }, now));
      if (!this.#s.share.includes('bans')) return;
      if (!this.#limiter.take(this.host, now)) {
        this.counters.inc(this.counters.id['fleet.capped']);
        this.#log.warn({ 'event.kind': 'alert', 'event.action': 'fleet-ban-capped', 'source.ip': target, 'fleet.host': this.host }, `ban of ${target} not shared: this host is over fleet.maxFleetBansPerMinute (${this.#s.maxFleetBansPerMinute})`);
        return;
      }
      this.#queue({ v: 1, t: 'ban', host: this.host, target, reason, incident, createdAt: now, expiresAt: seconds === null ? null : now + seconds * 1000 });
    },
    unban: (target) => {
      if (this.#applying) return;
      const now = this.#clock();
      this.#siem(decisionDocument(this.host, 'unban', target, {}, now));
      if (this.#s.share.includes('bans')) this.#queue({ v: 1, t: 'unban', host: this.host, target, at: now });
    },
  };

  status(): FleetStatusView {
    return {
      state: this.#state,
      host: this.host,
      fingerprint: fingerprint(this.key.publicKey),
      servers: [...this.#s.servers],
      synced: this.#synced,
      outbox: this.#outbox.size,
      peers: this.#peers.views().filter((p) => p.host !== this.host),
      counters: Object.fromEntries([...this.counters.names].map((n) => [n, this.counters.get(n)])),
    };
  }

  #every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.#timers.push(t);
  }

  #setState(state: FleetLinkState, detail: string): void {
    if (this.#state === state) return;
    this.#state = state;
    this.counters.set(this.counters.id['fleet.connected'], state === 'connected' ? 1 : 0);
    const fields = { 'event.action': `fleet-${state}`, 'fleet.host': this.host, 'fleet.servers': this.#s.servers };
    if (state === 'connected') this.#log.info(fields, `fleet: connected (${detail})`);
    else this.#log.warn(fields, `fleet: disconnected (${detail}); enforcing locally, retrying`);
  }

  async #connectLoop(): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await connect(connectOptions(this.#s, this.host));
    } catch (err) {
      if (!this.#stopped) this.#log.error({ 'event.action': 'fleet-failed', error: err instanceof Error ? err.message : String(err) }, 'fleet: cannot connect to NATS');
      return;
    }
    if (this.#stopped) {
      await nc.close();
      return;
    }
    this.#nc = nc;
    void this.#watchStatus(nc);
    // JetStream may still be starting on a server that just came up: the bucket is retried.
    for (let wait = 250; !this.#stopped; wait = Math.min(wait * 2, 5_000)) {
      try {
        await this.#open(nc);
        return;
      } catch (err) {
        this.#log.warn({ 'event.action': 'fleet-bucket-retry', error: err instanceof Error ? err.message : String(err) }, `fleet: cannot open the bucket ${this.#s.bucket} yet; retrying`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  async #open(nc: NatsConnection): Promise<void> {
    const js = jetstream(nc);
    const kv = await new Kvm(js).create(this.#s.bucket, { history: 1, ttl: this.#s.bucketTtlSeconds * 1000 });
    const st = await kv.status();
    this.#js = js;
    this.#kv = kv;
    this.#stream = st.streamInfo.created;
    this.#setState('connected', this.#s.servers.join(', '));
    if (this.#s.siemSubject !== '') await this.#siemStream(nc);
    this.#pump();
    void this.#watch(kv, st.streamInfo.state.last_seq);
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.#setState('disconnected', 'connection lost');
      else if (s.type === 'reconnect' && this.#kv !== null) {
        this.#setState('connected', 'reconnected');
        this.#pump();
      }
    }
  }

  /** Makes sure a stream holds the SIEM subject (a SIEM reads it with a durable consumer). */
  async #siemStream(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(SIEM_STREAM);
    } catch {
      await jsm.streams.add({ name: SIEM_STREAM, subjects: [this.#s.siemSubject], max_age: this.#s.bucketTtlSeconds * 1e9 });
    }
    this.#siemReady = true;
  }

  /**
   * Reads the bucket from `from` (a restart of a stalled watch), else from the saved revision, else all of
   * it, and keeps reading.
   */
  async #watch(kv: KV, lastSeq: number, from?: number): Promise<void> {
    const saved = this.#cursor.read();
    const resume = from ?? (saved !== null && saved.stream === this.#stream && saved.revision <= lastSeq ? saved.revision + 1 : undefined);
    const started = performance.now();
    let read = 0;
    const iter = await kv.watch(resume === undefined ? {} : { resumeFromRevision: resume });
    this.#iter?.stop();
    this.#iter = iter;
    this.#lastEntryMs = performance.now();
    const synced = (): void => {
      if (this.#synced) return;
      this.#synced = true;
      this.#log.info({ 'event.action': 'fleet-synced', 'fleet.read': read, 'fleet.resumed_from': resume ?? null, 'duration.ms': Math.round(performance.now() - started) }, `fleet: read ${read} ban message(s) in ${Math.round(performance.now() - started)} ms${resume !== undefined ? ` (from revision ${resume})` : ''}`);
    };
    if (lastSeq === 0 || (resume !== undefined && resume > lastSeq)) synced();
    for await (const e of iter) {
      read++;
      this.#lastEntryMs = performance.now();
      // A restarted watch may deliver what this host already read.
      if (e.revision > this.#lastRevision || from === undefined) this.#entry(e);
      if (!this.#synced && (e.revision >= lastSeq || e.delta === 0)) synced();
      if (this.#stopped || this.#iter !== iter) break;
    }
  }

  /**
   * A watch can stall (its ordered consumer lost on a busy host or server, seen under heavy load): when
   * nothing came for a while and the bucket holds newer revisions, the watch starts again after the
   * last revision read.
   */
  async #checkWatch(): Promise<void> {
    const kv = this.#kv;
    if (kv === null || this.#stopped || this.#state !== 'connected' || performance.now() - this.#lastEntryMs < STALL_MS) return;
    try {
      const last = (await kv.status()).streamInfo.state.last_seq;
      if (last <= this.#lastRevision || this.#stopped) return;
      this.#log.warn({ 'event.action': 'fleet-watch-restarted', 'fleet.revision': this.#lastRevision, 'fleet.last': last }, `fleet: the bucket watch stalled at revision ${this.#lastRevision} of ${last}; reading on from there`);
      this.#lastEntryMs = performance.now();
      void this.#watch(kv, last, this.#lastRevision + 1);
    } catch {
      // NATS away: the connection's own status says so; the next round checks again.
    }
  }

  #entry(e: KvWatchEntry): void {
    this.counters.inc(this.counters.id['fleet.received']);
    this.#lastRevision = Math.max(this.#lastRevision, e.revision);
    // A bare KV delete or purge carries no signature: it is not a fleet unban.
    if (e.operation !== 'PUT') return this.#drop('unsigned', undefined, e.key);
    const d = decodeSigned(e.value, (h) => this.#peerKey(h), isFleetMessage);
    if (!d.ok) return this.#drop(d.why, d.host, e.key);
    const m = d.message;
    if (keyOf(m.target) !== e.key) return this.#drop('malformed', m.host, e.key);
    if (m.host === this.host) return;
    const now = this.#clock();
    const peer = this.#peers.heard(m.host, m.t === 'ban' ? m.createdAt : m.at, now);
    const book = this.#p.book();
    if (!this.#s.apply.includes('bans') || book === undefined) return;
    if (m.t === 'unban') {
      const had = book.get(m.target);
      // A fleet ban is lifted by the fleet's unban; a ban of this host's own only when the unban is newer
      // (a ban decided here since stays; comparing clocks of two hosts is only trusted for that case).
      if (had === undefined || (had.origin !== 'fleet' && had.createdAtMs > m.at)) return;
      this.#change(() => book.unban(m.target));
      this.counters.inc(this.counters.id['fleet.unbansApplied']);
      if (peer !== undefined) peer.unbansApplied++;
      this.#log.info({ 'event.action': 'fleet-unban', 'source.ip': m.target, 'fleet.host': m.host }, `fleet: unban ${m.target} from ${m.host}`);
      return;
    }
    this.#applyBan(book, m, now, peer);
  }

  #applyBan(book: BanBook<never>, m: FleetBan, now: number, peer: ReturnType<Peers['heard']>): void {
    const left = secondsLeft(m.expiresAt, now);
    if (left === 'expired') {
      this.counters.inc(this.counters.id['fleet.expired']);
      return;
    }
    // Judged on the ban's own time, so every host caps the same bans of a host, whenever it reads them.
    if (!this.#limiter.take(m.host, m.createdAt)) {
      this.counters.inc(this.counters.id['fleet.capped']);
      if (peer !== undefined) peer.bansCapped++;
      this.#log.warn({ 'event.kind': 'alert', 'event.action': 'fleet-ban-capped', 'source.ip': m.target, 'fleet.host': m.host }, `fleet: ban of ${m.target} from ${m.host} not applied: ${m.host} is over fleet.maxFleetBansPerMinute (${this.#s.maxFleetBansPerMinute}); alert only`);
      return;
    }
    const protectedBy = this.#p.guard().protects(m.target);
    if (protectedBy !== null) {
      this.counters.inc(this.counters.id['fleet.refused']);
      if (peer !== undefined) peer.bansRefused++;
      this.#log.warn({ 'event.kind': 'alert', 'event.action': 'fleet-ban-refused', 'source.ip': m.target, 'fleet.host': m.host, 'event.reason': protectedBy.reason }, `fleet: ban of ${m.target} from ${m.host} refused: ${protectedBy.reason} (the lockout guard never bans it)`);
      return;
    }
    const had = book.get(m.target);
    // A ban of this host's own that lasts at least as long stays as it is.
    if (had !== undefined && (had.expiresAtMs === null || (m.expiresAt !== null && had.expiresAtMs >= m.expiresAt))) return;
    this.#change(() => book.ban(m.target, left, m.reason, 'fleet', `from fleet host ${m.host}${m.incident !== null ? `, incident ${m.incident}` : ''}`));
    this.counters.inc(this.counters.id['fleet.applied']);
    if (peer !== undefined) peer.bansApplied++;
  }

  #change(fn: () => void): void {
    this.#applying = true;
    try {
      fn();
    } finally {
      this.#applying = false;
    }
  }

  #peerKey(host: string): ReturnType<Peers['keyOf']> {
    return host === this.host ? this.#ownKey : this.#peers.keyOf(host);
  }

  get #ownKey(): ReturnType<Peers['keyOf']> {
    return this.key.publicObject;
  }

  #drop(why: Refusal, host: string | undefined, key: string): void {
    this.counters.inc(this.counters.id[DROP_COUNTER[why]]);
    if (host !== undefined) {
      const p = this.#peers.get(host);
      if (p !== undefined) p.dropped++;
    }
    const now = this.#clock();
    if (now - (this.#lastDropLog.get(why) ?? -Infinity) < DROP_LOG_EVERY_MS) return;
    this.#lastDropLog.set(why, now);
    this.#log.warn({ 'event.kind': 'alert', 'event.action': 'fleet-dropped', 'event.reason': why, 'fleet.host': host, 'fleet.key': key }, `fleet: message ${key}${host !== undefined ? ` claiming to be from ${host}` : ''} dropped: ${why} (counted in fleet.dropped.*)`);
  }

  #queue(m: FleetMessage): void {
    const before = this.#outbox.dropped;
    this.#outbox.put(m.target, m);
    if (this.#outbox.dropped !== before) this.counters.inc(this.counters.id['fleet.outboxDropped']);
    this.#pump();
  }

  /** Sends what waits, a bounded number at a time; a failed put stays in the outbox for the next round. */
  #pump(): void {
    const kv = this.#kv;
    if (kv === null || this.#state !== 'connected' || this.#outbox.size === 0) return;
    for (const [target, m] of this.#outbox.take(MAX_IN_FLIGHT - this.#inFlight.size, this.#inFlight)) {
      this.#inFlight.add(target);
      kv.put(keyOf(target), encodeSigned(this.key, m)).then(
        () => {
          this.#outbox.settle(target, m);
          this.counters.inc(this.counters.id['fleet.published']);
        },
        () => this.counters.inc(this.counters.id['fleet.publishFailed']),
      ).finally(() => {
        this.#inFlight.delete(target);
        if (this.#outbox.size > this.#inFlight.size) queueMicrotask(() => this.#pump());
      });
      if (this.#inFlight.size >= MAX_IN_FLIGHT) break;
    }
  }

  #siem(doc: EcsDocument): void {
    const js = this.#js;
    if (this.#s.siemSubject === '') return;
    if (js === null || !this.#siemReady || this.#state !== 'connected' || this.#siemInFlight >= MAX_SIEM_IN_FLIGHT) {
      this.counters.inc(this.counters.id['fleet.siemDropped']);
      return;
    }
    const body = new TextEncoder().encode(JSON.stringify(doc));
    const h = headers();
    h.set('Portwarden-Host', this.host);
    h.set('Portwarden-Signature', signBytes(this.key, body));
    this.#siemInFlight++;
    js.publish(this.#s.siemSubject, body, { headers: h }).then(
      () => this.counters.inc(this.counters.id['fleet.siemPublished']),
      () => this.counters.inc(this.counters.id['fleet.siemDropped']),
    ).finally(() => this.#siemInFlight--);
  }

  /** Saves the last revision read, once the bans it brought are committed (a crash re-reads, never skips). */
  async #saveCursor(): Promise<void> {
    const rev = this.#lastRevision;
    if (rev === this.#savedRevision || this.#stream === '') return;
    await this.#p.book()?.commit();
    try {
      this.#cursor.write(rev, this.#stream);
      this.#savedRevision = rev;
    } catch (err) {
      this.#log.warn({ 'event.action': 'fleet-cursor-failed', error: err instanceof Error ? err.message : String(err) }, 'fleet: cannot save the watch cursor');
    }
  }
}
