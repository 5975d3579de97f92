/**
 * A real `portwarden start` in one namespace of a NetnsPair, for the tests that watch the daemon
 * work: its JSON log lines are collected as they come, and waits fail with the log's tail.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { NetnsPair } from './testkit-netns.js';

export const CLI = new URL('./portwarden-cli.ts', import.meta.url).pathname;

export type LogLine = Record<string, unknown>;

/**
 * Starts `portwarden ARGS…` (through tsx, from the sources) in namespace `ns`; every stdout line goes
 * into `log` (a line that is not JSON as `{ message }`), stderr as `{ stderr }`.
 */
export function spawnPortwarden(pair: NetnsPair, ns: string, args: readonly string[], log: LogLine[]): ChildProcess {
  const child = pair.spawn(ns, process.execPath, ['--import', 'tsx', CLI, ...args]);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      log.push(JSON.parse(line) as LogLine);
    } catch {
      log.push({ message: line });
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => log.push({ stderr: chunk.toString() }));
  return child;
}

/** Polls `check` until it holds; on timeout fails with what was awaited and the last lines of `log`. */
export async function waitUntil(what: string, check: () => boolean, timeoutMs: number, log: readonly LogLine[]): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}; daemon log:\n${log.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
}

/** Whether the daemon logged `event.action` === `action` (and `also`, when given). */
export function logged(log: readonly LogLine[], action: string, also: (line: LogLine) => boolean = () => true): boolean {
  return log.some((l) => l['event.action'] === action && also(l));
}

/** `portwarden start ARGS…` in the protected namespace, resolved once it logged `started`. */
export async function startDaemon(pair: NetnsPair, args: readonly string[], log: LogLine[], timeoutMs = 30_000): Promise<ChildProcess> {
  const child = spawnPortwarden(pair, pair.protectedNs, ['start', ...args], log);
  await waitUntil('the daemon to start', () => logged(log, 'started') || child.exitCode !== null, timeoutMs, log);
  assert.equal(child.exitCode, null, `the daemon exited at start:\n${log.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
  return child;
}

/** `portwarden ARGS… --socket SOCKET` (a control command), run to completion. */
export function controlCli(socket: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args, '--socket', socket], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The daemon's counters from `portwarden status --json`. */
export function statusCounters(socket: string): Record<string, number> {
  const r = controlCli(socket, 'status', '--json');
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { counters: Record<string, number> }).counters;
}

/**
 * A daemon in the protected namespace with a config file of its own in a temporary folder: its NFLOG
 * group, control socket and state there, plus the `extra` config lines of the test. `stop` kills it and
 * removes the folder; the namespaces are the caller's.
 */
export class ConfiguredDaemon {
  readonly dir = mkdtempSync(join(tmpdir(), 'pw-daemon-'));
  readonly socket = join(this.dir, 'run', 'control.sock');
  readonly log: LogLine[] = [];
  #child: ChildProcess | null = null;

  async start(pair: NetnsPair, nflogGroup: number, extra: readonly string[]): Promise<void> {
    const configPath = join(this.dir, 'portwarden.yaml');
    const lines = ['capture:', `  nflogGroup: ${nflogGroup}`, 'control:', `  socketPath: ${this.socket}`, 'state:', `  dir: ${join(this.dir, 'state')}`, ...extra, ''];
    writeFileSync(configPath, lines.join('\n'));
    this.#child = await startDaemon(pair, ['--config', configPath], this.log);
  }

  stop(): void {
    this.#child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Config lines that keep a test daemon to itself: its own control socket and state directory, no HTTP listener. */
export function ownPlaceLines(socket: string, stateDir: string): string[] {
  return ['control:', `  socketPath: ${socket}`, 'state:', `  dir: ${stateDir}`, 'observe:', '  listen: null'];
}
