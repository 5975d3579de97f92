/**
 * libpcap live capture through portwarden's own addon (native/pcap): the option checks, which need
 * no device. Opening devices (as root) and the real thing in network namespaces are in
 * pcap-live.netns.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PortwardenError } from '../errors.js';
import { DEFAULT_PCAP_BUFFER_BYTES, PCAP_PREFILTER, PcapLiveSource } from './pcap-live.js';

const isCaptureError = (e: unknown) => e instanceof PortwardenError && e.code === 'PW_ERR_CAPTURE_LIVE';

describe('PcapLiveSource in this process', () => {
  test('bad options are PW_ERR_CAPTURE_LIVE; defaults are the prefilter, 128 bytes, 64 MiB, promiscuous', () => {
    const onFrame = () => {};
    for (const o of [{ interface: 'bad name!' }, { interface: 'x'.repeat(16) }, { interface: 'eth0', snaplen: 10 }, { interface: 'eth0', bufferBytes: 1.5 }, { interface: 'eth0', budgetPackets: 0 }]) {
      assert.throws(() => new PcapLiveSource({ onFrame, ...o }), isCaptureError, JSON.stringify(o));
    }
    const s = new PcapLiveSource({ interface: 'eth0', onFrame });
    assert.deepEqual([s.filter, s.snaplen, s.bufferBytes, s.promiscuous, s.immediate], [PCAP_PREFILTER, 128, DEFAULT_PCAP_BUFFER_BYTES, true, true]);
    s.stop();
    s.stop();
    assert.equal(s.running, false);
  });
});
