/**
 * `portwarden demo` end to end: the lab of namespaces, the daemon, real nmap scans, and the removal
 * of every namespace afterwards, also when the demo is interrupted with SIGINT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';

const CLI = new URL('./support/portwarden-cli.ts', import.meta.url).pathname;

function demoNamespaces(pid?: number): string[] {
  const prefix = pid === undefined ? 'pwdemo-' : `pwdemo-${pid}-`;
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(prefix));
}

interface Run {
  pid: number;
  code: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

function startDemo(timeoutMs: number): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const code = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (c, signal) => {
      clearTimeout(timer);
      resolve({ code: c, signal });
    }),
  );
  return { pid: child.pid!, code, output: () => output, kill: (s) => child.kill(s) };
}

test('the demo bans the scanners, shows open ports before and only filtered after, and removes its lab', async () => {
  const run = startDemo(120_000);
  const { code } = await run.code;
  const out = run.output();
  assert.equal(code, 0, out);
  assert.match(out, /^before: 2 open \(22, 80\), 98 closed, 0 filtered$/m, out);
  assert.match(out, /^after: 0 open, 0 closed, 100 filtered$/m, out);
  // The SYN scanner's incident, and its ban as `portwarden bans` shows it.
  assert.match(out, /scan\s+class syn\s+source 10\.88\.0\.11\s+decision ban/, out);
  assert.match(out, /^\s+ADDRESS\s+ORIGIN\s+REASON\s+CREATED\s+EXPIRES\s+LEFT$/m, out);
  assert.match(out, /^\s+10\.88\.0\.11\s+detection\s+SYN port scan.*UTC\s+(\d+[dhms] ?)+$/m, out);
  assert.match(out, /10\.88\.0\.3 is not banned/, out);
  assert.match(out, /^removed: namespaces /m, out);
  assert.deepEqual(demoNamespaces(run.pid), []);
});

test('SIGINT during the demo still removes the lab, with a non-zero status', async () => {
  const run = startDemo(60_000);
  // Wait until the lab exists (and a few seconds more, so the daemon or a scan is running), then interrupt.
  const end = Date.now() + 20_000;
  while (demoNamespaces(run.pid).length < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.equal(demoNamespaces(run.pid).length, 4, run.output());
  await new Promise((r) => setTimeout(r, 3_000));
  run.kill('SIGINT');
  const { code, signal } = await run.code;
  assert.ok(signal !== null || (code !== null && code !== 0), `status ${String(code)}: ${run.output()}`);
  assert.match(run.output(), /SIGINT: removing the lab/);
  assert.deepEqual(demoNamespaces(run.pid), []);
});
