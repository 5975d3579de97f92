/**
 * `npm run bench inline`: inline mode's costs, each beside its baseline in the same run.
 *   - verdicts per second: DNS queries blasted at a namespace whose inline filter (real addon, real
 *     iptables-nft NFQUEUE rule, DNS decision per packet) gives every one a verdict;
 *   - the latency a DNS query gains through the queue: sequential queries to a real dnsmasq, median
 *     and p99, without the queue and then with it;
 *   - a blocklist of 1,000,000 names: load time, memory, lookup ns (hit and miss).
 * Everything runs in two network namespaces of its own, deleted afterwards.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const child = join(here, 'inline-child.js');
const SERVER = '10.78.0.2';
const CLIENT = '10.78.0.1';

function runChild(ns: string | null, args: string[], flags: string[] = []): Record<string, unknown> {
  const argv = [process.execPath, ...flags, child, ...args];
  const out = ns === null ? execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' }) : execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 300_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Starts the filter in `ns`, waits for "ready" (the suite is synchronous: output goes through a file). */
function startFilter(ns: string, dir: string, queue: number): { stop: () => Record<string, unknown> } {
  const outFile = join(dir, `filter-${queue}.out`);
  const fd = openSync(outFile, 'w');
  const c = spawn('ip', ['netns', 'exec', ns, process.execPath, child, 'filter', String(queue)], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const end = Date.now() + 20_000;
  while (!readFileSync(outFile, 'utf8').includes('ready')) {
    if (Date.now() > end) throw new Error(`the inline filter did not start: ${readFileSync(outFile, 'utf8')}`);
    sleepMs(100);
  }
  return {
    stop: () => {
      c.kill('SIGTERM');
      const stopEnd = Date.now() + 10_000;
      while (readFileSync(outFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).length === 0 && Date.now() < stopEnd) sleepMs(50);
      const line = readFileSync(outFile, 'utf8').split('\n').find((l) => l.startsWith('{'));
      return line === undefined ? {} : (JSON.parse(line) as Record<string, unknown>);
    },
  };
}

export function inlineSuite(dir: string): void {
  process.stdout.write('inline: verdicts/s, DNS latency through the queue, blocklist of 1,000,000 names\n');
  const b = runChild(null, ['blocklist', '1000000'], ['--expose-gc']);
  process.stdout.write(
    `  blocklist 1,000,000 names: load ${(b.loadMs as number).toFixed(0)} ms; packed names and table ${(b.tableMiB as number).toFixed(1)} MiB (one Buffer and two typed arrays, no object per name); lookup ${(b.hitNs as number).toFixed(0)} ns (hit, 6 labels), ${(b.missNs as number).toFixed(0)} ns (miss)\n`,
  );

  const base = `pwbench-${process.pid}`;
  const server = `${base}-s`;
  const client = `${base}-c`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let dnsmasq: ReturnType<typeof spawn> | null = null;
  try {
    ip('netns', 'add', server);
    ip('netns', 'add', client);
    ip('-n', client, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', server);
    ip('-n', client, 'addr', 'add', `${CLIENT}/24`, 'dev', 'veth0');
    ip('-n', server, 'addr', 'add', `${SERVER}/24`, 'dev', 'veth1');
    for (const [ns, dev] of [[client, 'veth0'], [server, 'veth1']]) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    // Throughput: nothing listens on port 53 yet; every query is queued, decided and accepted.
    const queue = 7600 + (process.pid % 300);
    const count = 200_000;
    const f = startFilter(server, dir, queue);
    const blast = runChild(client, ['blast', SERVER, String(count)]);
    sleepMs(500);
    const c = f.stop();
    const verdicts = c['inline.packets'] as number;
    const seconds = blast.seconds as number;
    process.stdout.write(`  verdicts, one Node sender of DNS queries: ${verdicts} of ${count} in ${seconds.toFixed(2)} s → ${Math.round(verdicts / seconds).toLocaleString('en')}/s (the sender's pace)\n`);
    // hping3 --flood outruns the sender above: the queue's own ceiling, the rest accepted by fail-open.
    const floodSeconds = 3;
    const h = startFilter(server, dir, queue + 2);
    spawnSync('ip', ['netns', 'exec', client, 'timeout', String(floodSeconds), 'hping3', '--udp', '-p', '53', '--flood', '-q', '-d', '40', SERVER], { stdio: 'ignore' });
    sleepMs(300);
    const hc = h.stop();
    process.stdout.write(`  verdicts, hping3 --flood for ${floodSeconds} s: ${(hc['inline.packets'] as number).toLocaleString('en')} → ${Math.round((hc['inline.packets'] as number) / floodSeconds).toLocaleString('en')} verdicts/s (received by the queue ${(hc['inline.queue.received'] as number).toLocaleString('en')})\n`);

    dnsmasq = spawn('ip', ['netns', 'exec', server, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', '--user=root', `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--listen-address=${SERVER}`, '--address=/lab.test/192.0.2.10', '--cache-size=10000'], { stdio: 'ignore' });
    sleepMs(500);
    const n = 5000;
    runChild(client, ['latency', SERVER, '500']);
    const plain = runChild(client, ['latency', SERVER, String(n)]);
    const g = startFilter(server, dir, queue + 1);
    runChild(client, ['latency', SERVER, '500']);
    const queued = runChild(client, ['latency', SERVER, String(n)]);
    g.stop();
    const us = (v: unknown) => `${(v as number).toFixed(0)} µs`;
    process.stdout.write(`  DNS round trip, ${n} sequential queries to dnsmasq: without queue median ${us(plain.medianUs)}, p99 ${us(plain.p99Us)}; through the queue median ${us(queued.medianUs)}, p99 ${us(queued.p99Us)} (+${((queued.medianUs as number) - (plain.medianUs as number)).toFixed(0)} µs median)\n`);
  } finally {
    dnsmasq?.kill('SIGKILL');
    // dnsmasq forks a child per TCP query; one still holding a connection outlives its parent.
    spawnSync('pkill', ['-KILL', '-f', '--', `pid-file=${join(dir, 'dnsmasq.pid')}`]);
    spawnSync('ip', ['netns', 'del', server]);
    spawnSync('ip', ['netns', 'del', client]);
  }
}
