/**
 * The netlink addon (native/netlink) through its wrapper. Everything here talks to the kernel only:
 * NLMSG_NOOP requests (acknowledged, change nothing), an RTM_GETLINK dump and an nf_tables GETTABLE
 * of a table that does not exist, all read-only, in the test's own network namespace. Needs root
 * for the NETLINK_NETFILTER part only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import {
  NETLINK_NETFILTER,
  NETLINK_NO_ENOBUFS,
  NETLINK_ROUTE,
  NetlinkSocket,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_SNDBUF,
  loadNetlinkAddon,
} from './netlink-socket.js';
import * as socketModule from './netlink-socket.js';
import { encodeGetTable } from '../enforce/nft-netlink.js';

import { allMessages, collecting, getLinkDump, IFLA_IFNAME, messages, NLMSG_DONE, NLMSG_ERROR, noop, RTM_NEWLINK } from '../../test/support/netlink-messages.js';
const isRoot = process.getuid?.() === 0;

test('the option constants are the kernel headers\' (as the addon was compiled with)', () => {
  const c = loadNetlinkAddon().constants;
  for (const [name, value] of Object.entries(c)) assert.equal((socketModule as unknown as Record<string, number>)[name], value, name);
  assert.ok(Object.keys(c).length >= 14);
});

test('open, close, double close; a closed socket refuses work with EBADF', () => {
  const s = new NetlinkSocket(NETLINK_ROUTE, () => {});
  assert.equal(s.closed, false);
  assert.equal(s.stats().open, 1);
  assert.equal(s.stats().polling, 1);
  s.close();
  s.close();
  assert.equal(s.closed, true);
  assert.equal(s.stats().open, 0);
  assert.equal(s.portId, 0);
  assert.throws(() => s.send(noop(1)), (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.EBADF);
  assert.throws(() => s.bind(), (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.EBADF);
});

test('a failed open (no such protocol) throws the errno; close afterwards is a no-op', () => {
  const addon = loadNetlinkAddon();
  const native = new addon.Socket(() => {});
  assert.throws(
    () => native.open(31, {}),
    (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.EPROTONOSUPPORT && e.syscall === 'socket',
  );
  native.close();
  native.close();
  assert.equal(native.stats().open, 0);
  // Through the wrapper: the constructor throws, nothing is left open.
  assert.throws(() => new NetlinkSocket(31, () => {}), (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.EPROTONOSUPPORT);
  // Bad arguments are type/range errors, not crashes.
  assert.throws(() => native.open(-1, {}), RangeError);
  assert.throws(() => new NetlinkSocket(NETLINK_ROUTE, () => {}, { recvBytes: 10 }), RangeError);
  assert.throws(() => new (addon.Socket as unknown as new (x: unknown) => unknown)(42), TypeError);
});

test('bind: the kernel picks the port id; setsockopt / getsockopt of int options', () => {
  const s = new NetlinkSocket(NETLINK_ROUTE, () => {});
  try {
    assert.equal(s.portId, 0);
    const port = s.bind();
    assert.ok(port > 0);
    assert.equal(s.portId, port);
    assert.throws(() => s.bind(), (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.EINVAL && e.syscall === 'bind');
    assert.equal(s.getsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS), 0);
    s.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1);
    assert.equal(s.getsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS), 1);
    s.setsockopt(SOL_SOCKET, SO_RCVBUF, 65536);
    assert.equal(s.getsockopt(SOL_SOCKET, SO_RCVBUF), 2 * 65536); // the kernel doubles it for overhead
    assert.throws(() => s.setsockopt(SOL_NETLINK, 9999, 1), (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.ENOPROTOOPT && e.syscall === 'setsockopt');
    assert.throws(() => s.getsockopt(SOL_NETLINK, 9999), (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.ENOPROTOOPT);
  } finally {
    s.close();
  }
});

test('send reports the errno: a datagram over the send buffer is EMSGSIZE', () => {
  const s = new NetlinkSocket(NETLINK_ROUTE, () => {});
  try {
    s.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096);
    assert.throws(() => s.send(Buffer.alloc(64 * 1024)), (e: NodeJS.ErrnoException) => e.code === 'PW_ERR_NETLINK' && e.errno === osConstants.errno.EMSGSIZE && e.syscall === 'sendto');
    assert.equal(s.send(noop(1)), 16);
  } finally {
    s.close();
  }
});

test('one wakeup hands every queued datagram to one callback, back to back', async () => {
  const { socket, batches, until } = collecting(NETLINK_ROUTE);
  try {
    for (let seq = 1; seq <= 10; seq++) socket.send(noop(seq));
    assert.ok(socket.portId > 0, 'sending bound the socket');
    await until((all) => all.reduce((n, b) => n + b.datagrams, 0) >= 10);
    assert.equal(batches.length, 1, 'all ten ACKs in one callback');
    const [b] = batches;
    assert.deepEqual([b.datagrams, b.enobufs, b.truncated, b.errno], [10, 0, 0, 0]);
    const acks = messages(b.data!);
    assert.deepEqual(acks.map((m) => [m.type, m.errno, m.answered]), Array.from({ length: 10 }, (_, i) => [NLMSG_ERROR, 0, i + 1]));
    const st = socket.stats();
    assert.equal(st.datagrams, 10);
    assert.equal(st.batches, 1);
    assert.equal(st.bytes, b.data!.length);
  } finally {
    socket.close();
  }
});

test('a dump arrives in parts up to DONE (RTM_GETLINK: the loopback link is in it)', async () => {
  const { socket, batches, until } = collecting(NETLINK_ROUTE);
  try {
    socket.send(getLinkDump(7));
    await until((all) => allMessages(all).some((m) => m.type === NLMSG_DONE));
    const msgs = allMessages(batches);
    assert.equal(msgs.at(-1)!.type, NLMSG_DONE);
    assert.ok(msgs.every((m) => m.seq === 7));
    const names = msgs
      .filter((m) => m.type === RTM_NEWLINK)
      .map((m) => {
        for (let a = 16; a + 4 <= m.body.length; ) {
          const len = m.body.readUInt16LE(a);
          if (len < 4) break;
          if ((m.body.readUInt16LE(a + 2) & 0x3fff) === IFLA_IFNAME) return m.body.toString('utf8', a + 4, a + len - 1);
          a += (len + 3) & ~3;
        }
        return '';
      });
    assert.ok(names.includes('lo'), names.join(','));
  } finally {
    socket.close();
  }
});

test('a datagram larger than recvBytes is counted as truncated and left out, never half-parsed', async () => {
  const { socket, batches, until } = collecting(NETLINK_ROUTE, { recvBytes: 256 });
  try {
    socket.send(getLinkDump(8)); // every RTM_NEWLINK is well over 256 bytes
    await until((all) => all.some((b) => b.truncated > 0));
    for (const b of batches) if (b.data !== undefined) for (const m of messages(b.data)) assert.notEqual(m.type, RTM_NEWLINK);
    assert.ok(socket.stats().truncated > 0);
    // The socket goes on working.
    socket.send(noop(99));
    await until((all) => allMessages(all).some((m) => m.answered === 99));
  } finally {
    socket.close();
  }
});

test('nf_tables: GETTABLE of a table that does not exist is answered ENOENT with its sequence number', { skip: isRoot ? false : 'needs root' }, async () => {
  const { socket, batches, until } = collecting(NETLINK_NETFILTER);
  try {
    socket.send(encodeGetTable('pw_no_such_table_netlink_test', 4242));
    await until((all) => allMessages(all).some((m) => m.type === NLMSG_ERROR));
    const err = allMessages(batches).find((m) => m.type === NLMSG_ERROR)!;
    assert.deepEqual([err.errno, err.answered], [osConstants.errno.ENOENT, 4242]);
  } finally {
    socket.close();
  }
});

/** Sends `count` acknowledged NOOPs while the loop cannot read: the ACKs overflow a minimal receive buffer. */
function overflow(socket: NetlinkSocket, count: number, firstSeq: number): void {
  for (let i = 0; i < count; i++) socket.send(noop(firstSeq + i));
}

test('a receive buffer overflow (ENOBUFS) is counted, never a crash, and the socket keeps working', async () => {
  const { socket, batches, until } = collecting(NETLINK_ROUTE);
  try {
    socket.setsockopt(SOL_SOCKET, SO_RCVBUF, 0); // the kernel's minimum, a few KiB
    overflow(socket, 2000, 1);
    await until((all) => all.some((b) => b.enobufs > 0));
    const acked = allMessages(batches).filter((m) => m.type === NLMSG_ERROR).length;
    assert.ok(acked < 2000, `the kernel dropped ACKs (${acked} arrived)`);
    assert.ok(socket.stats().enobufs >= 1);
    assert.equal(socket.stats().polling, 1, 'still polling after the error');
    assert.ok(batches.every((b) => b.errno === 0));
    // Still receiving after the overflow.
    socket.send(noop(5000));
    await until((all) => allMessages(all).some((m) => m.answered === 5000));
    // A second episode is reported again.
    const before = socket.stats().enobufs;
    await new Promise((r) => setImmediate(r));
    overflow(socket, 2000, 10_000);
    await until(() => socket.stats().enobufs > before);
  } finally {
    socket.close();
  }
});

test('with NETLINK_NO_ENOBUFS an overflow only drops messages, no report', async () => {
  const { socket, batches, until } = collecting(NETLINK_ROUTE);
  try {
    socket.setsockopt(SOL_SOCKET, SO_RCVBUF, 0);
    socket.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1);
    overflow(socket, 2000, 1);
    socket.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 20); // room for the marker below
    await until((all) => allMessages(all).length > 0);
    await new Promise((r) => setImmediate(r));
    socket.send(noop(5000));
    await until((all) => allMessages(all).some((m) => m.answered === 5000));
    const acked = allMessages(batches).filter((m) => m.answered !== 5000).length;
    assert.ok(acked < 2000, `the kernel dropped ACKs (${acked} arrived)`);
    assert.ok(batches.every((b) => b.enobufs === 0));
    assert.equal(socket.stats().enobufs, 0);
  } finally {
    socket.close();
  }
});

test('close() inside the callback stops delivery; nothing more arrives', async () => {
  let calls = 0;
  let socket: NetlinkSocket | null = null;
  const closed = new Promise<void>((resolve) => {
    socket = new NetlinkSocket(NETLINK_ROUTE, () => {
      calls++;
      socket!.close();
      resolve();
    });
  });
  socket!.send(noop(1));
  await closed;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(calls, 1);
  assert.equal(socket!.stats().open, 0);
});

test('an unref()ed socket does not keep the process alive; a ref()ed one does until close()', () => {
  const mod = new URL('./netlink-socket.js', import.meta.url).pathname;
  const run = (body: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { NetlinkSocket } from ${JSON.stringify(mod)};\n${body}`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
  // Unref'd, bound and with a reply pending: the process ends by itself.
  const a = run(`const s = new NetlinkSocket(0, () => {}); s.bind(); s.unref(); console.log('idle');`);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout.trim(), 'idle');
  // Ref'd (after an unref): the process waits for the socket, which the (unref'd) timer closes.
  const b = run(`const s = new NetlinkSocket(0, () => {}); s.bind(); s.unref(); s.ref(); setTimeout(() => { console.log('closing'); s.close(); }, 200).unref();`);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(b.stdout.trim(), 'closing');
});
