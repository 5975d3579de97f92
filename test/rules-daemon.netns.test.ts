/**
 * Rules and playbooks in the real daemon (test/support/testkit-netns.ts namespaces, real nftables, real
 * nmap, a real state database): a `ban` rule's ban reaches the kernel with the rule's length, an `ignore`
 * rule keeps another scanner out of the kernel, and the scan playbook's command gets the incident on its
 * stdin, with its outcome stored in the incident's record. Nothing touches the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateReadOnly } from '../src/state/database.js';
import { IncidentStore } from '../src/state/incident-store.js';
import { kernelBans as kernelBansOf } from './support/kernel-bans.js';
import { NetnsPair, PROTECTED4, systemNamespaces } from './support/testkit-netns.js';
import { startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';

const SCANNER = '10.77.0.30';
const QUIET = '10.77.0.31';
const RULE_BAN_SECONDS = 7_200;

let pair: NetnsPair;
let dir: string;
let stateDir: string;
let daemon: ChildProcess | null = null;
const logLines: LogLine[] = [];
const until = (what: string, check: () => boolean, timeoutMs = 40_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

const kernelBans = (): Map<string, number | null> => kernelBansOf(pair);

function scanFrom(source: string): void {
  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '--min-rate', '500', '-S', source, '-e', 'veth0', '-sS', '-p', '1-100', PROTECTED4]);
}

const incidentLine = (source: string) => logLines.find((l) => typeof l['event.action'] === 'string' && String(l['event.action']).startsWith('incident-') && l['source.ip'] === source);

before(async () => {
  pair = new NetnsPair();
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${SCANNER}/24`, 'dev', 'veth0']);
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${QUIET}/24`, 'dev', 'veth0']);
  dir = mkdtempSync(join(tmpdir(), 'pw-rules-daemon-'));
  stateDir = join(dir, 'state');
  const hook = join(dir, 'hook.sh');
  writeFileSync(hook, `#!/bin/sh\ncat > ${join(dir, 'hook-stdin.json')}\n`);
  chmodSync(hook, 0o755);
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${8100 + (process.pid % 300)}`,
      '  interfaces: [veth1]',
      'enforce:',
      // Rules act on detection's incidents; the kernel fast path would ban scanners before any rule is asked.
      '  fastPath: { enabled: false }',
      'control:',
      `  socketPath: ${join(dir, 'control.sock')}`,
      'state:',
      `  dir: ${stateDir}`,
      'observe:',
      '  listen: null',
      'rules:',
      '  inline:',
      // The first report of a scan holds the ports seen so far (nmap's order is random): match on what it always names.
      `    - { name: quiet-lab, filter: 'source == "${QUIET}"', action: ignore }`,
      `    - { name: ban-syn-scans, filter: 'kind == "scan" && class == "syn" && source == "${SCANNER}"', action: { ban: { duration: ${RULE_BAN_SECONDS}s } } }`,
      'playbooks:',
      '  scan:',
      `    - { command: { argv: [${hook}], timeout: 5s } }`,
    ].join('\n'),
  );
  daemon = await startDaemon(pair, ['--config', configPath], logLines);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test("an ignore rule keeps a scanner out of the kernel; a ban rule's ban reaches it with the rule's length", async () => {
  scanFrom(QUIET);
  await until('the ignored incident', () => incidentLine(QUIET) !== undefined);
  const quiet = incidentLine(QUIET)!;
  assert.equal(quiet.decision, 'ignore');
  assert.equal(quiet['rule.name'], 'quiet-lab');
  assert.match(String(quiet.message), /Ignored by rule quiet-lab/);

  scanFrom(SCANNER);
  // The kernel can have the ban before the daemon's log line reaches this process: wait for both.
  await until('the rule ban in the kernel and its incident logged', () => kernelBans().has(SCANNER) && incidentLine(SCANNER) !== undefined);
  assert.equal(kernelBans().get(SCANNER), RULE_BAN_SECONDS, "the rule's length, not the profile's hour");
  const banned = incidentLine(SCANNER)!;
  assert.equal(banned['rule.name'], 'ban-syn-scans');
  assert.equal(banned.decision, 'ban');
  assert.match(String(banned.message), /by rule ban-syn-scans/);
  assert.ok(!kernelBans().has(QUIET), 'the ignored scanner was never banned');
});

test("the scan playbook's command got the incident on stdin, and its outcome is in the stored record", async () => {
  const stdin = join(dir, 'hook-stdin.json');
  await until('the playbook command ran', () => existsSync(stdin) && readFileSync(stdin, 'utf8').endsWith('\n'));
  const got = JSON.parse(readFileSync(stdin, 'utf8')) as { kind: string; 'source.ip': string };
  assert.equal(got.kind, 'scan');
  assert.equal(got['source.ip'], SCANNER, 'the ignored scanner ran no playbook');
  await until('the step outcome stored', () => {
    const db = openStateReadOnly(stateDir);
    try {
      return new IncidentStore(db).forAddress(SCANNER, 10).some((i) => i.record['playbook.steps']?.[0]?.ok === true);
    } finally {
      db.close();
    }
  });
  await until('the step logged', () => logLines.some((l) => l['event.action'] === 'playbook-step' && l.playbook === 'scan'));
});

test('no namespace is left behind', async () => {
  const d = daemon!;
  daemon = null;
  const exited = new Promise<number | null>((resolve) => d.once('exit', (code) => resolve(code)));
  d.kill('SIGTERM');
  assert.equal(await exited, 0);
  pair.destroy();
  assert.deepEqual(systemNamespaces(pair.attacker), []);
  assert.deepEqual(systemNamespaces(pair.protectedNs), []);
});
