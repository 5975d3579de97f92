/**
 * What the daemon holds for inline mode: starts it when the config enables it, follows reloads
 * (on → off → on, settings, blocklists re-read every time), stops it. Keeps daemon.ts to a few calls.
 */
import { formatIPv4, formatIPv6 } from '../decode/address.js';
import type { Packet } from '../decode/packet.js';
import type { EventLogger } from '../observe/log.js';
import { InlineFilter, type DnsSettings, type InlineSettings } from './inline.js';

export interface InlineConfig {
  readonly inline: InlineSettings;
  readonly dns: DnsSettings;
}

export class InlineController {
  readonly #log: EventLogger;
  readonly #isBanned: (address: string) => boolean;
  #filter: InlineFilter | null = null;

  /** `isBanned(address)`: a source the daemon has banned (its new TCP connections are dropped inline). */
  constructor(log: EventLogger, isBanned: (address: string) => boolean) {
    this.#log = log;
    this.#isBanned = isBanned;
  }

  /** @throws PortwardenError PW_ERR_INLINE, PW_ERR_DNS_BLOCKLIST */
  start(c: InlineConfig): void {
    if (!c.inline.enabled || this.#filter !== null) return;
    this.#filter = InlineFilter.start({ inline: c.inline, dns: c.dns, log: this.#log, isBlocked: (p) => this.#isBanned(sourceOf(p)) });
  }

  /** Re-reads the lists and applies the settings; a failure is logged and the running filter kept. */
  reload(c: InlineConfig): void {
    try {
      if (!c.inline.enabled) this.stop();
      else if (this.#filter === null) this.start(c);
      else this.#filter.reload(c.inline, c.dns);
    } catch (err) {
      this.#log.error({ 'event.action': 'inline-reload-failed', error: err instanceof Error ? err.message : String(err) }, 'inline mode: reload failed; the running filter and lists stay');
    }
  }

  stop(): void {
    this.#filter?.stop();
    this.#filter = null;
  }

  counters(): Record<string, number> {
    return this.#filter?.counterValues() ?? {};
  }
}

function sourceOf(p: Packet): string {
  return p.ipVersion === 6 ? formatIPv6(p.buf, p.src6Offset) : formatIPv4(p.src4 >>> 0);
}
