/** Encodings checked byte for byte against what nft 1.0.6 sends (`nft --debug=mnl add element …`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import type { ElementChange } from './element-state.js';
import { encodeDeleteTableBatch, encodeSetElementBatch, intervalsFromElements, type DumpedElement } from './nft-netlink.js';
import { parseTarget, rangeToTargets, type ParsedTarget } from '../net/target.js';

function target(text: string): ParsedTarget {
  const parsed = parseTarget(text);
  assert.ok(parsed.ok, text);
  return parsed.target;
}

const hex = (s: string): string => s.replace(/\s+/g, '');

// The expectations are written for a little-endian host (netlink headers are in host order).
const le = endianness() === 'LE';

test('a prefix with a timeout is a start element with the timeout and an interval-end element', { skip: !le }, () => {
  const change: ElementChange = { kind: 'add', set: 's', target: target('203.0.113.0/25'), timeoutMs: 7000 } as unknown as ElementChange;
  const bytes = encodeSetElementBatch('t', [change], 1);
  const begin = '14000000 1000 0100 00000000 00000000 00 00 000a';
  // nft's message, less the NFTA_SET_ELEM_LIST_SET_ID it adds for sets created in the same batch.
  const add = `5c000000 0c0a 0504 01000000 00000000 01 00 0000
    06000100 74000000  06000200 73000000
    38000380
      1c000180 0c000400 0000000000001b58 0c000180 08000100 cb007100
      18000180 08000300 00000001 0c000180 08000100 cb007180`;
  const end = '14000000 1100 0100 02000000 00000000 00 00 000a';
  assert.equal(bytes.toString('hex'), hex(begin + add + end));
});

test('a deletion names the start and end keys, without timeout', { skip: !le }, () => {
  const change = { kind: 'delete', set: 'ban4', target: target('192.0.2.7') } as const;
  const bytes = encodeSetElementBatch('portwarden', [change], 100);
  const message = bytes.subarray(20, bytes.length - 20).toString('hex');
  assert.equal(message.slice(8, 16), '0e0a0500'); // DELSETELEM, REQUEST|ACK
  assert.match(message, /08000100c0000207/); // start key
  assert.match(message, /0800030000000001.*08000100c0000208/); // end flag, end key
  assert.doesNotMatch(message, /0c000400/); // no timeout attribute
});

test('a prefix reaching the top of the address space is open: no end element, flagged in user data', { skip: !le }, () => {
  const change = { kind: 'add', set: 'ban4', target: target('255.255.255.0/24'), timeoutMs: null } as const;
  const message = encodeSetElementBatch('portwarden', [change], 1).subarray(20).toString('hex');
  // NFTA_SET_ELEM_USERDATA (len 10): TLV NFTNL_UDATA_SET_ELEM_FLAGS = NFTNL_SET_ELEM_F_INTERVAL_OPEN, padded.
  assert.ok(message.includes(hex('0a000600 01 04 01000000 0000')), message);
  assert.doesNotMatch(message, /0800030000000001/);
});

test('deleting the table is one batch with one message asking for an ACK', { skip: !le }, () => {
  const bytes = encodeDeleteTableBatch('portwarden', 7);
  assert.equal(bytes.subarray(20, 40).toString('hex'), hex('24000000 020a 0500 07000000 00000000 01 00 0000'));
  assert.equal(bytes.subarray(40, bytes.length - 20).toString('utf8', 4, 14), 'portwarden');
});

test('a dumped interval set pairs start and end keys into prefixes, whatever the dump order', () => {
  const v4 = (text: string): bigint => text.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
  const elements: DumpedElement[] = [
    // The kernel dumps an rbtree set in its own order: ends and starts mixed.
    { key: v4('192.0.3.0'), intervalEnd: true, expiresInMs: null },
    { key: v4('198.51.100.10'), intervalEnd: true, expiresInMs: null },
    { key: v4('192.0.2.0'), intervalEnd: false, expiresInMs: 10_500 },
    { key: v4('198.51.100.9'), intervalEnd: false, expiresInMs: 49_000 },
    // Adjacent intervals: the end of one at the same key as the start of the next.
    { key: v4('10.0.0.4'), intervalEnd: true, expiresInMs: null },
    { key: v4('10.0.0.1'), intervalEnd: false, expiresInMs: 8_000 },
    { key: v4('10.0.0.4'), intervalEnd: false, expiresInMs: null },
    { key: v4('10.0.0.5'), intervalEnd: true, expiresInMs: null },
    // An open interval (no end): up to the top of the address space.
    { key: v4('255.255.255.0'), intervalEnd: false, expiresInMs: null },
  ];
  const listed = intervalsFromElements(4, elements).map(({ targets, expiresInMs }) => ({ targets: targets.map((t) => t.text), expiresInMs }));
  assert.deepEqual(listed, [
    { targets: ['10.0.0.1', '10.0.0.2/31'], expiresInMs: 8_000 },
    { targets: ['10.0.0.4'], expiresInMs: null },
    { targets: ['192.0.2.0/24'], expiresInMs: 10_500 },
    { targets: ['198.51.100.9'], expiresInMs: 49_000 },
    { targets: ['255.255.255.0/24'], expiresInMs: null },
  ]);
  assert.deepEqual(intervalsFromElements(6, []), []);
});

test('targets parse strictly into canonical text', () => {
  const cases: [string, string | null][] = [
    ['192.0.2.7', '192.0.2.7'],
    ['192.0.2.0/24', '192.0.2.0/24'],
    ['192.0.2.7/32', '192.0.2.7'],
    ['192.0.2.7/24', null],
    ['010.0.0.1', null],
    ['10', null],
    ['256.0.0.1', null],
    ['2001:DB8::/64', '2001:db8::/64'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::1/64', null],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['fe80::1%eth0', null],
    ['1.2.3.4/33', null],
    ['', null],
  ];
  for (const [input, expected] of cases) {
    const parsed = parseTarget(input);
    assert.equal(parsed.ok ? parsed.target.text : null, expected, input);
  }
  assert.deepEqual(
    rangeToTargets(4, target('192.0.2.1').start, target('192.0.2.6').start).map((t) => t.text),
    ['192.0.2.1', '192.0.2.2/31', '192.0.2.4/31', '192.0.2.6'],
  );
});
