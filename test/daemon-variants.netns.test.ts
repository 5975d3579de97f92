/**
 * The daemon's other backend and capture source, each through the core scan-and-ban check with real
 * nmap in network namespaces: the iptables+ipset backend (capture by its own NFLOG rules, with the
 * config's static drops, forward hook and capture interface), and libpcap capture (--capture pcap)
 * with the nftables table enforcing; and --flush-on-exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { logged, spawnPortwarden, waitUntil, type LogLine } from './support/daemon-process.js';

const CLI = new URL('./support/portwarden-cli.ts', import.meta.url).pathname;

async function scanAndBan(extraConfig: string[], startArgs: string[], banned: (pair: NetnsPair) => string, whileRunning: (pair: NetnsPair, log: string) => void = () => {}): Promise<void> {
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
    whileRunning(pair, out);
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

test('the iptables+ipset backend passes the core scan-and-ban check, with the static drops, the forward hook and the capture interface of its config', () =>
  scanAndBan(
    ['enforce:', '  backend: iptables', '  forward: true', '  blockedNetworks: [192.0.2.0/24, "2001:db8:ffff::/48"]', '  blockedTcpPorts: [2323]', '  blockedUdpPorts: [5353]'],
    ['--interface', 'veth1'],
    (pair) => pair.run(pair.protectedNs, 'ipset', ['list', 'portwarden-ban4']).stdout,
    (pair) => {
      const v4 = pair.must(pair.protectedNs, 'iptables-save', ['-t', 'filter']);
      const v6 = pair.must(pair.protectedNs, 'ip6tables-save', ['-t', 'filter']);
      for (const [saved, chain] of [
        [v4, 'PORTWARDEN'],
        [v6, 'PORTWARDEN6'],
      ] as const) {
        assert.match(saved, new RegExp(`^-A FORWARD -j ${chain}-FWD$`, 'm'));
        assert.match(saved, new RegExp(`^-A ${chain}-FWD -p tcp -m multiport --dports 2323 .*-j DROP$`, 'm'));
        assert.match(saved, new RegExp(`^-A ${chain} -p udp -m multiport --dports 5353 .*-j DROP$`, 'm'));
        const nflog = saved.split('\n').filter((l) => l.includes('NFLOG'));
        assert.ok(nflog.length > 0 && nflog.every((l) => / -[io] veth1 /.test(l)), nflog.join('\n'));
      }
      assert.match(pair.must(pair.protectedNs, 'ipset', ['list', 'portwarden-block4']), /^192\.0\.2\.0\/24$/m);
      assert.match(pair.must(pair.protectedNs, 'ipset', ['list', 'portwarden-block6']), /^2001:db8:ffff::\/48$/m);
    },
  ));

test('libpcap capture on the interface (--capture pcap) passes the core scan-and-ban check; the table enforces and logs nothing', () =>
  scanAndBan(
    ['enforce:', '  fastPath: { enabled: false }'],
    ['--capture', 'pcap', '--interface', 'veth1'],
    (pair) => pair.run(pair.protectedNs, 'nft', ['list', 'set', 'inet', 'portwarden', 'ban4']).stdout,
    (pair, log) => {
      assert.match(log, /"capture":"pcap"/);
      const table = pair.must(pair.protectedNs, 'nft', ['list', 'table', 'inet', 'portwarden']);
      assert.match(table, /ip saddr @ban4 drop/);
      assert.doesNotMatch(table, /first contacts/, 'no NFLOG capture rules with libpcap');
    },
  ));

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

test('a start that fails half way (a blocklist file that is not there) stops what it started and exits with the error', async () => {
  const pair = new NetnsPair();
  const dir = mkdtempSync(join(tmpdir(), 'pw-variant-'));
  try {
    const config = join(dir, 'portwarden.yaml');
    const socket = join(dir, 'control.sock');
    // Inline mode starts after capture, the control socket and the listener: its failure is the last step.
    writeFileSync(config, [`capture:`, `  nflogGroup: ${7900 + (process.pid % 90)}`, `control:`, `  socketPath: ${socket}`, `state:`, `  dir: ${join(dir, 'state')}`, 'observe:', '  listen: 127.0.0.1:9717', 'inline:', '  enabled: true', '  dns: true', 'dns:', `  blocklists: [${join(dir, 'missing.txt')}]`].join('\n'));
    const log: LogLine[] = [];
    const daemon = spawnPortwarden(pair, pair.protectedNs, ['start', '--config', config], log);
    try {
      await waitUntil('the daemon to exit', () => daemon.exitCode !== null, 60_000, log);
    } finally {
      daemon.kill('SIGKILL'); // a daemon hanging half started must not outlive the test
    }
    assert.notEqual(daemon.exitCode, 0);
    assert.ok(log.some((l) => JSON.stringify(l).includes('missing.txt')), `the error names the file:\n${log.map((l) => JSON.stringify(l)).join('\n')}`);
    assert.ok(logged(log, 'stopped'), 'what had started was stopped');
    assert.ok(!existsSync(socket), 'the control socket is gone');
    assert.notEqual(pair.run(pair.protectedNs, 'curl', ['-s', '-o', '/dev/null', '-m', '2', 'http://127.0.0.1:9717/health/live']).code, 0, 'the listener is closed');
  } finally {
    pair.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
