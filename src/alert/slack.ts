/**
 * Slack incoming webhook: one message per batch, with Block Kit blocks (a header, one section per
 * alert with its fields, a context line for what was left out) and a plain `text` fallback for
 * notifications and clients without blocks.
 */
import { alertLine, highestSeverity, type Alert } from './alert.js';
import { suppressedText, type AlertBatch, type AlertChannel } from './channel.js';
import { postJson } from './webhook.js';

export interface SlackSettings {
  name: string;
  url: string;
}

/** Alerts shown as their own section; Slack allows 50 blocks a message, and past this a list stops being read. */
export const SLACK_MAX_SECTIONS = 20;

type TextObject = { type: 'plain_text' | 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: TextObject }
  | { type: 'section'; text: TextObject; fields?: TextObject[] }
  | { type: 'context'; elements: TextObject[] }
  | { type: 'divider' };

export interface SlackPayload {
  text: string;
  blocks: SlackBlock[];
}

/** Slack's mrkdwn needs only these three escaped (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function field(label: string, value: string): TextObject {
  return { type: 'mrkdwn', text: clip(`*${label}*\n${slackEscape(value)}`, 2000) };
}

function alertSection(a: Alert): SlackBlock {
  const fields: TextObject[] = [field('Severity', a['portwarden.severity'].toUpperCase()), field('Event', a['event.action'])];
  if (a['source.ip'] !== undefined) fields.push(field('Source', a['source.ip']));
  else if (a.sources !== undefined) fields.push(field('Sources', `${a.sources.length}: ${a.sources.slice(0, 5).join(', ')}${a.sources.length > 5 ? ', …' : ''}`));
  if (a['destination.ip'] !== undefined) fields.push(field('Destination', `${a['destination.ip']}${a['destination.port'] !== undefined ? ` ${a['destination.port']}` : ''}`));
  if (a.decision !== undefined) fields.push(field('Decision', a.decision));
  if (a['ban.targets'] !== undefined) fields.push(field('Banned', a['ban.targets'].join(', ')));
  return { type: 'section', text: { type: 'mrkdwn', text: clip(slackEscape(a.message), 3000) }, fields: fields.slice(0, 10) };
}

export function slackPayload(batch: AlertBatch): SlackPayload {
  const { alerts, suppressed } = batch;
  const host = alerts[0]?.['host.hostname'];
  const title =
    alerts.length === 0
      ? 'portwarden: alerts suppressed'
      : `portwarden: ${alerts.length} alert${alerts.length === 1 ? '' : 's'}${host !== undefined ? ` on ${host}` : ''} (${highestSeverity(alerts).toUpperCase()})`;
  const blocks: SlackBlock[] = [{ type: 'header', text: { type: 'plain_text', text: clip(title, 150) } }];
  alerts.slice(0, SLACK_MAX_SECTIONS).forEach((a, i) => {
    if (i > 0) blocks.push({ type: 'divider' });
    blocks.push(alertSection(a));
  });
  const notes: string[] = [];
  if (alerts.length > SLACK_MAX_SECTIONS) notes.push(`${alerts.length - SLACK_MAX_SECTIONS} more alerts in this batch are not shown`);
  if (suppressed > 0) notes.push(suppressedText(suppressed));
  if (notes.length > 0) blocks.push({ type: 'context', elements: notes.map((n) => ({ type: 'mrkdwn', text: slackEscape(n) })) });
  const lines = [title, ...alerts.slice(0, SLACK_MAX_SECTIONS).map(alertLine), ...notes];
  return { text: clip(lines.join('\n'), 3000), blocks };
}

export class SlackChannel implements AlertChannel {
  readonly name: string;
  readonly #url: string;

  constructor(settings: SlackSettings) {
    this.name = settings.name;
    this.#url = settings.url;
  }

  deliver(batch: AlertBatch, signal: AbortSignal): Promise<void> {
    return postJson(this.#url, slackPayload(batch), {}, signal);
  }

  async close(): Promise<void> {}
}
