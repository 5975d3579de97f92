/**
 * What the lockout guard promises, in a real network namespace: own addresses, default gateways and
 * the peers of real SSH-port sessions between two veth ends are protected, and the peers no longer
 * once their sessions end. Needs root and iproute2. The same against written /proc files is
 * lockout-guard.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LockoutGuard } from './lockout-guard.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pwdec-'));
  dirs.push(d);
  return d;
}

// ---------------------------------------------------------------------------------------------------
// A real network namespace: own addresses, default routes, and real SSH-port sessions.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GUARD_MODULE = fileURLToPath(new URL('./lockout-guard.ts', import.meta.url));
let nsCounter = 0;
const namespaces = new Set<string>();
const children = new Set<ChildProcess>();

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  namespaces.clear();
}
after(cleanup);
process.on('exit', cleanup);

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function netns(): string {
  const name = `pwdec-${process.pid}-${++nsCounter}`;
  ip('netns', 'add', name);
  namespaces.add(name);
  return name;
}

/** Starts `node -e script` inside `ns` and resolves once it prints `ready`. */
function startIn(ns: string, script: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no "ready" from ${ns}: ${out} ${err}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${ns} script exited with ${code}: ${err}`));
    });
  });
}


test('in a real namespace: own addresses, default gateways and the peers of real SSH sessions are protected', { timeout: 60_000 }, async () => {
  try {
    const host = netns();
    const peer = netns();
    ip('-n', host, 'link', 'add', 'pwg0', 'type', 'veth', 'peer', 'name', 'pwp0', 'netns', peer);
    ip('-n', host, 'addr', 'add', '10.200.0.1/24', 'dev', 'pwg0');
    ip('-n', host, 'addr', 'add', '2001:db8:200::1/64', 'dev', 'pwg0', 'nodad');
    for (const a of ['10.200.0.2/24', '10.200.0.3/24', '10.200.0.4/24']) ip('-n', peer, 'addr', 'add', a, 'dev', 'pwp0');
    ip('-n', peer, 'addr', 'add', '2001:db8:200::2/64', 'dev', 'pwp0', 'nodad');
    for (const [ns, dev] of [[host, 'pwg0'], [peer, 'pwp0']]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    ip('-n', host, 'route', 'add', 'default', 'via', '10.200.0.254');
    ip('-n', host, '-6', 'route', 'add', 'default', 'via', '2001:db8:200::fe');

    // sshd stand-ins: IPv4-only and IPv6-only on 22 (tcp and tcp6), dual-stack on 2222 (IPv4 peers
    // appear mapped in tcp6), and 8080 (not an SSH port). Each closes a session when the peer does.
    const server = await startIn(
      host,
      `const net = require('net');
       const serve = (port, host, ipv6Only) => new Promise((r) => {
         const s = net.createServer((c) => { c.on('end', () => c.destroy()); c.on('error', () => {}); });
         s.listen({ port, host, ipv6Only }, r);
       });
       Promise.all([serve(22, '0.0.0.0', false), serve(22, '::', true), serve(2222, '::', false), serve(8080, '0.0.0.0', false)])
         .then(() => console.log('ready'));`,
    );
    const client = await startIn(
      peer,
      `const net = require('net');
       const open = (host, port, localAddress) => new Promise((r, j) => { const c = net.connect({ host, port, localAddress }, () => r(c)); c.on('error', j); });
       Promise.all([
         open('10.200.0.1', 22, '10.200.0.2'),
         open('2001:db8:200::1', 22, '2001:db8:200::2'),
         open('10.200.0.1', 2222, '10.200.0.3'),
         open('10.200.0.1', 8080, '10.200.0.4'),
       ]).then((cs) => { console.log('ready'); process.stdin.on('data', () => { for (const c of cs) c.end(); setTimeout(() => process.exit(0), 200); }); });`,
    );

    const dir = tempDir();
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 10.200.0.53\n');
    const ASK = ['10.200.0.1', '2001:db8:200::1', '10.200.0.254', '2001:db8:200::fe', '10.200.0.53', '10.200.0.2', '2001:db8:200::2', '10.200.0.3', '10.200.0.4', '10.200.0.9', '127.0.0.1', '10.200.0.0/24'];
    const probe = (): { snapshot: ReturnType<LockoutGuard['snapshot']>; protects: Record<string, string | null> } => {
      const script = `import { LockoutGuard } from ${JSON.stringify(GUARD_MODULE)};
        const g = LockoutGuard.discover({ sshPorts: [22, 2222], resolvConfPath: ${JSON.stringify(resolv)}, log: (e) => console.error(JSON.stringify(e)) });
        const protects = {};
        for (const a of ${JSON.stringify(ASK)}) protects[a] = g.protects(a)?.reason ?? null;
        console.log(JSON.stringify({ snapshot: g.snapshot(), protects }));`;
      const r = spawnSync('ip', ['netns', 'exec', host, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as ReturnType<typeof probe>;
    };

    const during = probe();
    assert.deepEqual(during.protects, {
      '10.200.0.1': 'own address',
      '2001:db8:200::1': 'own address',
      '10.200.0.254': 'default gateway',
      '2001:db8:200::fe': 'default gateway',
      '10.200.0.53': 'resolver',
      '10.200.0.2': 'ssh peer',
      '2001:db8:200::2': 'ssh peer',
      '10.200.0.3': 'ssh peer',
      '10.200.0.4': null, // a session to 8080 is no SSH session
      '10.200.0.9': null,
      '127.0.0.1': 'loopback',
      '10.200.0.0/24': 'own address',
    });
    assert.deepEqual([...during.snapshot.sshPeers].sort(), ['10.200.0.2', '10.200.0.3', '2001:db8:200::2']);
    assert.deepEqual(during.snapshot.gateways, ['10.200.0.254', '2001:db8:200::fe']);

    // The sessions end: the peers are no longer protected.
    const exited = new Promise((r) => client.once('exit', r));
    client.stdin!.write('close\n');
    await exited;
    let after = probe();
    for (let i = 0; i < 20 && after.snapshot.sshPeers.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = probe();
    }
    assert.deepEqual(after.snapshot.sshPeers, []);
    assert.equal(after.protects['10.200.0.2'], null);
    assert.equal(after.protects['10.200.0.1'], 'own address');
    server.kill('SIGKILL');
  } finally {
    cleanup();
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.ok(!left.includes(`pwdec-${process.pid}-`), `namespaces left behind: ${left}`);
  }
});
