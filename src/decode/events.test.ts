import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeEvent, DecodeEventDoc, DecodeStats, DECODE_EVENT_COUNT, decodeEventName, type DecodeEventName } from './events.js';

const names = Object.keys(DecodeEvent) as DecodeEventName[];

test('every decoder event has a one-line doc that says its kind', () => {
  for (const name of names) {
    const doc = DecodeEventDoc[name];
    assert.equal(typeof doc, 'string', name);
    assert.ok(doc.length > 10, `${name}: doc too short`);
    assert.ok(!doc.includes('\n'), `${name}: doc must be one line`);
    if (name !== 'none') assert.match(doc, /^(malformed|notice): /, name);
  }
  assert.deepEqual(Object.keys(DecodeEventDoc).sort(), [...names].sort());
});

test('event ids are dense, unique and start at none = 0', () => {
  const ids = names.map((n) => DecodeEvent[n]).sort((a, b) => a - b);
  assert.deepEqual(ids, ids.map((_, i) => i));
  assert.equal(DecodeEvent.none, 0);
  assert.equal(DECODE_EVENT_COUNT, names.length);
  for (const name of names) assert.equal(decodeEventName(DecodeEvent[name]), name);
  assert.equal(decodeEventName(DECODE_EVENT_COUNT), undefined);
});

test('event names are dotted lower-case layer.reason', () => {
  for (const name of names) if (name !== 'none') assert.match(name, /^[a-z0-9]+\.[a-z_0-9]+$/, name);
});

test('DecodeStats.record counts each frame once as decoded or malformed', () => {
  const stats = new DecodeStats();
  stats.record(DecodeEvent.none);
  stats.record(DecodeEvent.none);
  stats.record(DecodeEvent['tcp.truncated']);
  assert.equal(stats.frames, 3);
  assert.equal(stats.decoded, 2);
  assert.equal(stats.malformed, 1);
  assert.equal(stats.counts[DecodeEvent['tcp.truncated']], 1);
  assert.equal(stats.counts[DecodeEvent.none], 0);
});

test('DecodeStats.note counts a notice without touching frame totals', () => {
  const stats = new DecodeStats();
  stats.note(DecodeEvent['icmp.bad_quote']);
  stats.note(DecodeEvent['icmp.bad_quote']);
  assert.equal(stats.frames, 0);
  assert.equal(stats.malformed, 0);
  assert.equal(stats.counts[DecodeEvent['icmp.bad_quote']], 2);
});

test('DecodeStats.toJSON names only non-zero counts', () => {
  const stats = new DecodeStats();
  assert.deepEqual(stats.toJSON(), {});
  stats.record(DecodeEvent['udp.bad_length']);
  stats.note(DecodeEvent['link.not_ip']);
  stats.record(DecodeEvent.none);
  assert.deepEqual(stats.toJSON(), { 'link.not_ip': 1, 'udp.bad_length': 1 });
  assert.equal(JSON.stringify(stats), '{"link.not_ip":1,"udp.bad_length":1}');
});

test('DecodeStats.firstSeen keeps where each event first happened: frame per file, file, record offset', () => {
  const stats = new DecodeStats();
  stats.beginSource('a.pcap');
  stats.position = 24;
  stats.record(DecodeEvent.none);
  stats.position = 100;
  stats.note(DecodeEvent['tcp.bad_options']); // during frame 2, before record() counts it
  stats.record(DecodeEvent.none);
  stats.position = 200;
  stats.record(DecodeEvent['ipv4.truncated']);
  stats.beginSource('b.pcapng');
  stats.position = 48;
  stats.record(DecodeEvent['frame.bad_timestamp']);
  stats.position = 96;
  stats.record(DecodeEvent['ipv4.truncated']); // a later one: the first stays
  stats.note(DecodeEvent['tcp.bad_options']);
  assert.deepEqual(stats.firstSeen(), {
    'ipv4.truncated': { count: 2, frame: 3, source: 'a.pcap', offset: 200 },
    'tcp.bad_options': { count: 2, frame: 2, source: 'a.pcap', offset: 100 },
    'frame.bad_timestamp': { count: 1, frame: 1, source: 'b.pcapng', offset: 48 },
  });
});

test('DecodeStats.firstSeen without a file (a live capture): frame numbers from the start, no offset', () => {
  const stats = new DecodeStats();
  stats.record(DecodeEvent.none);
  stats.record(DecodeEvent['udp.truncated']);
  assert.deepEqual(stats.firstSeen(), { 'udp.truncated': { count: 1, frame: 2, source: null, offset: null } });
});
