/**
 * Answers banned scanners (see settings.ts for the modes). decide bans; this only chooses how the
 * banned scanner's later connection attempts are answered, and never widens who is answered:
 *
 *   - only sources a decision actually banned, as single addresses, for scans, sweeps and distributed
 *     scans: never decoy candidates, never flood sources (a flood's source is the likeliest forged);
 *   - never a source the lockout guard protects (loopback, own addresses, gateways, resolvers, SSH
 *     peers, the allowlist), checked again here at every reply, and in the kernel the allow sets are
 *     accepted before the `respond` chain;
 *   - never a source named by a flood incident, and nobody at all for `floodHoldMs` after a flood from
 *     spoofed sources (the kernel's answered sets are emptied meanwhile and refilled afterwards);
 *   - per-source and global token buckets here, and the same caps in the kernel (kernel-rules.ts).
 *
 * The kernel does `rst` alone. For `try-harder` and `syn-ack` it hands each answered SYN to the
 * respond NFLOG group, read as a packet source (src/capture/live-sources.ts); `onPacket` gets it decoded, checks everything above, crafts the reply (craft.ts) and
 * sends it through a raw socket (rawsend.ts). Kernel element changes go through `nft` in batches:
 * they are rare (one per banned scanner, which decide caps per minute).
 *
 * Every answer, suppression and failure is counted (`RespondCounter`).
 */
import { randomInt } from 'node:crypto';
import { NflogPacketSource } from '../capture/live-sources.js';
import { FrameDecoder, type PacketHandler } from '../capture/source.js';
import { CounterTable, counterIds, type CounterGroup } from '../model/counters.js';
import type { Decision } from '../model/decision.js';
import type { Guard } from '../decide/lockout-guard.js';
import { formatIPv4, formatIPv6 } from '../net/address.js';
import type { Packet } from '../model/packet.js';
import type { IncidentRecord } from '../model/incident.js';
import { runNft } from '../kernel/nft.js';
import { targetContains, parseTarget, type ParsedTarget } from '../net/target.js';
import { PortwardenError } from '../errors.js';
import type { EventLogger } from '../model/logger.js';
import { craftReply, isAnswerableSyn, type ReplyKind } from './craft.js';
import { KERNEL_COUNTERS, RESPOND_SETS, replaceRulesText, respondContribution } from './kernel-rules.js';
import type { RuleContribution } from '../kernel/ruleset.js';
import { SourceLimiter, TokenBucket } from '../net/rate-limit.js';
import { RawSender } from '../kernel/raw-send.js';
import { answeredInUserSpace, respondGroupConflict, respondSchema, type RespondSettings } from './settings.js';
import { checkSettings } from '../model/settings-kit.js';

/** Counters, by name as status shows them (`respond.<name>`). */
export const RespondCounter = {
  answered: 'scanners put into the kernel answered sets',
  sent: 'replies sent from user space (try-harder, syn-ack)',
  'suppressed.source': 'SYNs not answered in user space: over the per-source rate',
  'suppressed.global': 'SYNs not answered in user space: over the global cap',
  'suppressed.guarded': 'SYNs or scanners not answered: the lockout guard protects the source',
  'suppressed.flood': 'SYNs or scanners not answered: a flood member, or during a spoofed flood',
  'suppressed.unknown': 'SYNs handed up from a source no longer answered (expired or removed)',
  'suppressed.not_syn': 'packets handed up that were no valid TCP SYN',
  'send.failed': 'replies the kernel refused to send (errno logged)',
  'kernel.failed': 'changes of the answered sets nft refused (logged)',
} as const;
export type RespondCounterName = keyof typeof RespondCounter;
const C = counterIds(RespondCounter);

export interface ResponderOptions {
  settings: RespondSettings;
  /** NFLOG group of live capture: the respond group must differ. */
  captureGroup: number;
  /** The current guard (rebuilt on reload and allow). */
  guard: () => Guard;
  log: EventLogger;
  tableName?: string;
  nftPath?: string;
  /** Wall-clock ms; tests drive it. */
  clock?: () => number;
  /** Where replies go; default raw sockets (tests may record them instead). */
  sender?: Pick<RawSender, 'open' | 'send' | 'close'>;
}

interface Answered {
  /** Wall-clock ms when the kernel lets the element go; null: no timeout. */
  expiresAtMs: number | null;
}

const RESPONDING_KINDS: ReadonlySet<string> = new Set(['scan', 'sweep', 'distributed-scan']);
const TICK_MS = 1000;
/** Flood members remembered at once (a spoofed flood names a sample only). */
const MAX_FLOOD_MEMBERS = 65_536;
const FLOOD_MEMBER_MS = 10 * 60_000;
/** Send failures are counted every time but logged at most once per this many ms. */
const SEND_FAILED_LOG_MS = 10_000;

export class Responder {
  #settings: RespondSettings;
  /** try-harder's text, encoded once per settings (not per reply). */
  #payload: Buffer;
  readonly #captureGroup: number;
  readonly #guard: () => Guard;
  readonly #log: EventLogger;
  readonly #table: string;
  readonly #nftPath: string;
  readonly #clock: () => number;
  readonly #sender: Pick<RawSender, 'open' | 'send' | 'close'>;
  /** The responder's counts, by handle (`respond.<name>`). */
  readonly table = new CounterTable('respond', RespondCounter, { prefix: 'respond' });
  readonly #c = this.table.values;
  /** The kernel's counters as the last `counters()` read them (`respond.kernel.*`). */
  #kernelCounts: Record<string, number> = {};
  readonly #answered = new Map<string, Answered>();
  readonly #floodMembers = new Map<string, number>();
  #holdUntilMs = 0;
  /** The kernel's answered sets are emptied for a flood hold. */
  #kernelHeld = false;
  #limiter: SourceLimiter;
  #global: TokenBucket;
  #source: NflogPacketSource | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Kernel text waiting for the next nft run, and the run in flight. */
  #pending: string[] = [];
  #applying: Promise<void> | null = null;
  /** The respond group's decode step (`respond.decode.*`): its one reused Packet. */
  readonly decoder = new FrameDecoder('respond.decode');
  /** Bound once: the respond NFLOG source calls it per packet. */
  readonly onPacket: PacketHandler = (p) => this.#answer(p);
  /**
   * Every counter of the responder for the registry: its own, how many it answers, the kernel's (as
   * last read), the respond group's capture and decode counters.
   */
  readonly counterGroup: CounterGroup = {
    group: 'respond',
    forEach: (visit) => {
      this.table.forEach(visit);
      visit('respond.answering', this.#answered.size, 'scanners answered now (a level)');
      for (const [name, value] of Object.entries(this.#kernelCounts)) visit(name, value, 'the kernel\'s respond-chain counter, as last read');
      this.#source?.counters.forEach(visit);
      this.decoder.counters.forEach(visit);
    },
  };
  #stopped = false;
  /** Send failures not logged yet (throttled), and when the last line was logged. */
  #sendFailedUnlogged = 0;
  #sendFailedLoggedAtMs = -Infinity;

  constructor(options: ResponderOptions) {
    this.#settings = checkedSettings(options.settings, options.captureGroup);
    this.#payload = Buffer.from(this.#settings.text, 'utf8');
    this.#captureGroup = options.captureGroup;
    this.#guard = options.guard;
    this.#log = options.log;
    this.#table = options.tableName ?? 'portwarden';
    this.#nftPath = options.nftPath ?? 'nft';
    this.#clock = options.clock ?? Date.now;
    this.#sender = options.sender ?? new RawSender();
    const now = this.#clock();
    this.#limiter = new SourceLimiter(this.#settings.perSourcePerSecond, this.#settings.perSourceBurst, this.#settings.maxSources);
    this.#global = new TokenBucket(this.#settings.maxPerSecond, this.#settings.burst, now);
    this.decoder.attach(this.onPacket);
  }

  get settings(): RespondSettings {
    return this.#settings;
  }

  /** respond's contribution to the table (kernel/ruleset.ts), for the ruleset (enforce/nft-ruleset.ts `respond` or `contributions`). */
  kernelRuleset(): RuleContribution {
    return respondContribution(this.#settings);
  }

  /** Opens the raw sockets and the respond NFLOG group when the mode answers from user space. */
  async start(): Promise<void> {
    if (answeredInUserSpace(this.#settings.mode)) await this.#startUserSpace();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  async #startUserSpace(): Promise<void> {
    this.#sender.open();
    if (this.#source !== null) return;
    const source = new NflogPacketSource({
      group: this.#settings.nflogGroup,
      snaplen: 128,
      batchPackets: 1,
      decoder: this.decoder,
      counterPrefix: 'respond.capture',
      onError: (err) => this.#log.error({ 'event.action': 'respond-capture-error', error: err.message }, 'the respond NFLOG group failed'),
    });
    await source.start(this.onPacket);
    this.#source = source;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#source?.close();
    this.#source = null;
    this.#sender.close();
    await this.#applying;
  }

  /**
   * New settings (reload): the chain's rules and cap are replaced in the kernel, buckets start
   * afresh; the answered scanners stay. The respond group is opened or closed as the mode needs.
   */
  async reload(settings: RespondSettings): Promise<void> {
    const next = checkedSettings(settings, this.#captureGroup);
    if (JSON.stringify(next) === JSON.stringify(this.#settings)) return;
    const groupChanged = next.nflogGroup !== this.#settings.nflogGroup;
    this.#settings = next;
    this.#payload = Buffer.from(next.text, 'utf8');
    const now = this.#clock();
    this.#limiter = new SourceLimiter(next.perSourcePerSecond, next.perSourceBurst, next.maxSources);
    this.#global = new TokenBucket(next.maxPerSecond, next.burst, now);
    this.#queue(replaceRulesText(this.#table, next));
    if (next.mode === 'drop') this.#clearKernel();
    else if (!this.#kernelHeld) this.#refillKernel();
    if (groupChanged || !answeredInUserSpace(next.mode)) {
      this.#source?.close();
      this.#source = null;
    }
    if (answeredInUserSpace(next.mode)) await this.#startUserSpace();
    await this.flush();
    this.#log.info({ 'event.action': 'respond-reloaded', mode: next.mode }, `responses to scanners: ${next.mode}`);
  }

  /** After the table was set up again (reconcile): rules come from the ruleset; put the answered scanners back. */
  async restore(): Promise<void> {
    this.#queue(replaceRulesText(this.#table, this.#settings));
    if (!this.#kernelHeld) this.#refillKernel();
    await this.flush();
  }

  /** A flood incident: its named sources are never answered, and a spoofed one holds every answer. */
  onIncident(record: IncidentRecord): void {
    if (record.kind !== 'flood') return;
    const now = this.#clock();
    const named = [record['source.ip'], ...(record.sources ?? []), ...stringList(record.evidence.sources_sample)];
    for (const source of named) {
      if (source === undefined) continue;
      this.#rememberFloodMember(source, now);
      if (this.#answered.delete(source)) this.#queueElement('delete', source, null);
    }
    if (record.evidence.spoofed_sources === true) {
      const first = this.#holdUntilMs <= now;
      this.#holdUntilMs = now + this.#settings.floodHoldMs;
      if (!this.#kernelHeld) {
        this.#kernelHeld = true;
        this.#clearKernel();
      }
      if (first) this.#log.warn({ 'event.action': 'respond-held', 'destination.ip': record['destination.ip'], 'event.duration': this.#settings.floodHoldMs }, 'flood from spoofed sources: no responses to scanners until it has been over for a while');
    }
    void this.flush();
  }

  /** A decision: the sources it banned as scanners are answered from now on, for as long as their ban. */
  onDecision(decision: Decision): void {
    if (this.#settings.mode === 'drop' || decision.action !== 'ban' || !RESPONDING_KINDS.has(decision.incident.kind)) return;
    const record = decision.incident;
    const sources = record['source.ip'] !== undefined ? [record['source.ip']] : (record.sources ?? []);
    const bans = decision.bans.map((b) => ({ ban: b, parsed: parseTarget(b.target) })).filter((b): b is { ban: typeof b.ban; parsed: { ok: true; target: ParsedTarget } } => b.parsed.ok);
    const now = this.#clock();
    for (const source of sources) {
      const parsed = parseTarget(source);
      if (!parsed.ok || parsed.target.prefixLength !== (parsed.target.family === 4 ? 32 : 128)) continue;
      const covering = bans.find((b) => targetContains(b.parsed.target, parsed.target));
      if (covering === undefined) continue; // not banned (cap, guard): not answered either
      const address = parsed.target.text;
      if (this.#guard().protects(address) !== null) {
        this.#c[C['suppressed.guarded']]++;
        continue;
      }
      if (this.#isFloodMember(address, now)) {
        this.#c[C['suppressed.flood']]++;
        continue;
      }
      const seconds = covering.ban.timeoutSeconds;
      this.#answered.set(address, { expiresAtMs: seconds === null ? null : now + seconds * 1000 });
      this.#c[C.answered]++;
      if (!this.#kernelHeld) this.#queueElement('add', address, seconds);
      this.#log.info({ 'event.action': 'respond-answer', 'source.ip': address, mode: this.#settings.mode, 'event.duration': seconds }, `${address} is answered with ${this.#settings.mode} while banned`);
    }
    void this.flush();
  }

  /** One raw frame (tests, recorded datagrams): decoded by the responder's decoder, then answered like a packet from its source. */
  onFrame(buf: Buffer, offset: number, length: number, tsUs: number, linkType: number): void {
    this.decoder.onFrame(buf, offset, length, tsUs, linkType);
  }

  /**
   * One SYN the kernel handed up (respond NFLOG group), decoded: answered when every check passes.
   * Never throws; runs on the capture callback.
   */
  #answer(p: Packet): void {
    const mode = this.#settings.mode;
    if (!answeredInUserSpace(mode)) return;
    // Cheap checks first; the reply is crafted only when it will really be sent.
    if (!isAnswerableSyn(p)) {
      this.#c[C['suppressed.not_syn']]++;
      return;
    }
    if (this.#answered.size === 0) {
      this.#c[C['suppressed.unknown']]++;
      return;
    }
    const source = p.ipVersion === 4 ? formatIPv4(p.src4) : formatIPv6(p.buf, p.src6Offset);
    const now = this.#clock();
    const answered = this.#answered.get(source);
    if (answered === undefined || (answered.expiresAtMs !== null && answered.expiresAtMs <= now)) {
      this.#c[C['suppressed.unknown']]++;
      return;
    }
    if (this.#guard().protects(source) !== null) {
      this.#c[C['suppressed.guarded']]++;
      return;
    }
    if (now < this.#holdUntilMs || this.#isFloodMember(source, now)) {
      this.#c[C['suppressed.flood']]++;
      return;
    }
    if (!this.#limiter.take(source, now)) {
      this.#c[C['suppressed.source']]++;
      return;
    }
    if (!this.#global.take(now)) {
      this.#c[C['suppressed.global']]++;
      return;
    }
    const reply = craftReply(p, mode as ReplyKind, { isn: randomInt(0, 0x100000000), payload: mode === 'try-harder' ? this.#payload : undefined });
    if (reply === null) {
      this.#c[C['suppressed.not_syn']]++;
      return;
    }
    let outcome: string;
    try {
      outcome = this.#sender.send(reply, source, p.ipVersion as 4 | 6);
    } catch (err) {
      outcome = err instanceof Error ? err.message : String(err);
    }
    if (outcome === 'sent') {
      this.#c[C.sent]++;
      return;
    }
    this.#c[C['send.failed']]++;
    this.#logSendFailed(source, outcome, now);
  }

  /** Send failures are counted every time, logged at most once per SEND_FAILED_LOG_MS with the count since the last line. */
  #logSendFailed(source: string, error: string, now: number): void {
    this.#sendFailedUnlogged++;
    if (now - this.#sendFailedLoggedAtMs < SEND_FAILED_LOG_MS) return;
    const count = this.#sendFailedUnlogged;
    this.#sendFailedUnlogged = 0;
    this.#sendFailedLoggedAtMs = now;
    const more = count > 1 ? ` (${count} failures since the last report)` : '';
    this.#log.warn({ 'event.action': 'respond-send-failed', 'source.ip': source, error, count }, `reply to ${source} not sent: ${error}${more}`);
  }

  /** User-space counters, plus the kernel's (`kernel.*`) when the table is there. */
  async counters(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    this.table.forEach((name, value) => (out[name] = value));
    out['respond.answering'] = this.#answered.size;
    const kernel: Record<string, number> = {};
    try {
      const { stdout } = await runNft(this.#nftPath, ['-j', 'list', 'counters', 'table', 'inet', this.#table]);
      const json = JSON.parse(stdout) as { nftables?: { counter?: { name?: string; packets?: number } }[] };
      for (const entry of json.nftables ?? []) {
        const name = entry.counter?.name;
        if (name !== undefined && Object.hasOwn(KERNEL_COUNTERS, name)) kernel[`respond.kernel.${name.replace(/^respond_/, '')}`] = entry.counter?.packets ?? 0;
      }
    } catch {
      // No table (dry run, iptables) or no nft: only the user-space counters.
    }
    this.#kernelCounts = kernel;
    return { ...out, ...kernel };
  }

  /** Applies queued kernel changes: one nft transaction at a time; failures are counted and logged. */
  async flush(): Promise<void> {
    while (this.#applying !== null) await this.#applying;
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('\n');
    this.#pending = [];
    this.#applying = (async () => {
      try {
        await runNft(this.#nftPath, ['-f', '-'], `${text}\n`);
      } catch (err) {
        this.#c[C['kernel.failed']]++;
        this.#log.error({ 'event.action': 'respond-kernel-failed', error: err instanceof Error ? err.message : String(err) }, 'changing the answered sets failed');
      } finally {
        this.#applying = null;
      }
    })();
    await this.#applying;
  }

  #tick(): void {
    const now = this.#clock();
    for (const [address, a] of this.#answered) if (a.expiresAtMs !== null && a.expiresAtMs <= now) this.#answered.delete(address);
    for (const [address, until] of this.#floodMembers) if (until <= now) this.#floodMembers.delete(address);
    if (this.#kernelHeld && now >= this.#holdUntilMs) {
      this.#kernelHeld = false;
      if (this.#settings.mode !== 'drop') this.#refillKernel();
      this.#log.info({ 'event.action': 'respond-resumed', answering: this.#answered.size }, 'the spoofed flood is over: responses to scanners resume');
      void this.flush();
    }
  }

  #refillKernel(): void {
    const now = this.#clock();
    for (const [address, a] of this.#answered) {
      if (a.expiresAtMs !== null && a.expiresAtMs <= now + 1000) continue;
      this.#queueElement('add', address, a.expiresAtMs === null ? null : Math.floor((a.expiresAtMs - now) / 1000));
    }
  }

  #clearKernel(): void {
    this.#queue(`flush set inet ${this.#table} ${RESPOND_SETS[4]}\nflush set inet ${this.#table} ${RESPOND_SETS[6]}`);
  }

  #queueElement(action: 'add' | 'delete', address: string, seconds: number | null): void {
    const set = RESPOND_SETS[address.includes(':') ? 6 : 4];
    if (action === 'delete') {
      // `delete` of an element already gone would fail the whole batch: add it first (same transaction).
      this.#queue(`add element inet ${this.#table} ${set} { ${address} timeout 1s }\ndelete element inet ${this.#table} ${set} { ${address} }`);
      return;
    }
    this.#queue(`add element inet ${this.#table} ${set} { ${address}${seconds === null ? '' : ` timeout ${Math.max(1, seconds)}s`} }`);
  }

  #queue(text: string): void {
    this.#pending.push(text);
  }

  #rememberFloodMember(address: string, now: number): void {
    this.#floodMembers.delete(address);
    if (this.#floodMembers.size >= MAX_FLOOD_MEMBERS) {
      const oldest = this.#floodMembers.keys().next().value;
      if (oldest !== undefined) this.#floodMembers.delete(oldest);
    }
    this.#floodMembers.set(address, now + FLOOD_MEMBER_MS);
  }

  #isFloodMember(address: string, now: number): boolean {
    const until = this.#floodMembers.get(address);
    return until !== undefined && until > now;
  }
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function checkedSettings(s: RespondSettings, captureGroup: number): RespondSettings {
  // The config parser applies the same rules (respond/settings.ts); settings handed in directly meet them here.
  const r = checkSettings(respondSchema, s, 'respond');
  if (!r.ok) throw new PortwardenError('PW_ERR_CONFIG_INVALID', r.message);
  const conflict = respondGroupConflict(s, captureGroup);
  if (conflict !== null) throw new PortwardenError('PW_ERR_CONFIG_INVALID', conflict);
  return Object.freeze({ ...s });
}
