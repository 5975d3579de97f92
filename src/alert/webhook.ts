/**
 * Generic webhook: each batch is one HTTP POST of a JSON object to the configured URL, with the
 * configured headers (an Authorization token, say). Any 2xx answer is delivery; anything else, a
 * refused connection or the attempt's timeout is a failure the dispatcher retries.
 */
import type { Alert } from './alert.js';
import type { AlertBatch, AlertChannel } from './channel.js';

export interface WebhookSettings {
  name: string;
  url: string;
  headers: Readonly<Record<string, string>>;
}

/** The JSON body: the batch with ECS-style top-level fields, then every alert in full. */
export interface WebhookPayload {
  '@timestamp': string;
  'event.kind': 'alert';
  'observer.product': 'portwarden';
  'alert.channel': string;
  /** Alerts in this message. */
  count: number;
  /** Alerts this channel's rate limit held back since the previous message. */
  suppressed: number;
  alerts: readonly Alert[];
}

export function webhookPayload(batch: AlertBatch, nowMs = Date.now()): WebhookPayload {
  return {
    '@timestamp': new Date(nowMs).toISOString(),
    'event.kind': 'alert',
    'observer.product': 'portwarden',
    'alert.channel': batch.channel,
    count: batch.alerts.length,
    suppressed: batch.suppressed,
    alerts: batch.alerts,
  };
}

/** POSTs `body` as JSON; resolves on 2xx, rejects with the status and the start of the answer otherwise. */
export async function postJson(url: string, body: unknown, headers: Readonly<Record<string, string>>, signal: AbortSignal): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'portwarden', ...headers },
    body: JSON.stringify(body),
    signal,
    redirect: 'error',
  });
  // Read the answer either way: it frees the connection, and a refusal usually says why.
  const answer = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${new URL(url).host}${answer ? `: ${answer.slice(0, 200)}` : ''}`);
}

export class WebhookChannel implements AlertChannel {
  readonly name: string;
  readonly #s: WebhookSettings;

  constructor(settings: WebhookSettings) {
    this.name = settings.name;
    this.#s = settings;
  }

  deliver(batch: AlertBatch, signal: AbortSignal): Promise<void> {
    return postJson(this.#s.url, webhookPayload(batch), this.#s.headers, signal);
  }

  async close(): Promise<void> {}
}
