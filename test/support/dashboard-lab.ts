/**
 * The dashboard's browser lab: a real daemon in the protected namespace with the dashboard on its default
 * listen address (127.0.0.1:9717, that namespace's own loopback), and Debian's chromium, driven by
 * playwright-core, inside the same namespace, so the page talks to it and nothing runs in the initial one.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import type { NetnsPair } from './testkit-netns.js';
import { startDaemon, waitUntil } from './daemon-process.js';

/**
 * Starts the daemon with scan bans of 900 s, its control socket and state under `dir`, and `extra` config
 * lines; waits for the dashboard to listen and returns the daemon and the dashboard token it generated.
 */
export async function startDashboardDaemon(pair: NetnsPair, dir: string, extra: readonly string[], logLines: Record<string, unknown>[]): Promise<{ daemon: ChildProcess; token: string }> {
  const configPath = join(dir, 'portwarden.yaml');
  writeFileSync(
    configPath,
    ['capture:', `  nflogGroup: ${8700 + (process.pid % 500)}`, 'decide:', '  banSeconds: { scan: 900 }', 'control:', `  socketPath: ${join(dir, 'run', 'control.sock')}`, 'state:', `  dir: ${join(dir, 'state')}`, ...extra].join('\n'),
  );
  const daemon = await startDaemon(pair, ['--config', configPath], logLines);
  await waitUntil('the daemon to listen', () => logLines.some((l) => l['event.action'] === 'observe-listening'), 20_000, logLines);
  return { daemon, token: readFileSync(join(dir, 'state', 'dashboard.token'), 'utf8').trim() };
}

/** A headless browser running in `netns`; its wrapper script and profile go under `dir`. */
export async function chromiumInNetns(netns: string, dir: string): Promise<BrowserContext> {
  const wrapper = join(dir, 'chromium-in-netns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${netns} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  const profile = join(dir, 'profile');
  mkdirSync(profile);
  return chromium.launchPersistentContext(profile, {
    executablePath: wrapper,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Closes the browser, kills the daemon, removes the namespaces and `dir`; whichever of them were made. */
export async function stopDashboardLab(lab: { browser?: BrowserContext; daemon?: ChildProcess; pair?: NetnsPair; dir?: string }): Promise<void> {
  await lab.browser?.close().catch(() => undefined);
  lab.daemon?.kill('SIGKILL');
  lab.pair?.destroy();
  if (lab.dir !== undefined) rmSync(lab.dir, { recursive: true, force: true });
}
