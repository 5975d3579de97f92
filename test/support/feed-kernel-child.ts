/**
 * Test helper, not shipped behaviour: runs inside the protected namespace (netlink sockets belong to
 * the namespace that opened them). Sets up the daemon's table (enforce's sets and rules, with intel's
 * feed sets contributed) and one Feed per request, driven by JSON lines on stdin:
 *   {id, op: 'init', args: {feeds: FeedConfig[], protected: string[], stateDir}}   the table and the feeds
 *   {id, op: 'update', args: {name}}                                     Feed.update() (file:// sources)
 *   {id, op: 'allow', args: {address}}                                   into the allow4 set
 *   {id, op: 'listen', args: {port}}                                     a TCP listener (dual stack)
 *   {id, op: 'counters'}                                                 the feeds' kernel counters
 * and answers {id, ok, result} or {id, ok: false, error}.
 */
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { networkInterfaces } from 'node:os';
import { pino } from 'pino';
import { runNft } from '../../src/kernel/nft.js';
import { resolveNftRuleset, rulesetText } from '../../src/enforce/nft-ruleset.js';
import { Feed } from '../../src/intel/feeds/feed.js';
import { FeedStore } from '../../src/intel/feeds/store.js';
import { buildExclusions } from '../../src/intel/feeds/exclusions.js';
import { FeedKernelSets, feedsContribution } from '../../src/intel/feeds/kernel-sets.js';
import { resolveFeed, type FeedConfig, type ResolvedFeed } from '../../src/intel/settings.js';

const feeds = new Map<string, Feed>();
let kernel: FeedKernelSets | null = null;
let resolved: ResolvedFeed[] = [];
const log = pino({ level: 'silent' });

async function handle(op: string, args: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case 'init': {
      resolved = (args.feeds as FeedConfig[]).map(resolveFeed);
      await runNft('nft', ['-f', '-'], rulesetText(resolveNftRuleset({ contributions: [feedsContribution(resolved, false)] })));
      kernel = new FeedKernelSets({ table: 'portwarden' });
      const cidrs = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.cidr ?? ''));
      const exclusions = () => buildExclusions({ interfaceCidrs: cidrs, protectedNetworks: args.protected as string[] });
      // The caller's temp dir: it removes it (this process dies by SIGKILL).
      const storeDir = String(args.stateDir);
      const store = new FeedStore(storeDir);
      for (const f of resolved) feeds.set(f.name, new Feed({ feed: f, store, sink: kernel.sink, exclusions, log }));
      return null;
    }
    case 'update': {
      const feed = feeds.get(args.name as string)!;
      const t0 = performance.now();
      const outcome = await feed.update();
      return { outcome, ms: performance.now() - t0, status: feed.status };
    }
    case 'allow':
      await runNft('nft', ['add', 'element', 'inet', 'portwarden', 'allow4', `{ ${String(args.address)} }`]);
      return null;
    case 'listen':
      await new Promise<void>((resolve) => createServer((socket) => socket.end()).listen(Number(args.port), '::', resolve));
      return null;
    case 'counters':
      return Object.fromEntries(await kernel!.counters(resolved));
    default:
      throw new Error(`unknown op ${op}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, op, args } = JSON.parse(line) as { id: number; op: string; args?: Record<string, unknown> };
  handle(op, args ?? {}).then(
    (result) => process.stdout.write(`${JSON.stringify({ id, ok: true, result })}\n`),
    (err: Error) => process.stdout.write(`${JSON.stringify({ id, ok: false, error: err.message })}\n`),
  );
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
