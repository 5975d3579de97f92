/**
 * Syslog channel: every alert of a batch as its own RFC 5424 message (rfc5424.ts), plus one for the
 * rate limit's count, over
 * - udp: one datagram each (at most 2048 bytes, RFC 5426's size every receiver should take);
 * - tcp and unix-stream: one connection per batch, RFC 6587 octet-counting frames;
 * - unix: datagrams to a local socket like /dev/log. Node has no unix datagram sockets, so a small
 *   perl helper (perl-base is essential on Debian) sends them and answers each with ok or the error.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { isIPv6 } from 'node:net';
import { connect } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { abortable, suppressedText, type AlertBatch, type AlertChannel } from './channel.js';
import { formatAlert, formatSuppressed, octetCountingFrame, truncateBytes, type Facility, type SyslogHeader } from './rfc5424.js';

export type SyslogTransport = 'udp' | 'tcp' | 'unix' | 'unix-stream';

export interface SyslogSettings {
  name: string;
  transport: SyslogTransport;
  host: string;
  port: number;
  path: string;
  facility: Facility;
}

export const DATAGRAM_MAX_BYTES = 2048;
const STREAM_MAX_BYTES = 65_536;

export class SyslogChannel implements AlertChannel {
  readonly name: string;
  readonly #s: SyslogSettings;
  readonly #header: SyslogHeader;
  #udp: UdpSocket | null = null;
  #helper: DatagramHelper | null = null;

  constructor(settings: SyslogSettings) {
    this.name = settings.name;
    this.#s = settings;
    this.#header = { facility: settings.facility, hostname: hostname(), procId: process.pid };
  }

  /** The batch as syslog messages: one per alert, then the suppressed count if any. */
  messages(batch: AlertBatch): string[] {
    const out = batch.alerts.map((a) => formatAlert(a, { ...this.#header, hostname: a['host.hostname'] }));
    if (batch.suppressed > 0) out.push(formatSuppressed(batch.suppressed, suppressedText(batch.suppressed), this.#header));
    return out;
  }

  async deliver(batch: AlertBatch, signal: AbortSignal): Promise<void> {
    const messages = this.messages(batch);
    switch (this.#s.transport) {
      case 'udp':
        return this.#sendUdp(messages.map((m) => truncateBytes(m, DATAGRAM_MAX_BYTES)), signal);
      case 'unix':
        // A helper that died (perl gone, killed on an abort) is replaced on the next delivery.
        if (this.#helper === null || this.#helper.dead) {
          this.#resetHelper();
          this.#helper = new DatagramHelper(this.#s.path);
        }
        for (const m of messages) await abortable(this.#helper.send(truncateBytes(m, DATAGRAM_MAX_BYTES)), signal, () => this.#resetHelper());
        return;
      case 'tcp':
      case 'unix-stream':
        return this.#sendStream(messages.map((m) => octetCountingFrame(truncateBytes(m, STREAM_MAX_BYTES))), signal);
    }
  }

  async #sendUdp(datagrams: Buffer[], signal: AbortSignal): Promise<void> {
    if (this.#udp === null) {
      const udp = createSocket(isIPv6(this.#s.host) ? 'udp6' : 'udp4');
      // A datagram socket's errors arrive here too; the send callbacks report them per message.
      udp.on('error', () => {});
      udp.unref();
      this.#udp = udp;
    }
    const udp = this.#udp;
    for (const d of datagrams) {
      await abortable(
        new Promise<void>((resolve, reject) => udp.send(d, this.#s.port, this.#s.host, (err) => (err ? reject(err) : resolve()))),
        signal,
      );
    }
  }

  #sendStream(frames: Buffer[], signal: AbortSignal): Promise<void> {
    const socket = this.#s.transport === 'tcp' ? connect({ host: this.#s.host, port: this.#s.port }) : connect({ path: this.#s.path });
    const done = new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.end(Buffer.concat(frames));
      });
      // 'close' without an error: everything was written and the connection shut down cleanly.
      socket.once('close', (hadError) => (hadError ? reject(new Error('connection closed with an error')) : resolve()));
    });
    return abortable(done, signal, () => socket.destroy());
  }

  #resetHelper(): void {
    this.#helper?.close();
    this.#helper = null;
  }

  async close(): Promise<void> {
    this.#udp?.close();
    this.#udp = null;
    this.#resetHelper();
  }
}

/**
 * Sends datagrams to a unix socket through perl: frames on its stdin are a 4-byte big-endian length and
 * the datagram; it answers each with a line, `ok` or `err <reason>`.
 */
const HELPER = `
use strict; use Socket;
my $path = shift; $| = 1; binmode STDIN;
socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
my $to = sockaddr_un($path);
while (1) {
  my $h = ''; my $n = read(STDIN, $h, 4); last unless defined $n && $n == 4;
  my $size = unpack('N', $h); my $buf = ''; my $got = 0;
  while ($got < $size) { my $r = read(STDIN, $buf, $size - $got, $got); last unless $r; $got += $r; }
  last unless $got == $size;
  if (defined send($s, $buf, 0, $to)) { print "ok\\n" } else { print "err $!\\n" }
}
`;

class DatagramHelper {
  readonly #child: ChildProcess;
  readonly #waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #dead: Error | null = null;

  constructor(path: string) {
    this.#child = spawn('perl', ['-e', HELPER, path], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.unref();
    let stderr = '';
    this.#child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-500)));
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const w = this.#waiting.shift();
      if (w === undefined) return;
      if (line === 'ok') w.resolve();
      else w.reject(new Error(`unix datagram to ${path}: ${line.replace(/^err /, '')}`));
    });
    const fail = (err: Error) => {
      this.#dead ??= err;
      for (const w of this.#waiting.splice(0)) w.reject(this.#dead);
    };
    this.#child.on('error', (err) => fail(new Error(`cannot run the perl datagram helper: ${err.message}`)));
    this.#child.on('exit', (code) => fail(new Error(`the perl datagram helper exited (${String(code)})${stderr ? `: ${stderr.trim()}` : ''}`)));
    this.#child.stdin!.on('error', () => {});
  }

  get dead(): boolean {
    return this.#dead !== null;
  }

  send(datagram: Buffer): Promise<void> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      const head = Buffer.alloc(4);
      head.writeUInt32BE(datagram.length);
      this.#child.stdin!.write(Buffer.concat([head, datagram]));
    });
  }

  close(): void {
    this.#dead ??= new Error('closed');
    this.#child.stdin!.end();
    this.#child.kill();
  }
}
