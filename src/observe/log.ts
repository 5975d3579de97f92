import { pino, type DestinationStream } from 'pino';
import type { EventLogger } from '../model/logger.js';

/**
 * Structured logs: one JSON object per line with Elastic Common Schema field names (`@timestamp`,
 * `log.level`, `message`, `event.kind`, `event.action`, `source.ip`, `destination.ip`,
 * `destination.port`, `rule.name`), so they go straight into Elasticsearch, Loki or a SIEM; or, when the
 * output is a terminal, one readable line each.
 */

export type LogFormat = 'json' | 'pretty';

export interface LogOptions {
  level?: 'debug' | 'info' | 'warn' | 'error';
  /** Default: pretty when the stream is a terminal, JSON otherwise. */
  format?: LogFormat;
  /** Default: standard output. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}


export function createLogger(options: LogOptions = {}): EventLogger {
  const stream = options.stream ?? process.stdout;
  const format = options.format ?? (stream.isTTY === true ? 'pretty' : 'json');
  const destination: DestinationStream = format === 'pretty' ? prettyStream(stream) : (stream as DestinationStream);
  return pino(
    {
      level: options.level ?? 'info',
      messageKey: 'message',
      base: null,
      timestamp: () => `,"@timestamp":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ 'log.level': label }) },
    },
    destination,
  );
}

/** Turns each JSON line into `time level action source -> destination: message (extra fields)`. */
function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(line: string): void {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      out.write(`${formatPretty(record)}\n`);
    },
  };
}

const SHOWN = new Set(['@timestamp', 'log.level', 'message', 'event.action', 'source.ip', 'destination.ip', 'destination.port', 'event.kind']);

export function formatPretty(record: Record<string, unknown>): string {
  const time = typeof record['@timestamp'] === 'string' ? record['@timestamp'].slice(11, 23) : '';
  const level = String(record['log.level'] ?? '').toUpperCase().padEnd(5);
  const action = record['event.action'] !== undefined ? ` ${String(record['event.action'])}` : '';
  const src = record['source.ip'];
  const dst = record['destination.ip'];
  const port = record['destination.port'];
  const flow = src !== undefined || dst !== undefined ? ` ${src ?? '*'} -> ${dst ?? '*'}${port !== undefined ? `:${String(port)}` : ''}` : '';
  const extra = Object.entries(record)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level}${action}${flow}: ${String(record.message ?? '')}${extra ? `  (${extra})` : ''}`;
}
