/** The control socket: root-only, one JSON request per line, stable error codes, never trusts the peer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortwardenError } from '../errors.js';
import { request } from './client.js';
import type { BanView, ControlHandler } from '../model/control.js';
import { ControlServer } from './server.js';

/** A daemon stand-in that keeps bans in a map: the protocol under test, not the daemon. */
function handler(): ControlHandler & { banned: Map<string, BanView> } {
  const banned = new Map<string, BanView>();
  return {
    banned,
    status: async () => ({ version: '0.1.0', startedAt: '2026-01-01T00:00:00.000Z', profile: 'normal', backend: 'dry-run', dryRun: true, interfaces: ['eth0'], allInterfaces: false, captureMethod: 'nflog', socket: '/run/pw/control.sock', stateDir: '/var/lib/pw', configFile: null, bans: banned.size, incidents: 0, counters: {} }),
    bans: async () => [...banned.values()],
    ban: async (r) => {
      if (r.target === '127.0.0.1') throw new PortwardenError('PW_ERR_USAGE', 'refusing to ban loopback');
      banned.set(r.target, { target: r.target, reason: r.reason, expiresInSeconds: r.seconds, origin: 'operator' });
      return { target: r.target, expiresInSeconds: r.seconds };
    },
    unban: async (r) => ({ target: r.target ?? '*', removed: r.target !== undefined && banned.delete(r.target) }),
    allow: async (r) => ({ target: r.target }),
    reload: async () => ({ profile: 'normal', changed: false, restartNeeded: [] }),
    lookup: async (r) => ({ address: r.address, bans: [], feeds: [], geo: null, geoDatabase: null, geoPolicy: null, offences: null, reputation: { score: 0, offenceScore: 0, offences: 0, feedWeight: 0, feeds: [] }, protected: null }),
    feeds: async () => [],
    'feeds-update': async () => [],
    fleet: async () => {
      throw new PortwardenError('PW_ERR_CONTROL', 'this daemon is in no fleet');
    },
  };
}

async function withServer(fn: (path: string, h: ReturnType<typeof handler>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-control-'));
  const path = join(dir, 'run', 'control.sock');
  const h = handler();
  const server = await ControlServer.listen(path, h);
  try {
    await fn(path, h);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function rawExchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.write(payload));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      data += c;
      if (data.includes('\n')) {
        socket.end();
        resolve(data.split('\n')[0]);
      }
    });
    socket.on('error', reject);
  });
}

test('the socket is root-only: mode 0600 in a directory of mode 0700', () =>
  withServer(async (path) => {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
  }));

test('ban, bans, unban and status go through and come back typed', () =>
  withServer(async (path, h) => {
    assert.deepEqual(await request(path, { command: 'ban', target: '203.0.113.5', seconds: 600, reason: 'manual' }), { target: '203.0.113.5', expiresInSeconds: 600 });
    assert.equal(h.banned.size, 1);
    const bans = await request(path, { command: 'bans' });
    assert.deepEqual(bans.map((b) => b.target), ['203.0.113.5']);
    assert.equal((await request(path, { command: 'status' })).bans, 1);
    assert.deepEqual(await request(path, { command: 'unban', target: '203.0.113.5' }), { target: '203.0.113.5', removed: true });
    assert.deepEqual(await request(path, { command: 'unban', target: '203.0.113.5' }), { target: '203.0.113.5', removed: false });
  }));

test("the daemon's refusals keep their error code", () =>
  withServer(async (path) => {
    await assert.rejects(request(path, { command: 'ban', target: '127.0.0.1', seconds: null, reason: 'oops' }), (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_USAGE' && /loopback/.test(err.message));
  }));

test('malformed requests are answered with PW_ERR_CONTROL and a reason, never crash the server', () =>
  withServer(async (path) => {
    const cases: [string, RegExp][] = [
      ['not json\n', /not JSON/],
      ['{"command":"format-disk"}\n', /unknown command/],
      ['{"command":"ban","seconds":60,"reason":"x"}\n', /needs a target/],
      ['{"command":"ban","target":"192.0.2.1","seconds":-5,"reason":"x"}\n', /whole number above 0/],
    ];
    for (const [payload, why] of cases) {
      const reply = JSON.parse(await rawExchange(path, payload)) as { ok: boolean; error: { code: string; message: string } };
      assert.equal(reply.ok, false);
      assert.equal(reply.error.code, 'PW_ERR_CONTROL');
      assert.match(reply.error.message, why);
    }
    assert.equal((await request(path, { command: 'status' })).profile, 'normal', 'still serving');
  }));

test('a line that grows past 64 KiB without its newline is refused and the connection closed', () =>
  withServer(async (path) => {
    const reply = JSON.parse(await rawExchange(path, 'x'.repeat(70 * 1024))) as { ok: boolean; error: { message: string } };
    assert.equal(reply.ok, false);
    assert.match(reply.error.message, /longer than/);
  }));

/** Writes `payload` at once and collects `count` reply lines. */
function batchExchange(path: string, payload: string, count: number): Promise<{ ok: boolean; result?: { target?: string }; error?: { message: string } }[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.end(payload));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      data += c;
    });
    socket.on('close', () => {
      const lines = data.split('\n').filter((l) => l.length > 0);
      if (lines.length !== count) reject(new Error(`expected ${count} replies, got ${lines.length}`));
      else resolve(lines.map((l) => JSON.parse(l) as { ok: boolean; result?: { target?: string }; error?: { message: string } }));
    });
    socket.on('error', reject);
  });
}

test('a batch of many short requests, over 64 KiB together and written at once, is answered line by line in order', () =>
  withServer(async (path, h) => {
    const targets = Array.from({ length: 3000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const payload = targets.map((target) => `${JSON.stringify({ command: 'ban', target, seconds: 600, reason: 'batch test' })}\n`).join('');
    assert.ok(Buffer.byteLength(payload) > 3 * 64 * 1024, 'the batch is well over the per-line limit');
    // The peer shuts its side right after writing: every answer still comes back.
    const replies = await batchExchange(path, payload, targets.length);
    assert.deepEqual(replies.map((r) => r.ok && r.result?.target), targets);
    assert.equal(h.banned.size, targets.length);
  }));

test('an over-long line inside a batch is refused in its place; the lines around it are served', () =>
  withServer(async (path) => {
    const status = `${JSON.stringify({ command: 'status' })}\n`;
    const replies = await batchExchange(path, `${status}${'x'.repeat(70 * 1024)}\n${status}`, 3);
    assert.equal(replies[0].ok, true);
    assert.equal(replies[1].ok, false);
    assert.match(replies[1].error!.message, /longer than 65536 bytes/);
    assert.equal(replies[2].ok, true);
  }));

test('a request that arrives in pieces is put together', () =>
  withServer(async (path) => {
    const line = `${JSON.stringify({ command: 'ban', target: '203.0.113.9', seconds: 60, reason: 'in pieces' })}\n`;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(path, () => {
        socket.write(line.slice(0, 10));
        setTimeout(() => socket.write(line.slice(10)), 50);
      });
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => {
        socket.end();
        resolve(c.split('\n')[0]);
      });
      socket.on('error', reject);
    });
    assert.deepEqual(JSON.parse(reply), { ok: true, result: { target: '203.0.113.9', expiresInSeconds: 60 } });
  }));

test('in a batch, bans are in flight together but every other request waits for them, and the ones after it wait for it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-control-'));
  const path = join(dir, 'control.sock');
  // A book stand-in: a change is queued at once and committed after a delay (longer for earlier requests).
  const queued: string[] = [];
  const committed = new Set<string>();
  let inFlight = 0;
  let maxInFlight = 0;
  const h = handler();
  const later = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const commit = async (ms: number, apply: () => void) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await later(ms);
    apply();
    inFlight -= 1;
  };
  const server = await ControlServer.listen(path, {
    ...h,
    ban: async (r) => {
      queued.push(`ban ${r.target}`);
      await commit(r.seconds! % 100, () => committed.add(r.target));
      return { target: r.target, expiresInSeconds: r.seconds };
    },
    unban: async (r) => {
      queued.push(`unban ${r.target}`);
      await commit(5, () => committed.delete(r.target ?? ''));
      return { target: r.target ?? '*', removed: true };
    },
    bans: async () => [...committed].sort().map((target) => ({ target, reason: '', expiresInSeconds: null, origin: 'operator' as const })),
    allow: async (r) => {
      await later(20);
      queued.push(`allow ${r.target}`);
      return { target: r.target };
    },
  });
  try {
    const lines = [
      { command: 'ban', target: '192.0.2.1', seconds: 180, reason: '' },
      { command: 'ban', target: '192.0.2.2', seconds: 110, reason: '' },
      { command: 'bans' },
      { command: 'unban', target: '192.0.2.1' },
      { command: 'allow', target: '192.0.2.9', reason: '' },
      { command: 'ban', target: '192.0.2.3', seconds: 101, reason: '' },
      { command: 'bans' },
    ];
    const replies = await batchExchange(path, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), lines.length);
    const results = replies.map((r) => (r as unknown as { result: unknown }).result);
    assert.deepEqual((results[2] as BanView[]).map((b) => b.target), ['192.0.2.1', '192.0.2.2'], 'bans sees both bans committed');
    assert.deepEqual((results[6] as BanView[]).map((b) => b.target), ['192.0.2.2', '192.0.2.3']);
    assert.deepEqual(queued, ['ban 192.0.2.1', 'ban 192.0.2.2', 'unban 192.0.2.1', 'allow 192.0.2.9', 'ban 192.0.2.3'], 'changes queued in request order');
    assert.equal(maxInFlight, 2, 'the two first bans were in flight together');
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with no daemon the client says so, naming the socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-control-'));
  try {
    await assert.rejects(request(join(dir, 'none.sock'), { command: 'status' }), (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_CONTROL' && /is the daemon running/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stale socket file left by a dead daemon does not stop a new one from listening', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-control-'));
  const path = join(dir, 'control.sock');
  writeFileSync(path, '');
  try {
    const server = await ControlServer.listen(path, handler());
    assert.equal((await request(path, { command: 'reload' })).changed, false);
    await server.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
