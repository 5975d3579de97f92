/**
 * Alert channels against real receivers on loopback: an HTTP server (webhook, Slack), an SMTP server
 * (smtp-server), syslog listeners on UDP, TCP and unix sockets. Each test asserts what arrived; counts,
 * never times.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { parseConfigText } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import type { Decision } from '../src/model/decision.js';
import type { IncidentRecord } from '../src/model/incident.js';
import { createLogger } from '../src/observe/log.js';
import { banAlert, decideAlert, dispatcherFromConfig, enforceFailureAlert, incidentAlert, type Alert, type AlertDispatcher, type DeliveryOutcome } from '../src/alert/index.js';
import type { WebhookPayload } from '../src/alert/webhook.js';
import type { SlackPayload } from '../src/alert/slack.js';
import { headerField, octetCountingFrame, sdName, sdValue, formatAlert, truncateBytes } from '../src/alert/rfc5424.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// ---- helpers ----

function logCapture(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ stream, format: 'json', level: 'debug' }), lines };
}

class Outcomes {
  readonly counts = new Map<string, number>();
  readonly observer = { onDelivery: (channel: string, outcome: DeliveryOutcome, n: number) => this.counts.set(`${channel}:${outcome}`, this.get(channel, outcome) + n) };
  get(channel: string, outcome: DeliveryOutcome): number {
    return this.counts.get(`${channel}:${outcome}`) ?? 0;
  }
}

function dispatcher(yamlChannels: string, outcomes = new Outcomes()): { d: AlertDispatcher; outcomes: Outcomes; lines: Record<string, unknown>[] } {
  const config = parseConfigText(`alerts:\n  channels:\n${yamlChannels}`, 'test.yaml');
  const { log, lines } = logCapture();
  return { d: dispatcherFromConfig(config.alerts, { log, observers: [outcomes.observer] }), outcomes, lines };
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function incident(src: string, kind: IncidentRecord['kind'] = 'scan'): IncidentRecord {
  return {
    kind,
    class: 'syn',
    'source.ip': src,
    'destination.ip': '198.51.100.10',
    ports: { count: 20, sample: ['tcp/22', 'tcp/80'] },
    probes: 40,
    first_seen: '2025-01-01T00:00:00.000Z',
    last_seen: '2025-01-01T00:00:01.000Z',
    confidence: 0.99,
    evidence: { trigger: 'trw' },
  };
}

/** A banned scan; its reason has the characters syslog and Slack must escape. */
function scanDecision(src = '192.0.2.7', action: Decision['action'] = 'ban'): Decision {
  return {
    action,
    targets: action === 'ban' ? [src] : [],
    durationSeconds: 3600,
    reason: `SYN port scan from ${src} against 198.51.100.10: 20 ports "tcp/22" [x] \\ <b> & done. Banned ${src} for 1 h.`,
    incident: incident(src),
    refused: [],
    bans: action === 'ban' ? [{ target: src, timeoutSeconds: 3600 }] : [],
  };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** An HTTP receiver on 127.0.0.1 answering with `statuses` in turn (then 200), or never (`hang`). */
async function httpReceiver(statuses: number[] = [], hang = false): Promise<{ url: string; requests: Received[]; close: () => Promise<void> }> {
  const requests: Received[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: JSON.parse(data) });
      if (hang) return;
      res.statusCode = statuses[n++] ?? 200;
      res.end(res.statusCode === 200 ? 'ok' : 'try again later');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A port on 127.0.0.1 nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---- RFC 5424 parsing, written from the RFC's ABNF (§6) to check what arrived ----

interface Syslog {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: { id: string; params: Record<string, string> }[];
  msg: string;
}

function parseSyslog(text: string): Syslog {
  const head = /^<(\d{1,3})>(\d{1,2}) (\S{1,64}) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) /.exec(text);
  assert.ok(head, `not an RFC 5424 header: ${text}`);
  let i = head[0].length;
  const sd: Syslog['sd'] = [];
  if (text[i] === '-') i++;
  else {
    while (text[i] === '[') {
      i++;
      const id = /^[^\s=\]"]{1,32}/.exec(text.slice(i));
      assert.ok(id, `bad SD-ID at ${i}: ${text}`);
      i += id[0].length;
      const params: Record<string, string> = {};
      while (text[i] === ' ') {
        i++;
        const name = /^[^\s=\]"]{1,32}/.exec(text.slice(i));
        assert.ok(name, `bad SD-NAME at ${i}: ${text}`);
        i += name[0].length;
        assert.equal(text.slice(i, i + 2), '="', `expected =" at ${i}`);
        i += 2;
        let value = '';
        for (;;) {
          const c = text[i++];
          assert.ok(c !== undefined, 'unterminated PARAM-VALUE');
          if (c === '\\' && ['"', '\\', ']'].includes(text[i])) value += text[i++];
          else if (c === '"') break;
          else {
            assert.notEqual(c, ']', 'an unescaped ] inside a PARAM-VALUE');
            value += c;
          }
        }
        params[name[0]] = value;
      }
      assert.equal(text[i], ']', `expected ] at ${i}: ${text}`);
      i++;
      sd.push({ id: id[0], params });
    }
  }
  let msg = '';
  if (i < text.length) {
    assert.equal(text[i], ' ', 'SP before MSG');
    msg = text.slice(i + 1);
  }
  return { pri: Number(head[1]), version: head[2], timestamp: head[3], hostname: head[4], appName: head[5], procId: head[6], msgId: head[7], sd, msg };
}

/** RFC 6587 octet-counting frames: `LEN SP MSG` back to back. */
function parseFrames(stream: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < stream.length) {
    const sp = stream.indexOf(0x20, i);
    const len = Number(stream.subarray(i, sp).toString('ascii'));
    assert.ok(Number.isInteger(len) && len > 0, `bad MSG-LEN at ${i}`);
    out.push(stream.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    i = sp + 1 + len;
  }
  return out;
}

const AUTH_HIGH = 4 * 8 + 3; // facility auth, severity err (our "high")
const AUTH_MEDIUM = 4 * 8 + 4; // warning

// ---- the alert model ----

describe('alerts: model and severities', () => {
  test('incidents, bans, decide events and enforcement failures map onto info < low < medium < high < critical', () => {
    const table: [Alert, string, number][] = [
      [incidentAlert(scanDecision('192.0.2.7', 'ignore')), 'info', 0],
      [banAlert('192.0.2.7', 3600, 'scan', 'detection'), 'low', 1],
      [decideAlert({ 'event.action': 'ban-refused', 'source.ip': '10.0.0.1', 'rule.name': 'scan', reason: 'ssh peer' }), 'low', 1],
      [incidentAlert(scanDecision()), 'medium', 2],
      [incidentAlert({ ...scanDecision(), incident: incident('192.0.2.7', 'distributed-scan') }), 'high', 3],
      [decideAlert({ 'event.action': 'ban-widened', 'source.ip': '192.0.2.0/24', 'rule.name': 'scan', reason: 'cap' }), 'high', 3],
      [incidentAlert({ ...scanDecision(), incident: { ...incident('x', 'flood'), 'source.ip': undefined } }), 'critical', 4],
      [enforceFailureAlert('kernel refused ban 192.0.2.7', '192.0.2.7'), 'critical', 4],
    ];
    for (const [a, word, rank] of table) assert.deepEqual([a['event.action'], a['portwarden.severity'], a['event.severity']], [a['event.action'], word, rank]);
    const a = incidentAlert(scanDecision());
    assert.equal(a['event.kind'], 'alert');
    assert.equal(a['rule.name'], 'scan/syn');
    assert.deepEqual(a['ban.targets'], ['192.0.2.7']);
    assert.equal(a.incident?.ports?.count, 20);
  });
});

// ---- config ----

describe('alerts: config', () => {
  test('a channel gets the dispatcher defaults; errors name file, line and field', () => {
    const c = parseConfigText('alerts:\n  channels:\n    - { type: webhook, url: "http://127.0.0.1:9/x" }\n', 'a.yaml');
    assert.deepEqual(c.alerts.channels[0], {
      type: 'webhook',
      url: 'http://127.0.0.1:9/x',
      headers: {},
      minSeverity: 'medium',
      batchWindowMs: 2000,
      ratePerMinute: 30,
      maxQueued: 1000,
      timeoutMs: 10000,
      retry: { attempts: 5, initialDelayMs: 1000, maxDelayMs: 60000 },
    });
    assert.equal(c.alerts.shutdownTimeoutMs, 5000);
    let err: unknown;
    try {
      parseConfigText(
        [
          'alerts:',
          '  channels:',
          '    - { type: pager, url: "http://x" }',
          '    - { type: webhook, url: "ftp://x" }',
          '    - { type: syslog, transport: carrier-pigeon }',
          '    - { type: email, host: mail, from: a@b, to: [] }',
          '    - { type: slack, url: "https://hooks.slack.com/x", colour: red }',
          '    - { type: webhook, name: dup, url: "http://a" }',
          '    - { type: webhook, name: dup, url: "http://b", minSeverity: loud }',
        ].join('\n'),
        'b.yaml',
      );
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.problems.map((p) => `${p.line}:${p.field}`),
      ['3:alerts.channels[0].type', '4:alerts.channels[1].url', '5:alerts.channels[2].transport', '6:alerts.channels[3].to', '7:alerts.channels[4].colour', '9:alerts.channels[6].name', '9:alerts.channels[6].minSeverity'],
      err.message,
    );
    assert.match(err.message, /must be webhook, slack, email or syslog/);
    assert.match(err.message, /"dup" is used twice/);
  });
});

describe('alerts: README', () => {
  test('the README example configures one channel of each type and loads', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Alerts'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section);
    assert.ok(block, 'a yaml block in README "Alerts"');
    const c = parseConfigText(block[1], 'README.md');
    assert.deepEqual(c.alerts.channels.map((ch) => ch.type), ['webhook', 'slack', 'email', 'syslog']);
    const names = dispatcherFromConfig(c.alerts, { log: logCapture().log }).channelNames;
    assert.deepEqual(names, ['webhook-1', 'slack-2', 'email-3', 'syslog-4']);
  });
});

// ---- webhook ----

describe('alerts: webhook', () => {
  test('POSTs the alerts as JSON with the configured headers', async () => {
    const r = await httpReceiver();
    const { d, outcomes } = dispatcher(`    - { type: webhook, name: hook, url: "${r.url}", headers: { Authorization: "Bearer s3cret" }, batchWindowMs: 0, minSeverity: info }\n`);
    d.publish(incidentAlert(scanDecision()));
    await until('one request', () => r.requests.length === 1);
    const { headers, body } = r.requests[0];
    assert.equal(headers.authorization, 'Bearer s3cret');
    assert.equal(headers['content-type'], 'application/json');
    const p = body as WebhookPayload;
    assert.equal(p['alert.channel'], 'hook');
    assert.equal(p.count, 1);
    assert.equal(p.suppressed, 0);
    const a = p.alerts[0];
    assert.equal(a['event.action'], 'incident-scan');
    assert.equal(a['source.ip'], '192.0.2.7');
    assert.equal(a['destination.ip'], '198.51.100.10');
    assert.equal(a['portwarden.severity'], 'medium');
    assert.equal(a.decision, 'ban');
    assert.equal(a.incident?.probes, 40);
    await until('the delivered count', () => outcomes.get('hook', 'delivered') === 1);
    await d.close(1000);
    await r.close();
  });

  test('a 500 is retried with backoff until the receiver accepts; each failure is logged with the channel', async () => {
    const r = await httpReceiver([500, 503]);
    const { d, outcomes, lines } = dispatcher(`    - { type: webhook, name: flaky, url: "${r.url}", batchWindowMs: 0, retry: { attempts: 4, initialDelayMs: 20, maxDelayMs: 40 } }\n`);
    d.publish(incidentAlert(scanDecision()));
    await until('delivery', () => outcomes.get('flaky', 'delivered') === 1);
    assert.equal(r.requests.length, 3, 'two refusals, then accepted');
    assert.equal(d.stats().flaky.attempts, 3);
    assert.deepEqual(r.requests.map((q) => (q.body as WebhookPayload).alerts[0]['source.ip']), ['192.0.2.7', '192.0.2.7', '192.0.2.7']);
    const failures = lines.filter((l) => l['event.action'] === 'alert-delivery-failed');
    assert.equal(failures.length, 2);
    assert.equal(failures[0]['alert.channel'], 'flaky');
    assert.match(String(failures[0].error), /HTTP 500/);
    assert.equal(outcomes.get('flaky', 'failed'), 0);
    await d.close(1000);
    await r.close();
  });

  test('after the last attempt it gives up, counts the alerts as failed and logs an error', async () => {
    const r = await httpReceiver([500, 500, 500, 500]);
    const { d, outcomes, lines } = dispatcher(`    - { type: webhook, name: down, url: "${r.url}", batchWindowMs: 0, retry: { attempts: 3, initialDelayMs: 10, maxDelayMs: 20 } }\n`);
    d.publish(incidentAlert(scanDecision()));
    await until('failure', () => outcomes.get('down', 'failed') === 1);
    assert.equal(r.requests.length, 3);
    assert.equal(outcomes.get('down', 'delivered'), 0);
    const gaveUp = lines.find((l) => l['event.action'] === 'alert-failed');
    assert.equal(gaveUp?.['log.level'], 'error');
    assert.equal(gaveUp?.['alert.channel'], 'down');
    await d.close(1000);
    await r.close();
  });

  test('alerts within the batching window arrive as one request', async () => {
    const r = await httpReceiver();
    const { d, outcomes } = dispatcher(`    - { type: webhook, name: batched, url: "${r.url}", batchWindowMs: 300 }\n`);
    for (const src of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']) d.publish(incidentAlert(scanDecision(src)));
    await until('delivery', () => outcomes.get('batched', 'delivered') === 4);
    assert.equal(r.requests.length, 1);
    const p = r.requests[0].body as WebhookPayload;
    assert.equal(p.count, 4);
    assert.deepEqual(p.alerts.map((a) => a['source.ip']), ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']);
    await d.close(1000);
    await r.close();
  });

  test('alerts below the minimum severity are not sent', async () => {
    const r = await httpReceiver();
    const { d, outcomes } = dispatcher(`    - { type: webhook, name: severe, url: "${r.url}", minSeverity: high, batchWindowMs: 100 }\n`);
    d.publish(incidentAlert(scanDecision())); // medium
    d.publish(banAlert('192.0.2.7', 60, 'scan', 'detection')); // low
    d.publish(enforceFailureAlert('kernel refused ban 192.0.2.9', '192.0.2.9')); // critical
    await until('delivery', () => outcomes.get('severe', 'delivered') === 1);
    await d.close(1000);
    assert.equal(r.requests.length, 1);
    const p = r.requests[0].body as WebhookPayload;
    assert.deepEqual(p.alerts.map((a) => a['event.action']), ['enforce-failed']);
    assert.equal(d.stats().severe.filtered, 2);
    await r.close();
  });

  test('the rate limit suppresses the excess and reports the count in the next delivery', async () => {
    const r = await httpReceiver();
    const { d, outcomes } = dispatcher(`    - { type: webhook, name: paced, url: "${r.url}", ratePerMinute: 2, batchWindowMs: 100 }\n`);
    for (let i = 1; i <= 7; i++) d.publish(incidentAlert(scanDecision(`192.0.2.${i}`)));
    assert.equal(outcomes.get('paced', 'suppressed'), 5, 'counted at once');
    await until('delivery', () => outcomes.get('paced', 'delivered') === 2);
    assert.equal(r.requests.length, 1);
    const p = r.requests[0].body as WebhookPayload;
    assert.deepEqual([p.count, p.suppressed], [2, 5]);
    assert.deepEqual(p.alerts.map((a) => a['source.ip']), ['192.0.2.1', '192.0.2.2']);
    assert.equal(d.stats().paced.suppressed, 5);
    await d.close(1000);
    await r.close();
  });

  test('close() sends what is pending at once, without waiting for the batching window, then takes no more', async () => {
    const r = await httpReceiver();
    const { d, outcomes } = dispatcher(`    - { type: webhook, name: flush, url: "${r.url}", batchWindowMs: 3600000 }\n`);
    d.publish(incidentAlert(scanDecision('192.0.2.1')));
    d.publish(incidentAlert(scanDecision('192.0.2.2')));
    assert.equal(r.requests.length, 0);
    await d.close(5000);
    assert.equal(r.requests.length, 1);
    assert.equal((r.requests[0].body as WebhookPayload).count, 2);
    assert.equal(outcomes.get('flush', 'delivered'), 2);
    d.publish(incidentAlert(scanDecision('192.0.2.3')));
    assert.equal(d.stats().flush.queued, 0, 'closed: nothing more is queued');
    await r.close();
  });

  test('publish never blocks: with a receiver that never answers, the queue stays at its bound and the rest is counted', async () => {
    const r = await httpReceiver([], true);
    const { d, outcomes, lines } = dispatcher(`    - { type: webhook, name: stuck, url: "${r.url}", maxQueued: 10, ratePerMinute: 100000, batchWindowMs: 50, timeoutMs: 60000, minSeverity: low }\n`);
    for (let i = 0; i < 5000; i++) d.publish(banAlert(`10.1.${i >> 8}.${i & 255}`, 60, 'scan', 'detection'));
    // All 5000 calls returned before the receiver saw anything: publish only queues.
    assert.equal(r.requests.length, 0);
    assert.equal(d.stats().stuck.queued, 10);
    assert.equal(d.stats().stuck.dropped, 4990);
    assert.equal(outcomes.get('stuck', 'dropped'), 4990);
    assert.equal(lines.filter((l) => l['event.action'] === 'alert-dropped').length, 1, 'one log line per overflow episode');
    await until('the hanging request', () => r.requests.length === 1);
    // Publishing more while the delivery hangs still returns at once, and the bound holds.
    for (let i = 0; i < 1000; i++) d.publish(banAlert('10.2.0.1', 60, 'scan', 'detection'));
    assert.equal(d.stats().stuck.queued, 10);
    // Shutdown gives up on the hanging delivery at its deadline and counts what never went out.
    await d.close(200);
    const s = d.stats().stuck;
    assert.equal(s.delivered, 0);
    assert.equal(s.failed + s.dropped, 6000);
    await r.close();
  });
});

// ---- slack ----

describe('alerts: slack', () => {
  test('an incoming-webhook payload with Block Kit blocks and a text fallback', async () => {
    const r = await httpReceiver();
    const { d, outcomes } = dispatcher(`    - { type: slack, name: ops, url: "${r.url}", ratePerMinute: 2, batchWindowMs: 100, minSeverity: low }\n`);
    d.publish(incidentAlert(scanDecision('192.0.2.7')));
    d.publish(banAlert('192.0.2.7', 3600, 'scan', 'detection'));
    d.publish(banAlert('192.0.2.8', 3600, 'scan', 'detection')); // suppressed
    await until('delivery', () => outcomes.get('ops', 'delivered') === 2);
    assert.equal(r.requests.length, 1);
    const p = r.requests[0].body as SlackPayload;
    assert.deepEqual(p.blocks.map((b) => b.type), ['header', 'section', 'divider', 'section', 'context']);
    const header = p.blocks[0] as { text: { type: string; text: string } };
    assert.equal(header.text.type, 'plain_text');
    assert.match(header.text.text, /^portwarden: 2 alerts on .+ \(MEDIUM\)$/);
    const section = p.blocks[1] as { text: { type: string; text: string }; fields: { type: string; text: string }[] };
    assert.equal(section.text.type, 'mrkdwn');
    assert.match(section.text.text, /SYN port scan from 192\.0\.2\.7/);
    assert.match(section.text.text, /&lt;b&gt; &amp; done/, 'mrkdwn escaped');
    assert.deepEqual(section.fields.map((f) => f.text.split('\n')[0]), ['*Severity*', '*Event*', '*Source*', '*Destination*', '*Decision*', '*Banned*']);
    assert.equal(section.fields[2].text, '*Source*\n192.0.2.7');
    const context = p.blocks[4] as { elements: { text: string }[] };
    assert.match(context.elements[0].text, /^1 more alert was suppressed/);
    assert.match(p.text, /\[MEDIUM\] incident-scan 192\.0\.2\.7/);
    assert.match(p.text, /\[LOW\] ban 192\.0\.2\.7/);
    await d.close(1000);
    await r.close();
  });
});

// ---- email ----

interface Mail {
  from: string;
  to: string[];
  data: string;
}

async function smtpReceiver(): Promise<{ port: number; mails: Mail[]; close: () => Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let data = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (data += c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), data });
        callback();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as { port: number }).port;
  return { port, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('alerts: email', () => {
  test('a real SMTP server receives the mail: envelope, headers, subject template, the incident in the body', async () => {
    const smtp = await smtpReceiver();
    const { d, outcomes } = dispatcher(
      `    - { type: email, name: mail, host: 127.0.0.1, port: ${smtp.port}, security: none, from: portwarden@example.com, to: [ops@example.com, sec@example.com], subject: "[pw] {severity} {count}: {summary}", batchWindowMs: 100 }\n`,
    );
    d.publish(incidentAlert(scanDecision('192.0.2.7')));
    d.publish(incidentAlert({ ...scanDecision('192.0.2.9'), incident: incident('192.0.2.9', 'distributed-scan') }));
    await until('delivery', () => outcomes.get('mail', 'delivered') === 2);
    assert.equal(smtp.mails.length, 1);
    const m = smtp.mails[0];
    assert.equal(m.from, 'portwarden@example.com');
    assert.deepEqual(m.to, ['ops@example.com', 'sec@example.com']);
    assert.match(m.data, /^From: portwarden@example\.com$/m);
    assert.match(m.data, /^To: ops@example\.com, sec@example\.com$/m);
    assert.match(m.data, /^Subject: \[pw\] HIGH 2: 2 alerts$/m);
    const body = m.data.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    assert.match(body, /\[MEDIUM\] incident-scan 192\.0\.2\.7: SYN port scan from 192\.0\.2\.7/);
    assert.match(body, /\[HIGH\] incident-distributed-scan 192\.0\.2\.9/);
    assert.match(body, /destination\.ip: 198\.51\.100\.10/);
    assert.match(body, /decision: ban/);
    await d.close(1000);
    await smtp.close();
  });

  test('a closed SMTP port: retried, then counted as failed; publish returned before any of it', async () => {
    const port = await closedPort();
    const { d, outcomes, lines } = dispatcher(
      `    - { type: email, name: nomail, host: 127.0.0.1, port: ${port}, security: none, from: a@example.com, to: [b@example.com], batchWindowMs: 0, retry: { attempts: 3, initialDelayMs: 10, maxDelayMs: 20 } }\n`,
    );
    d.publish(incidentAlert(scanDecision()));
    assert.deepEqual(d.stats().nomail, { delivered: 0, failed: 0, dropped: 0, suppressed: 0, filtered: 0, attempts: 0, queued: 1 });
    await until('failure', () => outcomes.get('nomail', 'failed') === 1);
    assert.equal(d.stats().nomail.attempts, 3);
    const failures = lines.filter((l) => l['event.action'] === 'alert-delivery-failed');
    assert.equal(failures.length, 3);
    assert.match(String(failures[0].error), /ECONNREFUSED/);
    await d.close(1000);
  });
});

// ---- syslog ----

describe('alerts: syslog RFC 5424', () => {
  test('formatting follows the RFC: header limits, NILVALUE, SD-NAME and PARAM-VALUE escaping, BOM for UTF-8', () => {
    assert.equal(headerField('', 32), '-');
    assert.equal(headerField('a b\u00e9c', 32), 'a_b_c');
    assert.equal(headerField('x'.repeat(40), 32).length, 32);
    assert.equal(sdName('a=b]c"d e'), 'a_b_c_d_e');
    assert.equal(sdValue('say "hi" [x] \\ done'), 'say \\"hi\\" [x\\] \\\\ done');
    const a = incidentAlert(scanDecision());
    const text = formatAlert(a, { facility: 'local3', hostname: 'web 1', procId: 4242 });
    const m = parseSyslog(text);
    assert.equal(m.pri, 19 * 8 + 4);
    assert.equal(m.version, '1');
    assert.equal(m.timestamp, a['@timestamp']);
    assert.equal(m.hostname, 'web_1');
    assert.deepEqual([m.appName, m.procId, m.msgId], ['portwarden', '4242', 'incident-scan']);
    assert.equal(m.sd[0].id, 'portwarden@32473');
    assert.equal(m.sd[0].params['source.ip'], '192.0.2.7');
    assert.equal(m.sd[0].params['rule.name'], 'scan/syn');
    assert.equal(m.msg, a.message, 'MSG unchanged, no BOM for ASCII');
    const utf8 = parseSyslog(formatAlert({ ...a, message: 'Scan über Port 22' }, { facility: 'auth', hostname: 'h', procId: 1 }));
    assert.equal(utf8.msg, '\ufeffScan über Port 22');
    // Truncation never splits a character; octet counting counts bytes.
    assert.equal(truncateBytes('aé', 2).toString('utf8'), 'a');
    assert.equal(octetCountingFrame(Buffer.from('é')).toString('utf8'), '2 é');
  });

  test('UDP: one datagram per alert, parsed as RFC 5424, with the alert in structured data', async () => {
    const sock = createSocket('udp4');
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString('utf8')));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const { d, outcomes } = dispatcher(`    - { type: syslog, name: udp, transport: udp, host: 127.0.0.1, port: ${sock.address().port}, batchWindowMs: 100, ratePerMinute: 1 }\n`);
    d.publish(incidentAlert({ ...scanDecision('192.0.2.7'), incident: incident('192.0.2.7', 'distributed-scan') }));
    d.publish(incidentAlert(scanDecision('192.0.2.8'))); // suppressed by the rate limit
    await until('delivery', () => outcomes.get('udp', 'delivered') === 1 && got.length === 2);
    const [m, summary] = got.map(parseSyslog);
    assert.equal(m.pri, AUTH_HIGH);
    assert.equal(m.msgId, 'incident-distributed-scan');
    assert.equal(m.procId, String(process.pid));
    assert.deepEqual(m.sd[0].params, {
      'event.action': 'incident-distributed-scan',
      'portwarden.severity': 'high',
      'rule.name': 'distributed-scan/syn',
      'source.ip': '192.0.2.7',
      'destination.ip': '198.51.100.10',
      decision: 'ban',
      'ban.targets': '192.0.2.7',
    });
    assert.match(m.msg, /"tcp\/22" \[x\]/);
    assert.equal(summary.pri, AUTH_MEDIUM);
    assert.equal(summary.msgId, 'alerts-suppressed');
    assert.equal(summary.sd[0].params.suppressed, '1');
    await d.close(1000);
    sock.close();
  });

  test('TCP: RFC 6587 octet-counting frames on one connection per batch', async () => {
    const chunks: Buffer[] = [];
    let connections = 0;
    const server: TcpServer = createTcpServer((s) => {
      connections++;
      s.on('data', (c: Buffer) => chunks.push(c));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const { d, outcomes } = dispatcher(`    - { type: syslog, name: tcp, transport: tcp, host: 127.0.0.1, port: ${port}, batchWindowMs: 100, facility: local0, minSeverity: low }\n`);
    d.publish(incidentAlert(scanDecision('192.0.2.7')));
    d.publish(banAlert('192.0.2.7', null, 'operator', 'operator'));
    d.publish(incidentAlert(scanDecision('192.0.2.8')));
    await until('delivery', () => outcomes.get('tcp', 'delivered') === 3);
    await until('all bytes', () => {
      try {
        return parseFrames(Buffer.concat(chunks)).length === 3;
      } catch {
        return false;
      }
    });
    const frames = parseFrames(Buffer.concat(chunks)).map(parseSyslog);
    assert.equal(connections, 1);
    assert.deepEqual(frames.map((f) => [f.pri, f.msgId, f.sd[0].params['source.ip']]), [
      [16 * 8 + 4, 'incident-scan', '192.0.2.7'],
      [16 * 8 + 5, 'ban', '192.0.2.7'],
      [16 * 8 + 4, 'incident-scan', '192.0.2.8'],
    ]);
    assert.equal(frames[1].sd[0].params['ban.seconds'], 'none');
    await d.close(1000);
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('unix datagram socket (/dev/log style) and unix stream socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-alert-'));
    dirs.push(dir);
    const dgramPath = join(dir, 'log.dgram');
    // The receiving side in python (node cannot bind unix datagram sockets): one hex line per datagram.
    const receiver = spawn('python3', [
      '-u',
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ready")\nwhile True:\n  print(s.recv(65536).hex())',
      dgramPath,
    ]);
    const datagrams: string[] = [];
    let ready = false;
    createInterface({ input: receiver.stdout }).on('line', (l) => (l === 'ready' ? (ready = true) : datagrams.push(Buffer.from(l, 'hex').toString('utf8'))));
    await until('the python receiver', () => ready);

    const streamPath = join(dir, 'log.stream');
    const chunks: Buffer[] = [];
    const server = createTcpServer((s) => s.on('data', (c: Buffer) => chunks.push(c)));
    await new Promise<void>((r) => server.listen(streamPath, r));

    const { d, outcomes } = dispatcher(
      [
        `    - { type: syslog, name: devlog, transport: unix, path: ${dgramPath}, batchWindowMs: 50, retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 } }`,
        `    - { type: syslog, name: stream, transport: unix-stream, path: ${streamPath}, batchWindowMs: 50 }`,
        '',
      ].join('\n'),
    );
    d.publish(incidentAlert(scanDecision('192.0.2.7')));
    d.publish(incidentAlert(scanDecision('192.0.2.8')));
    await until('delivery', () => outcomes.get('devlog', 'delivered') === 2 && outcomes.get('stream', 'delivered') === 2 && datagrams.length === 2);
    assert.deepEqual(datagrams.map((t) => parseSyslog(t).sd[0].params['source.ip']), ['192.0.2.7', '192.0.2.8']);
    await until('stream bytes', () => {
      try {
        return parseFrames(Buffer.concat(chunks)).length === 2;
      } catch {
        return false;
      }
    });
    assert.deepEqual(parseFrames(Buffer.concat(chunks)).map((t) => parseSyslog(t).msgId), ['incident-scan', 'incident-scan']);

    // The receiver gone: the datagram channel fails, is retried and counted.
    receiver.kill();
    rmSync(dgramPath);
    d.publish(incidentAlert(scanDecision('192.0.2.9')));
    await until('failure', () => outcomes.get('devlog', 'failed') === 1, 60_000);
    await d.close(1000);
    await new Promise<void>((r) => server.close(() => r()));
  });
});

test('a ban alert states the ban\'s real length and end (an escalated 365,574 s is 4d 5h)', () => {
  const a = banAlert('203.0.113.9', 365_574, 'scan', 'detection', 0);
  assert.equal(a.message, 'ban 203.0.113.9 for 4d 5h, until 1970-01-05 05:32 UTC: scan');
  assert.equal(a['ban.expires'], '1970-01-05T05:32:54.000Z');
  const forever = banAlert('203.0.113.9', null, 'scan', 'operator', 0);
  assert.equal(forever.message, 'ban 203.0.113.9 permanently: scan');
  assert.equal(forever['ban.expires'], null);
});
