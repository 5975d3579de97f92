/**
 * The counters in the log: a periodic line with what changed since the last one, and a final line
 * at stop with every non-zero total. Read from the same CounterRegistry as status and Prometheus,
 * so the three never disagree about a count's name or value.
 */
import type { CounterRegistry } from '../model/counters.js';
import type { EventLogger } from '../model/logger.js';

/** Counters named in a line's message (all are in its `counters` field). */
const MESSAGE_COUNTERS = 6;

export interface CounterLine {
  fields: { 'event.action': 'counters'; counters: Record<string, number>; changed?: Record<string, number> };
  message: string;
}

/**
 * The periodic line: `changed` holds the increase of each counter that moved since `previous`
 * (a level that fell shows its negative change), `counters` every non-zero total; null when
 * nothing changed (a quiet host logs nothing).
 */
export function periodicCounterLine(now: Readonly<Record<string, number>>, previous: Readonly<Record<string, number>>): CounterLine | null {
  const changed: Record<string, number> = {};
  let moved = 0;
  for (const [name, value] of Object.entries(now)) {
    const d = value - (previous[name] ?? 0);
    if (d !== 0) {
      changed[name] = d;
      moved++;
    }
  }
  if (moved === 0) return null;
  const top = Object.entries(changed)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .slice(0, MESSAGE_COUNTERS)
    .map(([n, d]) => `${n} ${d > 0 ? '+' : ''}${d}`);
  return {
    fields: { 'event.action': 'counters', counters: nonZero(now), changed },
    message: `counters: ${top.join(', ')}${moved > MESSAGE_COUNTERS ? ` and ${moved - MESSAGE_COUNTERS} more` : ''}`,
  };
}

/** The final line: every non-zero total. */
export function finalCounterLine(now: Readonly<Record<string, number>>): CounterLine {
  const counters = nonZero(now);
  const named = Object.entries(counters).slice(0, MESSAGE_COUNTERS).map(([n, v]) => `${n} ${v}`);
  const more = Object.keys(counters).length - named.length;
  return { fields: { 'event.action': 'counters', counters }, message: `counters at stop: ${named.join(', ') || 'all zero'}${more > 0 ? ` and ${more} more` : ''}` };
}

/** Logs the registry every `everyMs` (only when something changed) and once more at stop. */
export class CounterLog {
  readonly #log: EventLogger;
  readonly #registry: CounterRegistry;
  readonly #everyMs: number;
  #timer: NodeJS.Timeout | null = null;
  #previous: Record<string, number> = {};

  constructor(log: EventLogger, registry: CounterRegistry, everyMs: number) {
    if (!Number.isInteger(everyMs) || everyMs < 1) throw new RangeError(`counter log interval ${everyMs} ms is not a positive integer`);
    this.#log = log;
    this.#registry = registry;
    this.#everyMs = everyMs;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#previous = this.#registry.values();
    this.#timer = setInterval(() => this.tick(), this.#everyMs);
    this.#timer.unref();
  }

  /** One periodic round (the timer calls it; public for a daemon that logs on its own schedule). */
  tick(): void {
    const now = this.#registry.values();
    const line = periodicCounterLine(now, this.#previous);
    this.#previous = now;
    if (line !== null) this.#log.info(line.fields, line.message);
  }

  /** Stops the timer and logs the final totals. Idempotent in effect: a second call logs them again. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const line = finalCounterLine(this.#registry.values());
    this.#log.info(line.fields, line.message);
  }
}

function nonZero(values: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(values)) if (v !== 0) out[name] = v;
  return out;
}
