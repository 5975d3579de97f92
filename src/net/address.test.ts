import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIPv4, formatIPv6, hashIPv6, parseAddressBytes } from './address.js';

function bytes6(text: string): Uint8Array {
  const a = parseAddressBytes(text);
  assert.ok(a !== null && a.version === 6, text);
  return a.v6;
}

test('formatIPv4 prints unsigned dotted quads', () => {
  const cases: [number, string][] = [
    [0xc0000201, '192.0.2.1'],
    [0, '0.0.0.0'],
    [0xffffffff, '255.255.255.255'],
    [0x0a64190e, '10.100.25.14'],
    [0x7f000001, '127.0.0.1'],
    [-1, '255.255.255.255'], // a signed int32 view of the same address prints the same
  ];
  for (const [n, text] of cases) assert.equal(formatIPv4(n), text);
});

test('formatIPv6 gives the RFC 5952 canonical form', () => {
  const cases: [string, string][] = [
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:DB8::ABCD', '2001:db8::abcd'], // §4.3: lower case
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: one zero group is not '::'
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3: equal runs, the first is shortened
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3: the longest run is shortened
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '2001:db8::ff00:42:8329'], // §4.1: no leading zeros
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fe80::1:2', 'fe80::1:2'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // §5: IPv4-mapped in mixed notation
    ['::ffff:c000:201', '::ffff:192.0.2.1'],
    ['::c000:201', '::c000:201'], // IPv4-compatible is deprecated: plain hex
  ];
  for (const [input, canonical] of cases) {
    const buf = Buffer.concat([Buffer.from([0xaa, 0xbb]), bytes6(input)]);
    assert.equal(formatIPv6(buf, 2), canonical, input);
  }
});

test('parseAddressBytes reads IPv4 and every IPv6 text form', () => {
  assert.deepEqual(parseAddressBytes('192.0.2.1'), { version: 4, v4: 0xc0000201 });
  assert.deepEqual(parseAddressBytes('255.255.255.255'), { version: 4, v4: 0xffffffff });
  assert.deepEqual(parseAddressBytes('0.0.0.0'), { version: 4, v4: 0 });
  const cases: [string, string][] = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6::8', '00010002000300040005000600000008'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['64:ff9b::198.51.100.7', '0064ff9b0000000000000000c6336407'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
  ];
  for (const [text, hex] of cases) assert.equal(Buffer.from(bytes6(text)).toString('hex'), hex, text);
});

test('parseAddressBytes rejects anything that is not exactly one address', () => {
  const bad = [
    '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4/24', 'a.b.c.d',
    '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3', ':::', ':1::', '1:', '12345::', 'g::', '[::1]',
    'fe80::1%eth0', '::1.2.3', '1.2.3.4::', '1:2:3:4:5:6:7::8', '::ffff:256.0.0.1', 'example.com',
  ];
  for (const text of bad) assert.equal(parseAddressBytes(text), null, JSON.stringify(text));
});

test('parseAddressBytes and the formatters round-trip', () => {
  let seed = 12345;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(16);
    // Mostly zero groups, so '::' placement and single zeros are exercised.
    for (let g = 0; g < 8; g++) {
      if (next() < 128) continue;
      bytes[2 * g] = next() & 0x0f;
      bytes[2 * g + 1] = next();
    }
    const text = formatIPv6(bytes, 0);
    assert.deepEqual(bytes6(text), bytes, text);
    const n = ((next() << 24) | (next() << 16) | (next() << 8) | next()) >>> 0;
    assert.deepEqual(parseAddressBytes(formatIPv4(n)), { version: 4, v4: n });
  }
});

test('hashIPv6 is an unsigned 32-bit value of the 16 bytes only', () => {
  const a = Buffer.concat([Buffer.from([1, 2, 3]), bytes6('2001:db8::1')]);
  const b = Buffer.from(bytes6('2001:db8::1'));
  const h = hashIPv6(a, 3);
  assert.equal(h, hashIPv6(b, 0));
  assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
  assert.notEqual(hashIPv6(bytes6('2001:db8::2'), 0), h);
});

test('hashIPv6 spreads addresses over its low bits whichever part varies', () => {
  // 65,536 addresses into 256 buckets by the low 8 bits: 256 expected per bucket.
  const variants: [string, number][] = [
    ['interface id', 14],
    ['subnet', 6],
    ['top of the prefix', 2],
  ];
  for (const [what, at] of variants) {
    const buckets = new Uint32Array(256);
    const addr = Buffer.from(bytes6('2001:db8:1234:5678:9abc:def0:1234:5678'));
    for (let i = 0; i < 65536; i++) {
      addr[at] = i >>> 8;
      addr[at + 1] = i & 255;
      buckets[hashIPv6(addr, 0) & 255]++;
    }
    const min = Math.min(...buckets);
    const max = Math.max(...buckets);
    assert.ok(min > 180 && max < 340, `${what}: buckets ${min}..${max}`);
  }
});

test('hashIPv6 avalanches: one flipped input bit flips about half the output bits', () => {
  const addr = Buffer.from(bytes6('2001:db8::dead:beef'));
  let flipped = 0;
  for (let bit = 0; bit < 128; bit++) {
    const before = hashIPv6(addr, 0);
    addr[bit >>> 3] ^= 0x80 >>> (bit & 7);
    let diff = (before ^ hashIPv6(addr, 0)) >>> 0;
    addr[bit >>> 3] ^= 0x80 >>> (bit & 7);
    for (; diff !== 0; diff &= diff - 1) flipped++;
  }
  const mean = flipped / 128;
  assert.ok(mean > 13 && mean < 19, `mean flipped bits ${mean}`);
});
