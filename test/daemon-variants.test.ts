/**
 * The daemon's other backend through the core scan-and-ban check with real nmap in network namespaces
 * (the iptables+ipset backend, capture by its own NFLOG rules), and --flush-on-exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/nflog-netns.js';

const CLI = new URL('./support/portwarden-cli.ts', import.meta.url).pathname;

async function scanAndBan(extraConfig: string[], startArgs: string[], banned: (pair: NetnsPair) => string): Promise<void> {
  const pair = new NetnsPair();
  const dir = mkdtempSync(join(tmpdir(), 'pw-variant-'));
  try {
    const config = join(dir, 'portwarden.yaml');
    writeFileSync(config, [`capture:`, `  nflogGroup: ${7900 + (process.pid % 90)}`, `control:`, `  socketPath: ${join(dir, 'control.sock')}`, `state:`, `  dir: ${join(dir, 'state')}`, ...extraConfig].join('\n'));
    const daemon = pair.spawn(pair.protectedNs, process.execPath, ['--import', 'tsx', CLI, 'start', '--config', config, ...startArgs]);
    let out = '';
    daemon.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    daemon.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const until = async (what: string, check: () => boolean) => {
      for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (check()) return;
      assert.fail(`timed out waiting for ${what}:\n${out.slice(-2000)}`);
    };
    await until('the daemon to start', () => out.includes('"event.action":"started"'));
    pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '--min-rate', '500', '-sS', '-p', '1-100', PROTECTED4]);
    await until(`${ATTACKER4} in the kernel's ban set`, () => banned(pair).includes(ATTACKER4));
    const after = pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-sS', '-p', '20-30', PROTECTED4]);
    assert.doesNotMatch(after, /\b(open|closed)\b/);
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    pair.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the iptables+ipset backend passes the core scan-and-ban check', () =>
  scanAndBan(['enforce:', '  backend: iptables'], [], (pair) => pair.run(pair.protectedNs, 'ipset', ['list', 'portwarden-ban4']).stdout));

test('--flush-on-exit removes the table, and every ban with it, when the daemon stops', async () => {
  const pair = new NetnsPair();
  const dir = mkdtempSync(join(tmpdir(), 'pw-variant-'));
  try {
    const config = join(dir, 'portwarden.yaml');
    writeFileSync(config, [`capture:`, `  nflogGroup: ${7990 + (process.pid % 9)}`, `control:`, `  socketPath: ${join(dir, 'control.sock')}`, `state:`, `  dir: ${join(dir, 'state')}`].join('\n'));
    const daemon = pair.spawn(pair.protectedNs, process.execPath, ['--import', 'tsx', CLI, 'start', '--config', config, '--flush-on-exit']);
    let out = '';
    daemon.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    for (const end = Date.now() + 20_000; !out.includes('"event.action":"started"') && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
    assert.equal(pair.run(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']).code, 0, 'the table is there while it runs');
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.notEqual(pair.run(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']).code, 0, 'the table is gone');
  } finally {
    pair.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
