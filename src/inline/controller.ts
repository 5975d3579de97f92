/**
 * What the daemon holds for inline mode: starts it when the config enables it, follows reloads
 * (on → off → on, settings, blocklists re-read every time), stops it. Keeps daemon.ts to a few calls.
 */
import type { Packet } from '../model/packet.js';
import type { EventLogger } from '../model/logger.js';
import type { CounterGroup } from '../model/counters.js';
import { InlineFilter, type DnsSettings, type InlineSettings } from './inline.js';

export interface InlineConfig {
  readonly inline: InlineSettings;
  readonly dns: DnsSettings;
}

/** The daemon's bans as inline mode asks about them (an AddressSet: addresses and prefixes). */
export interface BannedAddresses {
  containsWords(family: 4 | 6, w0: number, w1: number, w2: number, w3: number): boolean;
}

export class InlineController {
  readonly #log: EventLogger;
  readonly #banned: BannedAddresses;
  #filter: InlineFilter | null = null;

  /** `banned`: the sources the daemon has banned, addresses or networks (their new TCP connections are dropped inline). */
  constructor(log: EventLogger, banned: BannedAddresses) {
    this.#log = log;
    this.#banned = banned;
  }

  /** @throws PortwardenError PW_ERR_INLINE, PW_ERR_DNS_BLOCKLIST */
  start(c: InlineConfig): void {
    if (!c.inline.enabled || this.#filter !== null) return;
    this.#filter = InlineFilter.start({ inline: c.inline, dns: c.dns, log: this.#log, isBlocked: (p) => sourceBanned(this.#banned, p) });
  }

  /**
   * Re-reads the lists and applies the settings. A failure is logged: with the previous filter
   * reopened and running when it is, else (it could not be reopened either) as inline mode off.
   */
  reload(c: InlineConfig): void {
    try {
      if (!c.inline.enabled) this.stop();
      else if (this.#filter === null) this.start(c);
      else this.#filter.reload(c.inline, c.dns);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      if (this.#filter === null || this.#filter.running) {
        this.#log.error({ 'event.action': 'inline-reload-failed', error }, this.#filter === null ? 'inline mode: reload failed; inline mode stays off' : 'inline mode: reload failed; the running filter and lists stay');
        return;
      }
      this.#filter.stop();
      this.#filter = null;
      this.#log.error({ 'event.action': 'inline-reload-failed', 'inline.running': false, error }, 'inline mode: reload failed and the previous settings could not be reopened; inline mode is OFF (no DNS filtering, no inline TCP drops) until the next successful reload');
    }
  }

  stop(): void {
    this.#filter?.stop();
    this.#filter = null;
  }

  counters(): Record<string, number> {
    return this.#filter?.counterValues() ?? {};
  }

  /** Inline mode's counters for the counter registry: those of the running filter, none while off. */
  readonly counterGroup: CounterGroup = {
    group: 'inline',
    forEach: (visit) => this.#filter?.counterGroup.forEach(visit),
  };
}

/** Whether the packet's source lies in a banned address or network, read as words straight from the packet. */
export function sourceBanned(banned: BannedAddresses, p: Packet): boolean {
  if (p.ipVersion === 6) {
    const b = p.buf;
    const o = p.src6Offset;
    return banned.containsWords(6, b.readUInt32BE(o), b.readUInt32BE(o + 4), b.readUInt32BE(o + 8), b.readUInt32BE(o + 12));
  }
  return banned.containsWords(4, 0, 0, 0, p.src4 >>> 0);
}
