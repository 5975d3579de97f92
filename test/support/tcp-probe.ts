/**
 * Test helper, not shipped behaviour: TCP connection attempts from one local address, run inside a
 * namespace (`ip netns exec NS node --import tsx tcp-probe.ts FROM TO PORT COUNT INTERVAL_MS [progress]`).
 * One attempt every INTERVAL_MS (each given 300 ms); COUNT 0 runs until SIGINT/SIGTERM. Prints
 * {"started":true} once running, {"attempt":N} at each attempt with `progress`, and
 * {"sent":N,"connected":M} when done.
 */
import { connect } from 'node:net';

const [from, to, port, count, interval, progress] = process.argv.slice(2);
let sent = 0;
let connected = 0;
let pending = 0;
let stopping = false;

function done(): void {
  if (pending > 0) return;
  // stdout to a pipe is asynchronous: exit only once the line is out.
  process.stdout.write(`${JSON.stringify({ sent, connected })}\n`, () => process.exit(0));
}

function attempt(): void {
  sent++;
  pending++;
  if (progress === 'progress') process.stdout.write(`${JSON.stringify({ attempt: sent })}\n`);
  const socket = connect({ host: to, port: Number(port), localAddress: from });
  const finish = (ok: boolean) => {
    socket.destroy();
    if (ok) connected++;
    pending--;
    if (stopping) done();
  };
  socket.setTimeout(300, () => finish(false));
  socket.once('connect', () => finish(true));
  socket.once('error', () => finish(false));
}

const timer = setInterval(() => {
  attempt();
  if (Number(count) > 0 && sent >= Number(count)) stop();
}, Number(interval));

function stop(): void {
  clearInterval(timer);
  stopping = true;
  done();
}
process.on('SIGINT', stop);
process.stdout.write(`${JSON.stringify({ started: true })}\n`);
process.on('SIGTERM', stop);
