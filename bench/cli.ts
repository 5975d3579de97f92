/**
 * `npm run bench -- cli`: what an operator waits for and what the daemon costs at rest.
 *  - the time of one control call (`portwarden status`, `portwarden bans`) against a running daemon, beside
 *    `node -e 0` measured in the same run, alternating call by call: the goal is a median of at most 3× it;
 *  - the daemon's resident memory when idle (VmRSS 5 s after it is ready).
 * The daemon runs `start --dry-run` in a network namespace of its own (only lo), so nothing of the host changes.
 * `measureCli(root)` is exported for the A/B suite, which runs it on an older build too.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from './node-flags.js';

const CALLS = 21;
const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(here, '..', '..');

export interface CliFigures {
  nodeMs: number;
  statusMs: number;
  bansMs: number;
  idleRssMiB: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(argv: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (exit ${r.status}): ${r.stderr}`);
  return ms;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

/** The daemon process itself (ip netns exec execs it, so the pid is the node process). */
async function waitFor(path: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`no control socket at ${path} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function measureCli(root: string, label: string): Promise<CliFigures> {
  const ns = `pwbcli-${process.pid}-${label}`;
  const dir = mkdtempSync(join(tmpdir(), 'portwarden-bench-cli-'));
  const socket = join(dir, 'control.sock');
  const bin = join(root, 'bin', 'portwarden.js');
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const daemon = spawn('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS, bin, 'start', '--dry-run', '--socket', socket, '--state', join(dir, 'state'), '--metrics-listen', '127.0.0.1:9717'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    daemon.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await waitFor(socket, 30_000).catch((err: Error) => {
        throw new Error(`${err.message}; daemon said: ${stderr.slice(-500)}`);
      });
      await new Promise((r) => setTimeout(r, 5_000));
      const idleRssMiB = rssMiB(daemon.pid!);
      const node: number[] = [];
      const status: number[] = [];
      const bans: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        node.push(timed([process.execPath, '-e', '0']));
        status.push(timed([process.execPath, ...NODE_FLAGS, bin, 'status', '--socket', socket]));
        bans.push(timed([process.execPath, ...NODE_FLAGS, bin, 'bans', '--socket', socket]));
      }
      return { nodeMs: median(node), statusMs: median(status), bansMs: median(bans), idleRssMiB };
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printCli(label: string, f: CliFigures): void {
  process.stdout.write(
    `  ${label}: node -e 0 ${f.nodeMs.toFixed(0)} ms; status ${f.statusMs.toFixed(0)} ms (${(f.statusMs / f.nodeMs).toFixed(2)}x); bans ${f.bansMs.toFixed(0)} ms (${(f.bansMs / f.nodeMs).toFixed(2)}x); idle daemon RSS ${f.idleRssMiB.toFixed(0)} MiB\n`,
  );
}

export async function cliSuite(): Promise<void> {
  process.stdout.write(`== cli: one control call against a running daemon (median of ${CALLS}, alternating with node -e 0), and the idle daemon's RSS\n`);
  const f = await measureCli(repoRoot, 'new');
  printCli('this build', f);
  const worst = Math.max(f.statusMs, f.bansMs) / f.nodeMs;
  process.stdout.write(`goal: a control call at most 3x node -e 0 (median): ${worst <= 3 ? 'met' : 'NOT met'} (${worst.toFixed(2)}x)\n`);
}
