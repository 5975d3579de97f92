/** Fetching against a real HTTP server on loopback: conditional GET, failures that keep the last good copy, caps. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Feed } from './feed.js';
import { FeedStore } from './store.js';
import { fetchFeed } from './fetch.js';
import { buildExclusions } from './exclusions.js';
import { resolveFeed, type FeedConfig } from '../settings.js';
import type { PortwardenError } from '../../errors.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/feeds/${name}`, import.meta.url), 'utf8');
const DROP = fixture('drop_v4.json');
const DROP2 = DROP.replace('"records":3', '"records":4').replace('{"type"', '{"cidr":"192.0.2.0/24","sblid":"SBL9","rir":"arin"}\n{"type"');
let server: Server;
let base = '';
const hits = new Map<string, number>();
let current = DROP;
let etag = '"v1"';
const dir = mkdtempSync(join(tmpdir(), 'pw-feeds-'));

before(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    switch (path) {
      case '/drop.json':
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
        return void res.writeHead(200, { ETag: etag, 'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT', 'Content-Type': 'application/x-ndjson' }).end(current);
      case '/keyed':
        if (req.headers.key !== 's3cret') return void res.writeHead(401).end('{"errors":[{"detail":"Authentication failed"}]}');
        return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('198.51.100.9\n203.0.113.10\n');
      case '/404':
        return void res.writeHead(404).end('not found');
      case '/500':
        return void res.writeHead(500).end('oops');
      case '/html':
        return void res.writeHead(200, { 'Content-Type': 'text/html' }).end(fixture('error-page.html'));
      case '/slow':
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('198.51.100.1\n');
        return; // never ends: the client's timeout must
      case '/truncated':
        res.writeHead(200, { 'Content-Length': String(Buffer.byteLength(DROP) + 500) });
        res.write(DROP.slice(0, 120));
        setTimeout(() => res.destroy(), 20);
        return;
      case '/big': {
        // 50 MB, chunked (no length announced): the cap must stop the download while it runs.
        const line = '198.51.100.1\n'.repeat(5000);
        let sent = 0;
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        const pump = (): void => {
          while (sent < 50_000_000) {
            sent += line.length;
            if (!res.write(line)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => (sent = Infinity));
        return pump();
      }
      case '/big-declared':
        res.writeHead(200, { 'Content-Length': '50000000' });
        res.write('198.51.100.1\n');
        setTimeout(() => res.destroy(), 50);
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function feedFor(path: string, extra: Partial<FeedConfig> = {}) {
  return resolveFeed({ name: 'drop', url: `${base}${path}`, format: 'spamhaus-json', refresh: '12h', action: 'drop', timeout: '2s', ...extra });
}

const feedError = async (p: Promise<unknown>): Promise<PortwardenError> => {
  try {
    await p;
  } catch (err) {
    return err as PortwardenError;
  }
  assert.fail('expected a PW_ERR_FEED');
};

test('ETag: the second fetch sends If-None-Match and gets 304; a changed file comes whole', async () => {
  const feed = feedFor('/drop.json');
  const first = await fetchFeed(feed, null);
  assert.equal(first.kind, 'body');
  assert.deepEqual(first.kind === 'body' && first.validators, { etag: '"v1"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' });
  assert.equal((await fetchFeed(feed, first.kind === 'body' ? first.validators : null)).kind, 'not-modified');
});

test('each failure is a PW_ERR_FEED naming the feed and what went wrong', async () => {
  const cases: [string, RegExp][] = [
    ['/404', /answered HTTP 404/],
    ['/500', /answered HTTP 500/],
    ['/slow', /did not finish within 2s|no answer within 2s/],
    ['/truncated', /cut short/],
    ['/big', /more than the size cap of 33554432 bytes/],
    ['/big-declared', /announces 50000000 bytes, over the size cap/],
  ];
  for (const [path, message] of cases) {
    const err = await feedError(fetchFeed(feedFor(path), null));
    assert.equal(err.code, 'PW_ERR_FEED', path);
    assert.match(err.message, /^feed drop: /);
    assert.match(err.message, message, path);
  }
});

test('${ENV} in a header value: expanded from the environment; an unset variable is refused before any request', async () => {
  const feed = resolveFeed({ name: 'abuse', url: `${base}/keyed`, format: 'abuseipdb', refresh: '1d', action: 'drop', headers: { Key: '${PW_TEST_ABUSE_KEY}', Accept: 'text/plain' } });
  const ok = await fetchFeed(feed, null, { PW_TEST_ABUSE_KEY: 's3cret' });
  assert.equal(ok.kind === 'body' && ok.body, '198.51.100.9\n203.0.113.10\n');
  const before = hits.get('/keyed');
  const err = await feedError(fetchFeed(feed, null, {}));
  assert.match(err.message, /environment variable PW_TEST_ABUSE_KEY, which is not set/);
  assert.equal(hits.get('/keyed'), before);
});

test('a feed keeps its last good copy through 404, 500, an HTML page, a truncated file, a timeout and an oversized file; the copy on disk loads at the next start', async () => {
  let now = Date.UTC(2026, 0, 1);
  const clock = () => (now += 2 * 3600_000); // every update is past the source's minimum refresh
  const store = new FeedStore(dir);
  const exclusions = () => buildExclusions({ interfaceCidrs: ['10.77.0.2/24'], protectedNetworks: [] });
  const applied: number[] = [];
  let url = `${base}/drop.json`;
  const feed = new Feed({
    feed: feedFor('/drop.json'),
    store,
    exclusions,
    log: pino({ level: 'silent' }),
    clock,
    sink: async (_f, _before, after) => void applied.push(after.v4.start.length),
  });
  Object.defineProperty(feed.feed, 'url', { get: () => url });
  assert.equal(await feed.update(), 'updated');
  assert.equal(feed.status.entries, 3);
  assert.equal(await feed.update(), 'not-modified');
  for (const path of ['/404', '/500', '/html', '/truncated', '/slow', '/big']) {
    url = `${base}${path}`;
    assert.equal(await feed.update(), 'failed', path);
    assert.equal(feed.status.entries, 3, `${path} left the copy in force`);
    assert.equal(feed.ranges.v4.start.length, 3);
  }
  assert.equal(feed.status.fetchErrors, 6);
  assert.match(feed.status.lastError ?? '', /size cap/);
  assert.deepEqual(applied, [3], 'the kernel was asked only once, for the good copy');
  // A newer file replaces it, and is the one kept on disk.
  url = `${base}/drop.json`;
  current = DROP2;
  etag = '"v2"';
  assert.equal(await feed.update(), 'updated');
  assert.equal(feed.status.entries, 4);
  assert.equal(feed.status.lastError, null);
  // Next start: the stored copy is in the kernel before any fetch.
  const hitsBefore = hits.get('/drop.json');
  const restarted = new Feed({ feed: feedFor('/drop.json'), store, exclusions, log: pino({ level: 'silent' }), clock, sink: async (_f, _b, after) => void applied.push(after.v4.start.length) });
  assert.equal(await restarted.loadStored(), true);
  assert.equal(restarted.status.entries, 4);
  assert.equal(hits.get('/drop.json'), hitsBefore, 'no network fetch for the start');
  // and its validators make the first fetch conditional
  assert.equal(await restarted.update(), 'not-modified');
});

test('too soon: a second fetch inside the source\'s minimum refresh is not made', async () => {
  let now = 1_000_000;
  const feed = new Feed({ feed: feedFor('/drop.json'), store: new FeedStore(join(dir, 'soon')), exclusions: () => buildExclusions({ interfaceCidrs: [], protectedNetworks: [] }), log: pino({ level: 'silent' }), clock: () => now, sink: async () => {} });
  assert.equal(await feed.update(), 'updated');
  now += 59 * 60_000;
  assert.equal(await feed.update(), 'too-soon');
  now += 2 * 60_000;
  assert.equal(await feed.update(), 'not-modified');
});

test('a shrink past maxShrink is refused; file:// sources use their mtime as Last-Modified', async () => {
  const path = join(dir, 'list.txt');
  writeFileSync(path, Array.from({ length: 10 }, (_, i) => `198.51.100.${i + 1}`).join('\n'));
  const feed = new Feed({ feed: resolveFeed({ name: 'local', url: `file://${path}`, format: 'plain', refresh: '1m', action: 'drop' }), store: new FeedStore(dir), exclusions: () => buildExclusions({ interfaceCidrs: [], protectedNetworks: [] }), log: pino({ level: 'silent' }), sink: async () => {} });
  assert.equal(await feed.update(), 'updated');
  assert.equal(await feed.update(), 'not-modified');
  writeFileSync(path, '198.51.100.1\n198.51.100.2\n');
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  assert.equal(await feed.update(), 'failed');
  assert.match(feed.status.lastError ?? '', /shrank by 80.0%, more than maxShrink 0.5/);
  assert.equal(feed.status.entries, 10);
});
