/**
 * Test helper, not shipped behaviour: the feeds tests' lab (a protected host at 10.77.0.2 with fixed
 * MACs and static neighbours, attackers with extra addresses the feeds list or not, routes back to
 * them), TCP connection counts from one attacker address, and calls into feed-kernel-child.ts.
 */
import { fileURLToPath } from 'node:url';
import { mustIn, type JsonLines, type LabPlan, type NetnsPair } from './testkit-netns.js';

export const FEED_CHILD = fileURLToPath(new URL('./feed-kernel-child.ts', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('./tcp-probe.ts', import.meta.url));
/** The protected side's TCP listener (feed-kernel-child `listen`, or the daemon test's own). */
export const LAB_PORT = 8080;

export function feedLab(tag: string, attacker4: readonly string[], attacker6: readonly string[] = []): LabPlan {
  return {
    tag,
    attackerDev: 'veth0',
    protectedDev: 'veth1',
    attacker4: ['10.77.0.1', ...attacker4],
    attacker6: ['2001:db8:77::1', ...attacker6],
    protected4: '10.77.0.2',
    protected6: '2001:db8:77::2',
    prefix4: 24,
    prefix6: 64,
    macs: { protected: '02:00:00:77:00:01', attacker: '02:00:00:77:00:02' },
  };
}

/** Routes on the protected side back to the attackers' extra networks. */
export function routeBack(pair: NetnsPair, networks: readonly string[]): void {
  for (const route of networks) pair.must(pair.protectedNs, 'ip', ['route', 'add', route, 'dev', pair.plan.protectedDev]);
}

/** How many of `count` TCP connections from `from` to the protected host's LAB_PORT succeeded. */
export async function tcpConnects(pair: NetnsPair, from: string, count: number): Promise<number> {
  const to = from.includes(':') ? pair.plan.protected6 : pair.plan.protected4;
  const out = await mustIn(pair.attacker, process.execPath, ['--import', 'tsx', PROBE, from, to, String(LAB_PORT), String(count), '50']);
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { connected: number }).connected;
}

/** Starts tcp-probe.ts from `from` without end (one attempt every `intervalMs`); stop it with SIGINT. */
export function tcpProber(pair: NetnsPair, from: string, intervalMs: number, progress = false): import('node:child_process').ChildProcess {
  return pair.spawn(pair.attacker, process.execPath, ['--import', 'tsx', PROBE, from, pair.plan.protected4, String(LAB_PORT), '0', String(intervalMs), ...(progress ? ['progress'] : [])], { cwd: REPO_ROOT });
}

/** A caller of feed-kernel-child.ts requests: resolves with the result, rejects with its error. */
export function childCaller(child: JsonLines): (op: string, args?: unknown) => Promise<any> {
  let id = 0;
  return async (op, args) => {
    const n = ++id;
    child.send({ id: n, op, args });
    const reply = await child.next((m) => m.id === n, 120_000);
    if (reply.ok !== true) throw new Error(String(reply.error));
    return reply.result;
  };
}
