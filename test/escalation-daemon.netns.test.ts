/**
 * Escalation for repeat offenders with the real daemon (test/support/testkit-netns.ts namespaces, real
 * nftables, real nmap, a real SQLite file in a temporary state directory): a scanner banned once,
 * released, and caught scanning again gets base × factor ban, within the configured jitter, and the
 * log line, the kernel's timeout and the database row all carry it as the 2nd offence. Nothing touches
 * the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { humanDuration } from '../src/model/duration.js';
import { openStateReadOnly } from '../src/state/database.js';
import { BanStore } from '../src/state/ban-store.js';
import { OffenderStore } from '../src/state/offender-store.js';
import { kernelBans as kernelBansOf } from './support/kernel-bans.js';
import { NetnsPair, PROTECTED4, systemNamespaces } from './support/testkit-netns.js';
import { controlCli, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';

const SCANNER = '10.77.0.30';
const BASE = 10;
const FACTOR = 3;
const JITTER = 0.05;

let pair: NetnsPair;
let dir: string;
let stateDir: string;
let socket: string;
let daemon: ChildProcess | null = null;
const logLines: LogLine[] = [];

const until = (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

const cli = (...args: string[]) => controlCli(socket, ...args);

const kernelBans = (): Map<string, number | null> => kernelBansOf(pair);

function scan(): void {
  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '--min-rate', '500', '-S', SCANNER, '-e', 'veth0', '-sS', '-p', '1-100', PROTECTED4]);
}

const banLines = (): LogLine[] => logLines.filter((l) => l['event.action'] === 'ban' && l['source.ip'] === SCANNER);

before(async () => {
  pair = new NetnsPair();
  pair.must(pair.attacker, 'ip', ['addr', 'add', `${SCANNER}/24`, 'dev', 'veth0']);
  dir = mkdtempSync(join(tmpdir(), 'pw-escalation-'));
  stateDir = join(dir, 'state');
  socket = join(dir, 'control.sock');
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    [
      'capture:',
      `  nflogGroup: ${8400 + (process.pid % 300)}`,
      '  interfaces: [veth1]',
      'enforce:',
      // Detection alone decides here: the kernel fast path would hold the scanner past the unban.
      '  fastPath: { enabled: false }',
      'decide:',
      `  banSeconds: { scan: ${BASE} }`,
      `  escalation: { enabled: true, factor: ${FACTOR}, jitterRatio: ${JITTER}, maxBanSeconds: 3600, permanentAfter: 0 }`,
      'control:',
      `  socketPath: ${socket}`,
      'state:',
      `  dir: ${stateDir}`,
      'observe:',
      '  listen: null',
    ].join('\n'),
  );
  daemon = await startDaemon(pair, ['--config', configPath], logLines);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('a scanner caught again after its ban was lifted is banned base × factor (within the jitter), as its 2nd offence', async () => {
  // 1st offence: the profile's ban, exactly.
  scan();
  await until('the first ban', () => banLines().length === 1 && kernelBans().has(SCANNER));
  const first = banLines()[0];
  assert.equal(first.origin, 'detection');
  assert.equal(first['event.duration'], BASE);
  assert.match(String(first['ban.duration_why']), new RegExp(`^1st offence \\(1 in all, reputation 1\\.00\\): ${BASE} s, the profile's ban$`));
  assert.equal(kernelBans().get(SCANNER), BASE);

  // Lifted by the operator before it lapses, then the same scanner comes back.
  const unban = cli('unban', SCANNER);
  assert.equal(unban.status, 0, unban.stderr);
  assert.ok(!kernelBans().has(SCANNER), 'unbanned in the kernel');
  // Detection reports an open incident again at most once a second: a scanner back within that second
  // of its first report would be judged on its next probe after it. Come back a little later.
  const sinceFirst = Date.now() - Date.parse(String(first['@timestamp']));
  if (sinceFirst < 1_500) await new Promise((r) => setTimeout(r, 1_500 - sinceFirst));
  scan();
  await until('the second ban', () => banLines().length === 2 && kernelBans().has(SCANNER));
  const second = banLines()[1];
  const seconds = second['event.duration'];
  assert.equal(typeof seconds, 'number');
  const low = Math.round(BASE * FACTOR * (1 - JITTER));
  const high = Math.round(BASE * FACTOR * (1 + JITTER));
  assert.ok((seconds as number) >= low && (seconds as number) <= high, `2nd ban ${String(seconds)} s, expected ${low}…${high} s (${BASE} s × ${FACTOR} ± ${JITTER * 100} %)`);
  const why = String(second['ban.duration_why']);
  assert.match(why, new RegExp(`^2nd offence \\(2 in all, reputation \\d\\.\\d\\d\\): ${BASE} s × ${FACTOR}\\^1 = ${BASE * FACTOR} s, jitter [+−]\\d+ % → ${String(seconds)} s$`), why);
  assert.match(String(second.message), new RegExp(`ban ${SCANNER.replace(/\./g, '\\.')} for ${humanDuration(seconds as number)}, until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC \\(2nd offence`), String(second.message));
  // The kernel holds it for exactly that long.
  assert.equal(kernelBans().get(SCANNER), seconds);

  // The database: both bans, the first lifted, each with its arithmetic; the offender counted twice.
  const db = openStateReadOnly(stateDir);
  try {
    const rows = new BanStore(db).forTarget(SCANNER).sort((a, b) => a.createdMs - b.createdMs);
    assert.equal(rows.length, 2, JSON.stringify(rows));
    assert.equal(rows[0].durationWhy, first['ban.duration_why']);
    assert.notEqual(rows[0].liftedMs, null, 'the first ban is recorded as lifted');
    assert.equal(rows[0].expiresMs! - rows[0].createdMs, BASE * 1000);
    assert.equal(rows[1].durationWhy, why);
    assert.equal(rows[1].liftedMs, null);
    assert.equal(rows[1].expiresMs! - rows[1].createdMs, (seconds as number) * 1000);
    assert.equal(new OffenderStore(db).get(SCANNER)?.offences, 2);
  } finally {
    db.close();
  }
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
