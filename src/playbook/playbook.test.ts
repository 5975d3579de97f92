import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { parseConfigText } from '../config/load.js';
import type { Decision } from '../model/decision.js';
import type { IncidentRecord } from '../model/incident.js';
import type { EventLogger } from '../model/logger.js';
import { PlaybookRunner, type PlaybookActions } from './runner.js';
import type { PlaybookSettings } from './settings.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-playbook-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const record = (): IncidentRecord => ({
  kind: 'scan',
  class: 'syn',
  'source.ip': '203.0.113.5',
  'destination.ip': '198.51.100.2',
  probes: 40,
  first_seen: '2026-12-06T10:00:00.000Z',
  last_seen: '2026-12-06T10:00:05.000Z',
  confidence: 0.99,
  evidence: {},
});

function decision(r: IncidentRecord, over: Partial<Decision> = {}): Decision {
  return { action: 'alert', targets: [], durationSeconds: null, reason: 'Scan. Alert only.', incident: r, refused: [], bans: [], ...over };
}

function logger(lines: { level: string; fields: Record<string, unknown>; message: string }[]): EventLogger {
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => lines.push({ level, fields, message });
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as EventLogger;
}

test('playbook steps run in order; a failing and a hanging command are reported and the next steps still run; outcomes go into the record', async () => {
  const out = join(dir, 'stdin.json');
  const writer = script('writer.sh', `cat > ${out}`);
  const failing = script('failing.sh', 'echo "ticket system down" >&2; exit 3');
  const hanging = script('hanging.sh', 'sleep 30');
  const text = [
    'playbooks:',
    '  scan:',
    `    - { command: { argv: [${writer}] } }`,
    `    - { command: { argv: [${failing}] } }`,
    `    - { command: { argv: [${hanging}], timeout: 300ms } }`,
    '    - { ban: { duration: 2h } }',
    '    - { alert: { channels: [ops] } }',
    '    - { flood-guard: { port: 443, for: 10m } }',
    '    - respond',
  ].join('\n');
  const books: PlaybookSettings = parseConfigText(text, 'pw.yaml').playbooks;
  const did: string[] = [];
  const actions: PlaybookActions = {
    ban: (r, seconds) => (did.push(`ban ${r['source.ip']} ${seconds}`), `banned ${r['source.ip']}`),
    respond: null,
    alert: (_d, channels) => (did.push(`alert ${channels.join(',')}`), 'sent'),
    raiseProfile: null,
    floodGuard: null,
  };
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const annotated: IncidentRecord[] = [];
  const runner = new PlaybookRunner<string>({ settings: () => books, actions, log: logger(lines), annotate: (_h, r) => annotated.push(structuredClone(r)) });
  const r = record();
  const started = Date.now();
  runner.onRecorded(r, decision(r), 'handle-1');
  await runner.settle();
  assert.ok(Date.now() - started < 10_000, 'the hanging command was killed at its timeout, not waited for');
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), record(), 'the incident as JSON on stdin');
  assert.deepEqual(did, ['ban 203.0.113.5 7200', 'alert ops']);
  assert.equal(annotated.length, 1);
  const steps = annotated[0]['playbook.steps']!;
  assert.equal(annotated[0]['playbook.name'], 'scan');
  assert.deepEqual(
    steps.map((s) => [s.step, s.ok]),
    [
      [`command ${writer}`, true],
      [`command ${failing}`, false],
      [`command ${hanging}`, false],
      ['ban', true],
      ['alert', true],
      ['flood-guard', false],
      ['respond', false],
    ],
  );
  assert.match(steps[1].detail, /exit 3: ticket system down/);
  assert.match(steps[2].detail, /timed out after 300 ms; killed/);
  assert.match(steps[5].detail, /no flood guard/);
  assert.equal(lines.filter((l) => l.fields['event.action'] === 'playbook-step-failed').length, 4, 'each failure logged');
  assert.equal(lines.filter((l) => l.fields['event.action'] === 'playbook-step').length, 3);
});

test("a rule's playbook action runs that playbook; an ignored incident runs none; a missing playbook is logged", async () => {
  const marker = join(dir, 'ran.txt');
  const books = parseConfigText(['playbooks:', '  decoy-response:', `    - { command: { argv: [${script('touch.sh', `echo ran >> ${marker}`)}] } }`, '  scan:', '    - { ban: {} }'].join('\n'), 'pw.yaml').playbooks;
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const bans: string[] = [];
  const runner = new PlaybookRunner<number>({
    settings: () => books,
    actions: { ban: (r) => (bans.push(r['source.ip']!), 'ok'), respond: null, alert: () => 'ok', raiseProfile: null, floodGuard: null },
    log: logger(lines),
    annotate: () => undefined,
  });
  const r = record();
  runner.onRecorded(r, decision(r, { rule: { rule: 'decoys', action: { type: 'playbook', name: 'decoy-response' } } }), 1);
  runner.onRecorded(r, decision(r, { action: 'ignore', rule: { rule: 'quiet', action: { type: 'ignore' } } }), 2);
  runner.onRecorded(r, decision(r, { rule: { rule: 'x', action: { type: 'playbook', name: 'nowhere' } } }), 3);
  await runner.settle();
  assert.equal(readFileSync(marker, 'utf8'), 'ran\n', 'the named playbook ran once');
  assert.deepEqual(bans, [], "the kind's playbook did not run for an incident a rule sent elsewhere or ignored");
  assert.ok(lines.some((l) => l.fields['event.action'] === 'playbook-missing'));
});

test('bad playbooks are refused at their file line: unknown step, bad duration, empty argv', () => {
  const text = ['playbooks:', '  scan:', '    - { explode: {} }', '    - { raise-profile: { to: paranoid, for: soon } }', '    - { command: { argv: [] } }'].join('\n');
  assert.throws(
    () => parseConfigText(text, 'pw.yaml'),
    (err: unknown) =>
      err instanceof ConfigError &&
      /pw\.yaml:3:\d+: playbooks\.scan\[0\]\.explode: unknown step "explode"/.test(err.message) &&
      /pw\.yaml:4:\d+: playbooks\.scan\[1\]\.raise-profile\.for: must be a duration/.test(err.message) &&
      /pw\.yaml:5:\d+: playbooks\.scan\[2\]\.command\.argv: must name the program/.test(err.message),
  );
});
