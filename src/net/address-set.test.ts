/**
 * What an AddressSet promises: the most specific entry wins, IPv4-mapped IPv6 is IPv4, bad entries
 * are refused by name, prefixes can be checked for overlap, and a million entries stay fast.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import ipaddr from 'ipaddr.js';
import { createRng } from '../../scripts/frames.js';
import { PortwardenError } from '../errors.js';
import { AddressSet, canonical, parseNetwork, prefixOf } from './address-set.js';

function setOf(entries: [string, string][]): AddressSet {
  const s = new AddressSet();
  for (const [n, r] of entries) s.add(n, r);
  return s;
}

const ENTRIES: [string, string][] = [
  ['10.0.0.0/8', 'corp'],
  ['10.1.0.0/16', 'lab'],
  ['10.1.2.0/24', 'rack'],
  ['10.1.2.3', 'bastion'],
  ['192.0.2.0/24', 'docs'],
  ['2001:db8::/32', 'v6 docs'],
  ['2001:db8:1::/48', 'site'],
  ['2001:db8:1:2::/64', 'subnet'],
  ['2001:db8:1:2::7', 'v6 bastion'],
  ['::ffff:198.51.100.0/120', 'mapped entry'],
];

const MATCHES: { address: string; network: string | null; reason?: string }[] = [
  // IPv4: overlapping networks, the most specific wins
  { address: '10.1.2.3', network: '10.1.2.3', reason: 'bastion' },
  { address: '10.1.2.4', network: '10.1.2.0/24', reason: 'rack' },
  { address: '10.1.3.1', network: '10.1.0.0/16', reason: 'lab' },
  { address: '10.200.0.1', network: '10.0.0.0/8', reason: 'corp' },
  { address: '11.0.0.1', network: null },
  { address: '192.0.2.255', network: '192.0.2.0/24', reason: 'docs' },
  { address: '192.0.3.0', network: null },
  // IPv6, in any spelling
  { address: '2001:db8:1:2::7', network: '2001:db8:1:2::7', reason: 'v6 bastion' },
  { address: '2001:DB8:1:2:0:0:0:7', network: '2001:db8:1:2::7', reason: 'v6 bastion' },
  { address: '2001:db8:1:2::8', network: '2001:db8:1:2::/64', reason: 'subnet' },
  { address: '2001:db8:1:3::1', network: '2001:db8:1::/48', reason: 'site' },
  { address: '2001:db8:ffff::1', network: '2001:db8::/32', reason: 'v6 docs' },
  { address: '2001:db9::1', network: null },
  // IPv4-mapped IPv6 is IPv4, both ways
  { address: '::ffff:10.1.2.3', network: '10.1.2.3', reason: 'bastion' },
  { address: '::ffff:a01:204', network: '10.1.2.0/24', reason: 'rack' },
  { address: '198.51.100.9', network: '198.51.100.0/24', reason: 'mapped entry' },
  { address: '::ffff:198.51.100.200', network: '198.51.100.0/24', reason: 'mapped entry' },
  // IPv4-compatible (deprecated ::a.b.c.d) is NOT mapped: plain IPv6
  { address: '::10.1.2.3', network: null },
];

test('match returns the most specific entry, for IPv4, IPv6 and IPv4-mapped IPv6', () => {
  const s = setOf(ENTRIES);
  for (const row of MATCHES) {
    const got = s.match(row.address);
    assert.deepEqual(got, row.network === null ? null : { network: row.network, reason: row.reason }, row.address);
  }
});

test('an IPv6 network covering the mapped range also covers IPv4 addresses; /0 covers its whole family', () => {
  const s = setOf([
    ['::/80', 'v6 low'],
    ['0.0.0.0/0', 'every v4'],
  ]);
  assert.deepEqual(s.match('203.0.113.1'), { network: '0.0.0.0/0', reason: 'every v4' });
  s.delete('0.0.0.0/0');
  assert.deepEqual(s.match('203.0.113.1'), { network: '::/80', reason: 'v6 low' });
  assert.equal(s.match('2001:db8::1'), null);
  assert.deepEqual(setOf([['::/0', 'all v6']]).match('2001:db8::1'), { network: '::/0', reason: 'all v6' });
});

const BAD: { entry: string; detail: RegExp }[] = [
  { entry: '', detail: /empty/ },
  { entry: '10.0.0.256', detail: /octet over 255/ },
  { entry: '10.0.0', detail: /fewer than four octets/ },
  { entry: '10.0.0.1.2', detail: /more than four octets/ },
  { entry: '010.0.0.1', detail: /leading zero/ },
  { entry: '10..0.1', detail: /empty octet/ },
  { entry: ' 10.0.0.1', detail: /unexpected character " "/ },
  { entry: '10.0.0.0/33', detail: /prefix length over 32/ },
  { entry: '10.0.0.0/', detail: /prefix length is not a number/ },
  { entry: '10.0.0.0/08', detail: /prefix length is not a number/ },
  { entry: '10.1.0.0/8', detail: /host bits are set \(the network is 10\.0\.0\.0\/8\)/ },
  { entry: '2001:db8::1/32', detail: /host bits are set \(the network is 2001:db8::\/32\)/ },
  { entry: '2001:db8::/129', detail: /prefix length over 128/ },
  { entry: '1::2::3', detail: /more than one '::'/ },
  { entry: '1:2:3:4:5:6:7', detail: /fewer than eight groups/ },
  { entry: '1:2:3:4:5:6:7:8:9', detail: /too many groups/ },
  { entry: '1:2:3:4::5:6:7:8', detail: /'::' stands for no group/ },
  { entry: '12345::1', detail: /more than four hex digits/ },
  { entry: 'fe80::1%eth0', detail: /zone index/ },
  { entry: '::ffff:1.2.3', detail: /embedded IPv4/ },
  { entry: 'g::1', detail: /unexpected character "g"/ },
  { entry: 'bastion.example.com', detail: /unexpected character|neither/ },
  { entry: 'localhost', detail: /neither an IPv4 nor an IPv6 address/ },
];

test('a bad entry is refused with PW_ERR_DECIDE_INPUT, quoting it and saying what is wrong', () => {
  const s = new AddressSet();
  for (const { entry, detail } of BAD) {
    assert.throws(
      () => s.add(entry, 'x'),
      (err: unknown) => {
        assert.ok(err instanceof PortwardenError, entry);
        assert.equal(err.code, 'PW_ERR_DECIDE_INPUT');
        assert.ok(err.message.startsWith(`${JSON.stringify(entry)} is not an IP address or network: `), err.message);
        assert.match(err.message, detail, entry);
        return true;
      },
    );
  }
  assert.equal(s.size, 0);
  assert.throws(() => s.match('10.0.0.0/8'), { code: 'PW_ERR_DECIDE_INPUT' }, 'match takes one address');
});

test('size, delete and re-adding: an entry is one network, its reason the latest given', () => {
  const s = setOf(ENTRIES);
  assert.equal(s.size, ENTRIES.length);
  s.add('::ffff:10.1.2.3', 'bastion, renamed'); // the same address as 10.1.2.3
  assert.equal(s.size, ENTRIES.length);
  assert.deepEqual(s.match('10.1.2.3'), { network: '10.1.2.3', reason: 'bastion, renamed' });
  assert.equal(s.delete('10.1.2.3'), true);
  assert.equal(s.delete('10.1.2.3'), false);
  assert.equal(s.delete('10.9.0.0/16'), false);
  assert.equal(s.size, ENTRIES.length - 1);
  assert.deepEqual(s.match('10.1.2.3'), { network: '10.1.2.0/24', reason: 'rack' });
  assert.equal(s.delete('2001:db8:1::/48'), true);
  assert.deepEqual(s.match('2001:db8:1:3::1'), { network: '2001:db8::/32', reason: 'v6 docs' });
  s.clear();
  assert.equal(s.size, 0);
  assert.equal(s.match('10.1.2.3'), null);
});

test('entries() lists every entry in canonical text, mapped ones as IPv4', () => {
  const got = [...setOf(ENTRIES).entries()].map((e) => e.network).sort();
  const want = ENTRIES.map(([n]) => canonical(n)).sort();
  assert.deepEqual(got, want);
  assert.ok(got.includes('198.51.100.0/24'));
});

const OVERLAPS: { network: string; overlaps: string | null }[] = [
  { network: '10.1.2.0/24', overlaps: '10.1.2.0/24' }, // itself
  { network: '10.1.2.128/25', overlaps: '10.1.2.0/24' }, // inside an entry
  { network: '10.0.0.0/7', overlaps: '10.0.0.0/8' }, // contains entries (reports one, the widest)
  { network: '192.0.0.0/16', overlaps: '192.0.2.0/24' },
  { network: '203.0.113.0/24', overlaps: null },
  { network: '2001:db8:1:2::/64', overlaps: '2001:db8:1:2::/64' },
  { network: '2001:db8:1:2::/120', overlaps: '2001:db8:1:2::/64' },
  { network: '2001:db8::/31', overlaps: '2001:db8::/32' },
  { network: '10.1.2.0/31', overlaps: '10.1.2.0/24' },
  { network: '10.1.2.2/31', overlaps: '10.1.2.0/24' },
  { network: '2001:db9::/32', overlaps: null },
];

test('overlapping: a prefix that contains or lies inside an entry overlaps it', () => {
  const s = setOf(ENTRIES);
  for (const row of OVERLAPS) assert.equal(s.overlapping(row.network)?.network ?? null, row.overlaps, row.network);
  // The index of children stays in step after it is built.
  s.add('203.0.113.77', 'late');
  assert.deepEqual(s.overlapping('203.0.113.0/24'), { network: '203.0.113.77', reason: 'late' });
  s.delete('203.0.113.77');
  assert.equal(s.overlapping('203.0.113.0/24'), null);
  s.add('2001:db9::5', 'late v6');
  assert.equal(s.overlapping('2001:db9::/32')?.network, '2001:db9::5');
  // An IPv6 network covering mapped space contains the IPv4 entries.
  assert.ok(s.overlapping('::/64') !== null);
});

test('parseNetwork and prefixOf give canonical networks', () => {
  const rows: [string, number, string][] = [
    ['198.51.100.77', 24, '198.51.100.0/24'],
    ['198.51.100.77', 32, '198.51.100.77'],
    ['::ffff:198.51.100.77', 16, '198.51.0.0/16'],
    ['2001:db8:1:2:3:4:5:6', 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:3:4:5:6', 48, '2001:db8:1::/48'],
    ['2001:db8:1:2:3:4:5:6', 128, '2001:db8:1:2:3:4:5:6'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 128, '2001:db8::1'],
  ];
  for (const [address, length, want] of rows) assert.equal(prefixOf(parseNetwork(address), length).text, want, `${address}/${length}`);
});

test('matching agrees with ipaddr.js on random networks and addresses (v4, v6, mapped)', () => {
  const rng = createRng(0x5e7);
  const v4 = () => [rng.int(0, 255), rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)].join('.');
  const v6 = () => {
    const g = Array.from({ length: 8 }, () => rng.int(0, 0xffff).toString(16));
    g[0] = '2001';
    g[1] = rng.pick(['db8', 'db9']);
    return g.join(':');
  };
  const s = new AddressSet();
  const nets: [ipaddr.IPv4 | ipaddr.IPv6, number, string][] = [];
  for (let i = 0; i < 400; i++) {
    const isV6 = rng.chance(0.5);
    const addr = isV6 ? v6() : v4();
    const length = isV6 ? rng.pick([16, 32, 33, 48, 63, 64, 96, 127, 128]) : rng.pick([8, 12, 16, 20, 24, 28, 31, 32]);
    const net = ipaddr.parseCIDR(`${addr}/${length}`);
    const base = isV6 ? ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${length}`) : ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${length}`);
    const text = `${base.toString()}/${length}`;
    s.add(text, text);
    nets.push([net[0], length, canonical(text)]);
  }
  for (let i = 0; i < 20_000; i++) {
    // Bias the probes towards the entries so both hits and misses are common.
    const [near] = rng.pick(nets);
    let address = rng.chance(0.5) ? v6() : v4();
    if (rng.chance(0.5)) {
      const bytes = near.toByteArray();
      const flip = rng.int(bytes.length - 3, bytes.length - 1);
      bytes[flip] = rng.int(0, 255);
      address = ipaddr.fromByteArray(bytes).toString();
    }
    const parsed = ipaddr.parse(address);
    let best: { length: number; text: string } | null = null;
    for (const [net, length, text] of nets) {
      if (parsed.kind() !== net.kind()) continue;
      if ((parsed as ipaddr.IPv4).match(net as ipaddr.IPv4, length) && (best === null || length > best.length)) best = { length, text };
    }
    const query = parsed.kind() === 'ipv4' && rng.chance(0.3) ? `::ffff:${address}` : address;
    assert.equal(s.match(query)?.network ?? null, best?.text ?? null, query);
  }
});

test('speed with 1,000,000 entries: add and match (figures printed, no thresholds)', () => {
  const rng = createRng(42);
  const N = 1_000_000;
  const v4 = new Array<string>(N);
  for (let i = 0; i < N; i++) {
    const a = rng.uint32();
    // 90% single addresses, the rest /24 and /16 networks, like a feed plus an allowlist
    const r = i % 10;
    if (r < 9) v4[i] = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    else if (r === 9 && i % 20 === 9) v4[i] = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.0/24`;
    else v4[i] = `${a >>> 24}.${(a >>> 16) & 255}.0.0/16`;
  }
  const M = 200_000;
  const v6 = new Array<string>(M);
  for (let i = 0; i < M; i++) {
    const g = () => (rng.uint32() & 0xffff).toString(16);
    v6[i] = i % 4 === 0 ? `2001:db8:${g()}:${g()}::/64` : `2001:db8:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`;
  }
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Flat strings, as addresses arrive from a config file or a decoded packet (not ropes from template literals).
  const flat = (list: string[]): string[] => JSON.parse(JSON.stringify(list)) as string[];
  const f4 = flat(v4);
  const f6 = flat(v6);
  for (let i = 0; i < N; i++) v4[i] = f4[i];
  for (let i = 0; i < M; i++) v6[i] = f6[i];
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const s = new AddressSet();
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) s.add(v4[i], 'feed');
  const addV4Ms = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  for (let i = 0; i < M; i++) s.add(v6[i], 'feed');
  const addV6Ms = Number(process.hrtime.bigint() - t) / 1e6;
  gc();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1048576;

  let probes = new Array<string>(N);
  for (let i = 0; i < N; i++) {
    const a = rng.uint32();
    probes[i] = i % 2 === 0 ? v4[rng.int(0, N - 1)].split('/')[0] : `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  }
  probes = flat(probes);
  let hits = 0;
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) if (s.match(probes[i]) !== null) hits++;
  const matchV4Ms = Number(process.hrtime.bigint() - t) / 1e6;
  const probes6 = flat(v6.map((a, i) => (i % 2 === 0 ? a.split('/')[0].replace(/::$/, '::1') : `2001:db9::${(i & 0xffff).toString(16)}:1`)));
  let hits6 = 0;
  t = process.hrtime.bigint();
  for (let i = 0; i < M; i++) if (s.match(probes6[i]) !== null) hits6++;
  const matchV6Ms = Number(process.hrtime.bigint() - t) / 1e6;
  const prefixes = probes.slice(0, 100_000).map((p) => prefixOf(parseNetwork(p), 24));
  t = process.hrtime.bigint();
  s.overlapping(prefixes[0]); // builds the /24 index of longer entries
  const indexMs = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  let overlaps = 0;
  for (let i = 1; i < prefixes.length; i++) if (s.overlapping(prefixes[i]) !== null) overlaps++;
  const overlapMs = Number(process.hrtime.bigint() - t) / 1e6;

  const perSecond = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')}/s`;
  console.log(
    [
      `AddressSet: ${s.size.toLocaleString('en')} entries (${N.toLocaleString('en')} IPv4: 90% addresses, /24s and /16s; ${M.toLocaleString('en')} IPv6: addresses and /64s)`,
      `  add IPv4    ${addV4Ms.toFixed(0)} ms  (${perSecond(N, addV4Ms)}, ${((addV4Ms * 1e6) / N).toFixed(0)} ns each)`,
      `  add IPv6    ${addV6Ms.toFixed(0)} ms  (${perSecond(M, addV6Ms)}, ${((addV6Ms * 1e6) / M).toFixed(0)} ns each)`,
      `  heap        ${heapMb.toFixed(0)} MB retained (after GC)`,
      `  match IPv4  ${matchV4Ms.toFixed(0)} ms for ${N.toLocaleString('en')} (${perSecond(N, matchV4Ms)}, ${((matchV4Ms * 1e6) / N).toFixed(0)} ns each, ${hits.toLocaleString('en')} hits)`,
      `  match IPv6  ${matchV6Ms.toFixed(0)} ms for ${M.toLocaleString('en')} (${perSecond(M, matchV6Ms)}, ${((matchV6Ms * 1e6) / M).toFixed(0)} ns each, ${hits6.toLocaleString('en')} hits)`,
      `  overlapping /24: index built on first use in ${indexMs.toFixed(0)} ms, then ${((overlapMs * 1e6) / (prefixes.length - 1)).toFixed(0)} ns each (${overlaps.toLocaleString('en')} of ${(prefixes.length - 1).toLocaleString('en')} overlap)`,
    ].join('\n'),
  );
  assert.ok(hits >= N / 2);
  assert.ok(hits6 >= M / 2);
});
