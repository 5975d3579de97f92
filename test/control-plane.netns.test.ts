/**
 * The control plane against a real daemon in a namespace: a batch of 10,000 bans written at once on one
 * connection (each answered, in order, and in the kernel), reloads that cannot apply a key (named in the
 * answer and the log, the old values kept), refused reloads logged, `reload` without --config, and what a
 * first run is told: the start log (what is watched and protected) and `status` (which daemon it is).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { controlCli, logged, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let socket: string;
let configPath: string;
const log: LogLine[] = [];
const GROUP = 7700 + (process.pid % 90);

function config(extra: string[] = [], paths: { socket?: string; state?: string } = {}): string {
  return [`capture:`, `  nflogGroup: ${GROUP}`, 'control:', `  socketPath: ${paths.socket ?? socket}`, 'state:', `  dir: ${paths.state ?? join(dir, 'state')}`, 'observe:', '  listen: null', ...extra, ''].join('\n');
}

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-control-plane-'));
  socket = join(dir, 'run', 'control.sock');
  configPath = join(dir, 'portwarden.yaml');
  writeFileSync(configPath, config());
  daemon = await startDaemon(pair, ['--config', configPath], log);
});

after(() => {
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => controlCli(socket, ...args);
const until = (what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> => waitUntil(what, check, timeoutMs, log);
const line = (action: string): LogLine => log.find((l) => l['event.action'] === action) ?? assert.fail(`no ${action} line in the log`);

function kernelBans4(): Set<string> {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4']);
  const set = (JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables.find((o) => o.set !== undefined)!.set!;
  return new Set((set.elem ?? []).map((e) => (typeof e === 'string' ? e : ((e as { elem: { val: string } }).elem.val))));
}

test('the start log says what is watched (every interface: there is no default route) and what is never banned', () => {
  const watching = line('watching');
  assert.equal(watching['log.level'], 'warn', 'no default route is a warning');
  assert.deepEqual(watching['capture.interfaces'], []);
  assert.equal(watching['capture.method'], 'nflog');
  assert.match(String(watching.message), /watching every interface but loopback, with nflog \(there is no default route/);
  const protecting = line('protecting');
  assert.ok((protecting['guard.own'] as number) >= 2, 'the namespace has its own addresses (IPv4 and IPv6)');
  assert.ok((protecting['guard.sample'] as string[]).includes(PROTECTED4));
  assert.match(String(protecting.message), new RegExp(`never banned: loopback, \\d+ own addresses \\(.*${PROTECTED4.replace(/\./g, '\\.')}.*\\), 0 default gateways, \\d+ resolvers?`));
  assert.match(String(line('started').message), new RegExp(`config ${configPath}; control socket ${socket}; state ${join(dir, 'state')}`));
});

test('status names the interfaces watched, the socket, the state dir, the profile and the config file', () => {
  const json = cli('status', '--json');
  assert.equal(json.status, 0, json.stderr);
  const s = JSON.parse(json.stdout) as Record<string, unknown>;
  assert.deepEqual([s.interfaces, s.allInterfaces, s.captureMethod, s.socket, s.stateDir, s.profile, s.configFile], [[], true, 'nflog', socket, join(dir, 'state'), 'normal', configPath]);
  // The keys it had before stay.
  for (const key of ['version', 'startedAt', 'backend', 'dryRun', 'bans', 'incidents', 'counters']) assert.ok(key in s, key);
  const text = cli('status');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /profile normal/);
  assert.match(text.stdout, /watching: every interface but loopback \(no default route\), with nflog/);
  assert.ok(text.stdout.includes(`config: ${configPath}; control socket: ${socket}; state: ${join(dir, 'state')}`), text.stdout);
});

test('10,000 bans written at once on one connection: each answered, in order, and in the kernel', async () => {
  const targets = Array.from({ length: 10_000 }, (_, i) => `10.200.${i >> 8}.${i & 255}`);
  const payload = targets.map((target) => `${JSON.stringify({ command: 'ban', target, seconds: 3600, reason: 'batch' })}\n`).join('');
  assert.ok(Buffer.byteLength(payload) > 10 * 64 * 1024);
  const replies = await new Promise<string[]>((resolve, reject) => {
    const s = connect(socket, () => s.write(payload));
    let data = '';
    let count = 0;
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      data += chunk;
      count += chunk.split('\n').length - 1;
      if (count >= targets.length) {
        s.end();
        resolve(data.split('\n').filter((l) => l.length > 0));
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed after ${count} replies`)));
  });
  assert.equal(replies.length, targets.length);
  const answered = replies.map((r) => JSON.parse(r) as { ok: boolean; result?: { target: string }; error?: { message: string } });
  const refused = answered.filter((r) => !r.ok);
  assert.deepEqual(refused.slice(0, 3), [], 'no ban refused');
  assert.deepEqual(answered.map((r) => r.result!.target), targets, 'answered in the order asked');
  const inKernel = kernelBans4();
  const missing = targets.filter((t) => !inKernel.has(t));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of the batch missing from the kernel`);
  // And recorded: every one has its row in the state database.
  const rows = spawnSync('sqlite3', ['-readonly', join(dir, 'state', 'state.db'), "SELECT count(DISTINCT target) FROM bans WHERE reason = 'batch' AND lifted_ms IS NULL"], { encoding: 'utf8' });
  assert.equal(rows.stdout.trim(), String(targets.length), rows.stderr);
  // The daemon serves the next connection as before.
  assert.equal(cli('status').status, 0);
});

test('a reload that changes keys only a restart applies names them, in the answer and the log, and keeps the old values', async () => {
  writeFileSync(configPath, config(['  listen: 127.0.0.1:9799', 'decide:', '  banSeconds: { scan: 900 }'], { socket: join(dir, 'run2', 'control.sock'), state: join(dir, 'state2') }).replace('observe:\n  listen: null\n', 'observe:\n'));
  const r = cli('reload');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^reloaded \(profile normal\); not applied until a restart: control\.socketPath, observe\.listen, state\.dir$/m);
  assert.doesNotMatch(r.stdout, /^reloaded \(profile normal\)$/m);
  await until('the restart warning', () => logged(log, 'reload-restart-needed'));
  const warned = line('reload-restart-needed');
  assert.deepEqual(warned['restart.keys'], ['control.socketPath', 'observe.listen', 'state.dir']);
  // Still the same daemon on the same socket and state.
  const s = JSON.parse(cli('status', '--json').stdout) as { socket: string; stateDir: string };
  assert.deepEqual([s.socket, s.stateDir], [socket, join(dir, 'state')]);
  // Only restart keys left to change: nothing reloadable changed, and it says so again.
  const again = cli('reload');
  assert.match(again.stdout, /^nothing reloadable changed; not applied until a restart: control\.socketPath, observe\.listen, state\.dir$/m);
  writeFileSync(configPath, config());
  assert.match(cli('reload').stdout, /^reloaded \(profile normal\)$/m, 'back to the started values: decide changes back, nothing waits');
});

test('reload has no --config option: the daemon re-reads its own file', () => {
  const r = cli('reload', '--config', configPath);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option '--config'/);
  const help = controlCli(socket, 'reload', '--help');
  assert.doesNotMatch(help.stdout, /--config/);
});

test('a reload refused through the CLI is logged by the daemon, and the old config stays', async () => {
  writeFileSync(configPath, 'decide:\n  banSeconds: { scan: -5 }\n');
  const before = log.filter((l) => l['event.action'] === 'reload-refused').length;
  const r = cli('reload');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /PW_ERR_CONFIG_INVALID/);
  await until('the refusal in the log', () => log.filter((l) => l['event.action'] === 'reload-refused').length > before);
  assert.equal(cli('status').status, 0);
  writeFileSync(configPath, config());
});

test('with a default route, the daemon watches its interface and protects the gateway', async () => {
  const exited = new Promise((resolve) => daemon.once('exit', resolve));
  daemon.kill('SIGTERM');
  await exited;
  pair.must(pair.protectedNs, 'ip', ['route', 'add', 'default', 'via', ATTACKER4]);
  const restart: LogLine[] = [];
  daemon = await startDaemon(pair, ['--config', configPath], restart);
  const watching = restart.find((l) => l['event.action'] === 'watching')!;
  assert.deepEqual(watching['capture.interfaces'], [pair.plan.protectedDev]);
  assert.match(String(watching.message), new RegExp(`watching ${pair.plan.protectedDev} \\(the default route's\\), with nflog`));
  const protecting = restart.find((l) => l['event.action'] === 'protecting')!;
  assert.equal(protecting['guard.gateways'], 1);
  assert.match(String(protecting.message), new RegExp(`1 default gateway \\(${ATTACKER4.replace(/\./g, '\\.')}\\)`));
  const s = JSON.parse(cli('status', '--json').stdout) as { interfaces: string[]; allInterfaces: boolean };
  assert.deepEqual([s.interfaces, s.allInterfaces], [[pair.plan.protectedDev], false]);
});
