/**
 * End to end: the real daemon in the protected namespace, a real nmap scan from the attacker namespace,
 * and the alert arriving at a webhook receiver that listens on the protected namespace's own loopback
 * (a node child started inside it), so nothing is reachable from outside the namespaces.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { startDaemon, waitUntil } from './support/daemon-process.js';
import type { WebhookPayload } from '../src/alert/webhook.js';


/** Prints `port N`, then one JSON line per request body it receives (answering 200). */
const RECEIVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => { process.stdout.write(JSON.stringify({ path: req.url, body: JSON.parse(body) }) + '\\n'); res.end('ok'); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
`;

let pair: NetnsPair;
let dir: string;
let receiver: ChildProcess;
let daemon: ChildProcess;
const received: { path: string; body: WebhookPayload }[] = [];
const logLines: Record<string, unknown>[] = [];

const until = (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-alerts-e2e-'));
  receiver = pair.spawn(pair.protectedNs, process.execPath, ['-e', RECEIVER]);
  let port = 0;
  createInterface({ input: receiver.stdout! }).on('line', (line) => {
    if (line.startsWith('port ')) port = Number(line.slice(5));
    else received.push(JSON.parse(line) as { path: string; body: WebhookPayload });
  });
  await until('the receiver', () => port > 0);

  const config = [
    'capture:',
    `  nflogGroup: ${7900 + (process.pid % 500)}`,
    'control:',
    `  socketPath: ${join(dir, 'control.sock')}`,
    'state:',
    `  dir: ${join(dir, 'state')}`,
    'alerts:',
    '  channels:',
    `    - { type: webhook, name: e2e, url: "http://127.0.0.1:${port}/alerts", minSeverity: low, batchWindowMs: 200, retry: { attempts: 3, initialDelayMs: 50, maxDelayMs: 200 } }`,
  ].join('\n');
  writeFileSync(join(dir, 'portwarden.yaml'), config);
  daemon = await startDaemon(pair, ['--config', join(dir, 'portwarden.yaml')], logLines);
});

after(() => {
  daemon?.kill('SIGKILL');
  receiver?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('an nmap SYN scan reaches the webhook as an incident alert and a ban alert', async () => {
  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-sS', '-p', '1-100', PROTECTED4]);
  const alerts = () => received.flatMap((r) => r.body.alerts);
  await until('the incident and ban alerts', () => alerts().some((a) => a['event.action'] === 'incident-scan') && alerts().some((a) => a['event.action'] === 'ban'));
  assert.ok(received.every((r) => r.path === '/alerts'));
  const inc = alerts().find((a) => a['event.action'] === 'incident-scan')!;
  assert.equal(inc['source.ip'], ATTACKER4);
  assert.equal(inc['destination.ip'], PROTECTED4);
  assert.equal(inc['portwarden.severity'], 'medium');
  assert.equal(inc.decision, 'ban');
  assert.deepEqual(inc['ban.targets'], [ATTACKER4]);
  assert.equal(inc.incident?.kind, 'scan');
  assert.ok((inc.incident?.ports?.count ?? 0) >= 5);
  const ban = alerts().find((a) => a['event.action'] === 'ban')!;
  assert.equal(ban['source.ip'], ATTACKER4);
  assert.equal(ban['ban.origin'], 'detection');
  assert.equal(received[0].body['alert.channel'], 'e2e');
  assert.ok(!logLines.some((l) => l['event.action'] === 'alert-delivery-failed'), 'no failed delivery');
});
