/**
 * A real DNS server and client for the inline tests: dnsmasq (Debian's dnsmasq-base) answering
 * `lab.test` on the protected side of a NetnsPair, and dig from the attacker side.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ATTACKER4, PROTECTED4, PROTECTED6, type NetnsPair } from './testkit-netns.js';

export interface Dig {
  /** The answer's status (NOERROR, NXDOMAIN, …), or null without an answer. */
  status: string | null;
  /** A and AAAA answers. */
  answers: string[];
  timedOut: boolean;
  output: string;
}

export interface DigOptions {
  server?: string;
  type?: string;
  tcp?: boolean;
  /** `address#port` to send from. */
  source?: string;
  /** Pin dig to this CPU (queue CPU fan-out). */
  cpu?: number;
}

/** One dig from the attacker namespace: one try, a short timeout. */
export function dig(pair: NetnsPair, name: string, opts: DigOptions = {}): Dig {
  const args = ['dig', `@${opts.server ?? PROTECTED4}`, ...(opts.source === undefined ? [] : ['-b', opts.source]), name, opts.type ?? 'A', '+tries=1', '+time=2', '+nocookie', '+noedns', ...(opts.tcp ? ['+tcp'] : [])];
  const r = opts.cpu === undefined ? pair.run(pair.attacker, args[0], args.slice(1)) : pair.run(pair.attacker, 'taskset', ['-c', String(opts.cpu), ...args]);
  const output = r.stdout + r.stderr;
  const status = /status: (\w+)/.exec(output)?.[1] ?? null;
  const answers = [...output.matchAll(/^\S+\s+\d+\s+IN\s+(?:A|AAAA)\s+(\S+)$/gm)].map((m) => m[1]);
  return { status, answers, timedOut: r.code === 9 || /timed out|no servers could be reached/.test(output), output };
}

/** dnsmasq on the protected side answering `lab.test` with `addresses`; resolves once it answers. */
export async function startDnsmasq(pair: NetnsPair, dir: string, addresses: readonly string[]): Promise<ChildProcess> {
  const child = pair.spawn(pair.protectedNs, 'dnsmasq', [
    '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', '--user=root',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--listen-address=${PROTECTED4}`, `--listen-address=${PROTECTED6}`,
    ...addresses.map((a) => `--address=/lab.test/${a}`),
  ]);
  const end = Date.now() + 10_000;
  while (dig(pair, 'www.lab.test', { source: ATTACKER4 }).answers[0] !== addresses[0]) {
    if (Date.now() > end) assert.fail(`dnsmasq does not answer: ${dig(pair, 'www.lab.test').output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return child;
}

/** Stops dnsmasq and its children: it forks one per TCP query, and one holding a connection outlives its parent. */
export function stopDnsmasq(child: ChildProcess | null | undefined, dir: string): void {
  child?.kill('SIGKILL');
  spawnSync('pkill', ['-KILL', '-f', '--', `pid-file=${join(dir, 'dnsmasq.pid')}`]);
}
