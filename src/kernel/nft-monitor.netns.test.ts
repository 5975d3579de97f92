/**
 * NftMonitor against the real kernel, in a namespace of its own: it hears table creations and
 * deletions (one per table on `nft flush ruleset`), each transaction's generation naming the process
 * that committed it, and nothing of element changes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { NetnsPair } from '../../test/support/testkit-netns.js';
import { decodeNotifications, NFPROTO_INET } from './nft-monitor.js';

let pair: NetnsPair;
let child: ChildProcess;
const heard: Record<string, unknown>[] = [];

const CHILD = `
import { NftMonitor } from ${JSON.stringify(new URL('./nft-monitor.ts', import.meta.url).pathname)};
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const monitor = new NftMonitor({ table: (c) => out({ kind: 'table', ...c }), generation: (g) => out({ kind: 'gen', ...g }), lost: (n) => out({ kind: 'lost', n }) });
out({ kind: 'ready', portId: monitor.portId });
process.stdin.on('data', () => {}); process.stdin.on('end', () => { monitor.close(); });
`;

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}; heard ${JSON.stringify(heard)}`);
}

before(async () => {
  pair = new NetnsPair();
  child = pair.spawn(pair.protectedNs, process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD]);
  createInterface({ input: child.stdout! }).on('line', (line) => heard.push(JSON.parse(line) as Record<string, unknown>));
  child.stderr!.on('data', (d: Buffer) => heard.push({ stderr: d.toString() }));
  await until('the monitor', () => heard.some((m) => m.kind === 'ready'));
});

after(() => pair?.destroy());

test('a table created, an element batch, a flush ruleset: the tables and generations are heard, the elements are not', async () => {
  const ready = heard.find((m) => m.kind === 'ready')!;
  assert.ok((ready.portId as number) > 0, 'bound to the group');
  pair.must(pair.protectedNs, 'nft', ['-f', '-'], 'table inet pwmon {\n\tset s { type ipv4_addr; flags timeout; }\n}\ntable ip other {\n}\n');
  await until('the two new tables', () => heard.filter((m) => m.kind === 'table' && m.change === 'new').length === 2 && heard.some((m) => m.kind === 'gen'));
  heard.length = 0;
  pair.must(pair.protectedNs, 'nft', ['add', 'element', 'inet', 'pwmon', 's', '{ 192.0.2.1 timeout 1h, 192.0.2.2 timeout 1h }']);
  await until('the element transaction', () => heard.some((m) => m.kind === 'gen'));
  assert.deepEqual(heard.filter((m) => m.kind === 'table'), [], 'element changes are not table events');
  heard.length = 0;
  pair.must(pair.protectedNs, 'nft', ['flush', 'ruleset']);
  await until('both deletions and the generation', () => heard.filter((m) => m.kind === 'table').length === 2 && heard.some((m) => m.kind === 'gen'));
  const deleted = heard.filter((m) => m.kind === 'table').map((m) => `${m.change} ${m.family} ${m.table}`).sort();
  assert.deepEqual(deleted, [`delete ${NFPROTO_INET} pwmon`, `delete 2 other`]);
  const gen = heard.find((m) => m.kind === 'gen')!;
  assert.equal(gen.process, 'nft', 'the generation names the process that committed');
  assert.ok(typeof gen.pid === 'number' && gen.pid > 0);
  assert.ok(heard.findIndex((m) => m.kind === 'table') < heard.findIndex((m) => m.kind === 'gen'), 'the generation ends the transaction');
  assert.ok(!heard.some((m) => m.kind === 'lost' || m.stderr !== undefined), JSON.stringify(heard));
});

test('decodeNotifications stops at a malformed length instead of reading past it', () => {
  const seen: unknown[] = [];
  const bad = Buffer.alloc(40);
  bad.writeUInt32LE(400, 0); // claims more than there is
  decodeNotifications(bad, { table: (c) => seen.push(c), generation: (g) => seen.push(g) });
  assert.deepEqual(seen, []);
});
