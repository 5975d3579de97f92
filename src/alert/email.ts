/**
 * Email through an SMTP relay (nodemailer): one mail per batch, plain text, one paragraph per alert with
 * its fields, and the subject from a template. `security`: starttls (upgrade required, the default), tls
 * (TLS from the first byte, port 465) or none (never encrypted: a relay on loopback only).
 */
import { humanDuration } from '../model/duration.js';
// nodemailer is loaded when the first mail goes out: a daemon without an email channel never holds it (~13 MiB).
import type { Transporter } from 'nodemailer';
import { alertLine, highestSeverity, type Alert } from './alert.js';
import { abortable, suppressedText, type AlertBatch, type AlertChannel } from './channel.js';

export interface EmailSettings {
  name: string;
  host: string;
  port: number;
  security: 'starttls' | 'tls' | 'none';
  auth?: { user: string; pass: string } | undefined;
  from: string;
  to: readonly string[];
  /** Placeholders: {severity} (highest in the batch), {count}, {summary}, {host}. */
  subject: string;
  timeoutMs: number;
}

/** The subject: the template with its placeholders filled, on one line (a newline would start a header). */
export function emailSubject(template: string, batch: AlertBatch): string {
  const { alerts } = batch;
  const first = alerts[0];
  const summary =
    first === undefined
      ? `${batch.suppressed} alerts suppressed`
      : alerts.length === 1
        ? `${first['event.action']}${first['source.ip'] !== undefined ? ` ${first['source.ip']}` : ''}`
        : `${alerts.length} alerts`;
  const values: Record<string, string> = {
    severity: alerts.length === 0 ? 'INFO' : highestSeverity(alerts).toUpperCase(),
    count: String(alerts.length),
    summary,
    host: first?.['host.hostname'] ?? '',
  };
  return template.replace(/\{(severity|count|summary|host)\}/g, (_, k: string) => values[k]).replace(/[\r\n]+/g, ' ');
}

const FIELDS: (keyof Alert)[] = ['@timestamp', 'rule.name', 'source.ip', 'destination.ip', 'destination.port', 'decision', 'ban.targets', 'ban.seconds', 'ban.expires', 'ban.origin', 'host.hostname'];

export function emailBody(batch: AlertBatch): string {
  const parts = batch.alerts.map((a) => {
    const lines = [alertLine(a)];
    for (const f of FIELDS) {
      const v = a[f];
      if (v === undefined) continue;
      // Seconds as people read them too: 365574 (4d 5h).
      if (f === 'ban.seconds') lines.push(`  ${f}: ${v === null ? 'permanent' : `${String(v)} (${humanDuration(v as number)})`}`);
      else lines.push(`  ${f}: ${Array.isArray(v) ? v.join(', ') : String(v)}`);
    }
    if (a.sources !== undefined) lines.push(`  sources: ${a.sources.join(', ')}`);
    return lines.join('\n');
  });
  if (batch.suppressed > 0) parts.push(`${suppressedText(batch.suppressed)}.`);
  return `${parts.join('\n\n')}\n\n-- \nportwarden (alert channel ${batch.channel})\n`;
}

export class EmailChannel implements AlertChannel {
  readonly name: string;
  readonly #s: EmailSettings;
  #transport: Promise<Transporter> | null = null;

  constructor(settings: EmailSettings) {
    this.name = settings.name;
    this.#s = settings;
  }

  #connection(): Promise<Transporter> {
    const settings = this.#s;
    this.#transport ??= import('nodemailer').then(({ createTransport }) =>
      createTransport({
        host: settings.host,
        port: settings.port,
        secure: settings.security === 'tls',
        requireTLS: settings.security === 'starttls',
        ignoreTLS: settings.security === 'none',
        auth: settings.auth !== undefined ? { user: settings.auth.user, pass: settings.auth.pass } : undefined,
        connectionTimeout: settings.timeoutMs,
        greetingTimeout: settings.timeoutMs,
        socketTimeout: settings.timeoutMs,
      }),
    );
    return this.#transport;
  }

  async deliver(batch: AlertBatch, signal: AbortSignal): Promise<void> {
    const transport = await abortable(this.#connection(), signal);
    const sent = transport.sendMail({
      from: this.#s.from,
      to: [...this.#s.to],
      subject: emailSubject(this.#s.subject, batch),
      text: emailBody(batch),
    });
    // nodemailer takes no signal; its own timeouts (the same timeoutMs) end the connection.
    await abortable(sent, signal);
  }

  async close(): Promise<void> {
    (await this.#transport)?.close();
  }
}
