import type { Logger } from 'pino';

/**
 * The event logger every stage writes to: pino's logger, writing JSON lines with Elastic Common Schema
 * field names (observe/log.ts makes it). Stages take it as a parameter; none creates its own.
 */
export type EventLogger = Logger;

/** What an event is about, in ECS terms; every field optional. */
export interface EventFields {
  'event.kind'?: 'alert' | 'event' | 'state';
  'event.action'?: string;
  'event.reason'?: string;
  'source.ip'?: string;
  'destination.ip'?: string;
  'destination.port'?: string;
  'rule.name'?: string;
  [field: string]: unknown;
}
