/**
 * The packet-source interface over capture files (no root needed): packets come decoded, once, in
 * one reused Packet, with the capture's timestamps; sources share a decoder; counters are the
 * registry's. The live sources (NFLOG, libpcap, NFQUEUE) run the same decoder: nflog.test.ts,
 * pcap-live.test.ts and the inline tests drive them against the kernel.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CounterRegistry } from '../model/counters.js';
import type { Packet } from '../model/packet.js';
import { PortwardenError } from '../errors.js';
import { CaptureFileSource } from './file-source.js';
import { FrameDecoder } from './source.js';

const SCAN = new URL('../../test/fixtures/public/scan_syn_small_29ports.pcap', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'pw-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a file source hands over every frame decoded, in one reused Packet, with its capture timestamp and index', async () => {
  const source = new CaptureFileSource([SCAN]);
  const seen: { ts: number; index: number; port: number }[] = [];
  const packets = new Set<Packet>();
  await source.start((p) => {
    packets.add(p);
    seen.push({ ts: p.tsUs, index: p.frameIndex, port: p.dstPort });
  });
  assert.equal(seen.length, 29);
  assert.equal(packets.size, 1, 'one Packet, reused');
  // tcpdump -tt: 1156430125.417872 … > 10.100.18.12.139, then .518348 … > .135
  assert.deepEqual(seen.slice(0, 2), [{ ts: 1156430125417872, index: 0, port: 139 }, { ts: 1156430125518348, index: 1, port: 135 }]);
  assert.deepEqual(seen.map((s) => s.index), [...Array(29).keys()]);
  assert.equal(source.decoder.stats.frames, 29);
  assert.equal(source.decoder.stats.decoded, 29);
  assert.deepEqual(source.stats(), { received: 29, delivered: 29, lost: 0 });
  assert.equal(source.running, false, 'done');

  const r = new CounterRegistry();
  r.add(source.decoder.counters);
  r.add(source.counters);
  const v = r.values();
  assert.equal(v['decode.frames'], 29);
  assert.equal(v['decode.decoded'], 29);
  assert.equal(v['decode.ipv4.truncated'], 0);
  assert.equal(v['capture.file.files'], 1);
  assert.equal(v['capture.file.delivered'], 29);
});

test('sources sharing a decoder count as one capture for one consumer; a second consumer is refused', async () => {
  const decoder = new FrameDecoder('decode');
  const indexes: number[] = [];
  const onPacket = (p: Packet): void => void indexes.push(p.frameIndex);
  await new CaptureFileSource([SCAN], { decoder }).start(onPacket);
  await new CaptureFileSource([SCAN], { decoder }).start(onPacket);
  assert.deepEqual(indexes, [...Array(58).keys()]);
  assert.equal(decoder.stats.frames, 58);
  await assert.rejects(
    new CaptureFileSource([SCAN], { decoder }).start(() => {}),
    (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_CAPTURE_LIVE',
  );
});

test('a file that stops inside a record: what came before is delivered, the error reported, the next file read', () => {
  const whole = readFileSync(SCAN);
  const cut = join(dir, 'cut.pcap');
  writeFileSync(cut, whole.subarray(0, whole.length - 10));
  const source = new CaptureFileSource([cut, SCAN]);
  let n = 0;
  const reports = source.run(() => void n++);
  assert.equal(reports.length, 2);
  assert.equal(reports[0].error?.code, 'PW_ERR_CAPTURE_TRUNCATED');
  assert.equal(reports[1].summary?.frames, 29);
  assert.equal(n, 28 + 29, 'the 28 whole records of the cut file, then all of the next');
  assert.equal(source.counters.get('failed'), 1);
  assert.equal(source.counters.get('files'), 1);
  assert.equal(source.counters.get('delivered'), 57);
});
