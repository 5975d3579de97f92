/**
 * Runs inside a test's network namespace (nfqueue.netns.test.ts): drives the addon against real
 * iptables-nft NFQUEUE rules on loopback and prints one JSON object with what happened.
 * argv: queue number.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { PortwardenError } from '../../src/errors.js';
import { META_FIELDS, Meta, NfQueue, VERDICT_ACCEPT, VERDICT_DROP } from '../../src/capture/nfqueue.js';

const queueNum = Number(process.argv[2]);
const out: Record<string, unknown> = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof PortwardenError ? err.code : `other: ${String(err)}`;
  }
}

// Verdicts by port: 9999 by payload (accept / drop / mangle), 9997 held until close().
const held: number[] = [];
const q = new NfQueue(queueNum, (meta, data) => {
  const ids = new Uint32Array(meta.length / META_FIELDS);
  const verdicts = new Uint8Array(ids.length);
  let n = 0;
  for (let i = 0; i < meta.length; i += META_FIELDS) {
    const off = meta[i + Meta.offset];
    const len = meta[i + Meta.length];
    const packet = Buffer.from(data.subarray(off, off + len));
    const dport = packet.readUInt16BE(22);
    const text = packet.subarray(28).toString();
    if (dport === 9997) {
      held.push(meta[i + Meta.id]);
      continue;
    }
    if (text.startsWith('mangle')) {
      packet.write('MANGLE', 28);
      packet.writeUInt16BE(0, 26); // IPv4 UDP without checksum
      q.verdict(meta[i + Meta.id], VERDICT_ACCEPT, packet);
      continue;
    }
    ids[n] = meta[i + Meta.id];
    verdicts[n++] = text.startsWith('drop') ? VERDICT_DROP : VERDICT_ACCEPT;
  }
  q.verdictMany(ids, verdicts, n);
});
q.open({ maxlen: 64, copyBytes: 512, watchdogMs: 200 });

// A second bind of the same queue fails; close after the failed open, twice, is fine.
const second = new NfQueue(queueNum, () => undefined);
out.secondOpen = codeOf(() => second.open());
out.closeAfterFailedOpen = codeOf(() => {
  second.close();
  second.close();
});
const bad = new NfQueue(70000, () => undefined);
out.badNumber = codeOf(() => bad.open());
bad.close();

const received: string[] = [];
const rx = dgram.createSocket('udp4');
rx.on('message', (m) => received.push(m.toString()));
await new Promise<void>((r) => rx.bind(9999, '127.0.0.1', r));
const rx2 = dgram.createSocket('udp4');
rx2.on('message', (m) => received.push(m.toString()));
await new Promise<void>((r) => rx2.bind(9997, '127.0.0.1', r));
const tx = dgram.createSocket('udp4');
for (const text of ['accept-1', 'drop-1', 'accept-2', 'mangle', 'drop-2']) tx.send(text, 9999, '127.0.0.1');
await sleep(300);
out.verdicts = [...received];

// A stalled event loop: a separate process sends to 9998 and counts its echoes while this loop is blocked.
const sender = spawn('python3', ['-c', [
  'import socket, time',
  'r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 9998)); r.settimeout(3)',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  'time.sleep(0.3)',
  'start = time.time()',
  '[s.sendto(b"stall", ("127.0.0.1", 9998)) for _ in range(5)]',
  'n = 0',
  'try:',
  '    while n < 5: r.recv(100); n += 1',
  'except Exception: pass',
  'print(n, round((time.time() - start) * 1000))',
].join('\n')]);
let senderOut = '';
sender.stdout.on('data', (d: Buffer) => (senderOut += d.toString()));
const senderDone = new Promise<void>((r) => sender.once('exit', () => r()));
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
await senderDone;
const [stallReceived, stallMs] = senderOut.trim().split(' ').map(Number);
out.stall = { received: stallReceived, ms: stallMs, watchdogAccepted: q.stats().watchdogAccepted };

// Held packets (no verdict yet) are accepted by close(), not dropped by the unbind.
received.length = 0;
for (let i = 0; i < 3; i++) tx.send(`held-${i}`, 9997, '127.0.0.1');
await sleep(200);
out.heldBeforeClose = { held: held.length, received: received.length };
q.close();
await sleep(200);
out.heldAfterClose = received.filter((t) => t.startsWith('held')).length;
out.doubleClose = codeOf(() => q.close());
out.verdictAfterClose = codeOf(() => q.verdict(1, VERDICT_ACCEPT));
out.stats = q.stats();

// A callback that throws, watchdog off: the addon accepts the batch at once (not only at close).
const rx3 = dgram.createSocket('udp4');
const thrown: string[] = [];
rx3.on('message', (m) => thrown.push(m.toString()));
await new Promise<void>((r) => rx3.bind(9996, '127.0.0.1', r));
const throwing = new NfQueue(queueNum, () => {
  throw new Error('callback failure');
});
throwing.open({ maxlen: 64, copyBytes: 512, watchdogMs: 0 });
for (let i = 0; i < 3; i++) tx.send(`throw-${i}`, 9996, '127.0.0.1');
for (let i = 0; i < 50 && thrown.length < 3; i++) await sleep(20);
const ts = throwing.stats();
out.throwing = { receivedBeforeClose: thrown.length, callbackErrors: ts.callbackErrors, failedBatchAccepts: ts.failedBatchAccepts, received: ts.received, closeAccepted: ts.closeAccepted };
throwing.close();
rx3.close();

// NETLINK_NO_ENOBUFS off and a tiny receive buffer, the loop blocked while a burst arrives: the
// kernel reports ENOBUFS (EPOLLERR). It is counted, and the queue keeps receiving afterwards (the
// shared receive loop, native/common/nl_recv_loop.c, restarts the poll libuv stopped).
const rx4 = dgram.createSocket('udp4');
const overflowed: string[] = [];
rx4.on('message', (m) => overflowed.push(m.toString()));
await new Promise<void>((r) => rx4.bind(9995, '127.0.0.1', r));
const seen: number[] = [];
const small = new NfQueue(queueNum, (meta) => {
  const ids = new Uint32Array(meta.length / META_FIELDS);
  for (let i = 0; i < ids.length; i++) ids[i] = meta[i * META_FIELDS + Meta.id];
  seen.push(ids.length);
  small.verdictMany(ids, new Uint8Array(ids.length).fill(VERDICT_ACCEPT), ids.length);
});
small.open({ maxlen: 4096, copyBytes: 1024, failOpen: true, noEnobufs: false, rcvbufBytes: 4096, watchdogMs: 0 });
const burst = Buffer.alloc(900, 'b');
for (let i = 0; i < 200; i++) tx.send(burst, 9995, '127.0.0.1');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
await sleep(200);
const enobufs = small.stats().enobufs;
const receivedBefore = small.stats().received;
for (let i = 0; i < 3; i++) tx.send(`after-${i}`, 9995, '127.0.0.1');
for (let i = 0; i < 50 && small.stats().received < receivedBefore + 3; i++) await sleep(20);
const ss = small.stats();
out.overflow = { enobufs, receivedAfter: ss.received - receivedBefore, recvErrors: ss.recvErrors, afterDelivered: overflowed.filter((t) => t.startsWith('after')).length };
small.close();
rx4.close();
rx.close();
rx2.close();
tx.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
