/**
 * RFC 5424 syslog messages, and RFC 6587 octet-counting frames for stream transports:
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID PARAM="VALUE" …] MSG
 *
 * Header fields are PRINTUSASCII (33–126) with the RFC's length limits (HOSTNAME 255, APP-NAME 48,
 * PROCID 128, MSGID 32) or the NILVALUE `-`; SD-NAMEs exclude `=`, space, `]` and `"`; in a PARAM-VALUE
 * `"`, `\` and `]` are escaped with a backslash. A MSG with anything beyond ASCII is UTF-8 and starts
 * with the BOM, as §6.4 requires; plain ASCII goes as MSG-ANY without one.
 */
import type { Alert, Severity } from './alert.js';

const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type Facility = keyof typeof FACILITIES;

/** Our severities on syslog's scale (0 emerg … 7 debug): critical → crit, high → err, medium → warning, low → notice, info → info. */
export const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
const WARNING = 4;

/**
 * The SD-ID of our structured data. An SD-ID of one's own must carry `@` and an IANA private enterprise
 * number; 32473 is the one RFC 5612 reserves for documentation and examples, used until portwarden has
 * its own.
 */
const SD_ID = 'portwarden@32473';
const APP_NAME = 'portwarden';

export interface SyslogHeader {
  facility: Facility;
  hostname: string;
  procId: string | number;
}

/** A header field: PRINTUSASCII only (others become `_`), cut to `max`, `-` when empty. */
export function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** An SD-NAME: PRINTUSASCII except `=`, space, `]`, `"`; at most 32 characters. */
export function sdName(name: string): string {
  return name.replace(/[^\x21-\x7e]|[=\]"]/g, '_').slice(0, 32);
}

/** A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424 §6.3.3). */
export function sdValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

export function structuredData(id: string, params: readonly (readonly [string, string])[]): string {
  return `[${sdName(id)}${params.map(([k, v]) => ` ${sdName(k)}="${sdValue(v)}"`).join('')}]`;
}

export function formatMessage(opts: {
  facility: Facility;
  severity: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string | number;
  msgId: string;
  structuredData: string;
  message: string;
}): string {
  const pri = FACILITIES[opts.facility] * 8 + opts.severity;
  const msg = /[^\x00-\x7f]/.test(opts.message) ? `\ufeff${opts.message}` : opts.message;
  return `<${pri}>1 ${headerField(opts.timestamp, 64)} ${headerField(opts.hostname, 255)} ${headerField(opts.appName, 48)} ${headerField(String(opts.procId), 128)} ${headerField(opts.msgId, 32)} ${opts.structuredData || '-'}${msg ? ` ${msg}` : ''}`;
}

/** The alert's fields as SD-PARAMs, ECS names (all within SD-NAME's 32 characters). */
export function alertParams(a: Alert): [string, string][] {
  const p: [string, string][] = [
    ['event.action', a['event.action']],
    ['portwarden.severity', a['portwarden.severity']],
  ];
  if (a['rule.name'] !== undefined) p.push(['rule.name', a['rule.name']]);
  if (a['source.ip'] !== undefined) p.push(['source.ip', a['source.ip']]);
  if (a.sources !== undefined) p.push(['sources', a.sources.slice(0, 50).join(',') + (a.sources.length > 50 ? `,…(${a.sources.length})` : '')]);
  if (a['destination.ip'] !== undefined) p.push(['destination.ip', a['destination.ip']]);
  if (a['destination.port'] !== undefined) p.push(['destination.port', a['destination.port']]);
  if (a.decision !== undefined) p.push(['decision', a.decision]);
  if (a['ban.targets'] !== undefined) p.push(['ban.targets', a['ban.targets'].join(',')]);
  if (a['ban.seconds'] !== undefined) p.push(['ban.seconds', a['ban.seconds'] === null ? 'none' : String(a['ban.seconds'])]);
  if (a['ban.origin'] !== undefined) p.push(['ban.origin', a['ban.origin']]);
  return p;
}

/** One alert as an RFC 5424 message; MSGID is the event action (`incident-scan`, `ban`, …). */
export function formatAlert(a: Alert, h: SyslogHeader): string {
  return formatMessage({
    facility: h.facility,
    severity: SYSLOG_SEVERITY[a['portwarden.severity']],
    timestamp: a['@timestamp'],
    hostname: h.hostname,
    appName: APP_NAME,
    procId: h.procId,
    msgId: a['event.action'],
    structuredData: structuredData(SD_ID, alertParams(a)),
    message: a.message,
  });
}

/** The rate limit's report: a warning with the count in structured data. */
export function formatSuppressed(count: number, text: string, h: SyslogHeader, nowMs = Date.now()): string {
  return formatMessage({
    facility: h.facility,
    severity: WARNING,
    timestamp: new Date(nowMs).toISOString(),
    hostname: h.hostname,
    appName: APP_NAME,
    procId: h.procId,
    msgId: 'alerts-suppressed',
    structuredData: structuredData(SD_ID, [['suppressed', String(count)]]),
    message: text,
  });
}

/** Cuts a message to `maxBytes` of UTF-8 without splitting a character (datagram transports). */
export function truncateBytes(message: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetCountingFrame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}
