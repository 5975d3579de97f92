import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Blocklist, MatchKind } from './blocklist.js';
import { loadBlocklists, parseLine } from './blocklist-file.js';
import { PortwardenError } from '../errors.js';

test('exact entries match only themselves; subtree entries match themselves and every name under them', () => {
  const b = new Blocklist();
  b.add('ads.example.com', MatchKind.exact);
  b.add('tracker.net', MatchKind.subtree);
  const cases: [string, string | null][] = [
    ['ads.example.com', 'ads.example.com/exact'],
    ['x.ads.example.com', null],
    ['example.com', null],
    ['tracker.net', 'tracker.net/subtree'],
    ['a.b.c.tracker.net', 'tracker.net/subtree'],
    ['nottracker.net', null],
    ['tracker.net.evil', null],
    ['net', null],
    ['', null],
  ];
  for (const [name, want] of cases) {
    const m = b.match(name);
    assert.equal(m === null ? null : `${m.entry}/${m.kind}`, want, name);
  }
});

test('a label holding an escaped dot is one label: it does not match the names it looks like', () => {
  const b = new Blocklist();
  b.add('com', MatchKind.subtree);
  b.add('evil.org', MatchKind.subtree);
  assert.equal(b.match('evil\\.org'), null);
  assert.equal(b.match('a.com')?.entry, 'com');
  // `x\.com` is one top-level label "x.com", not a name under com.
  assert.equal(b.match('x\\.com'), null);
  assert.equal(b.match('y.x\\.com'), null);
});

test('adding a name twice keeps both kinds; the table grows without losing entries', () => {
  const b = new Blocklist();
  for (let i = 0; i < 20_000; i++) b.add(`host${i}.example${i % 7}.test`, i % 2 === 0 ? MatchKind.exact : MatchKind.subtree);
  b.add('host0.example0.test', MatchKind.subtree);
  assert.equal(b.size, 20_000);
  for (let i = 0; i < 20_000; i += 997) assert.ok(b.match(`host${i}.example${i % 7}.test`) !== null, `host${i}`);
  assert.equal(b.match('sub.host0.example0.test')?.entry, 'host0.example0.test');
  assert.equal(b.match('sub.host2.example2.test'), null, 'exact only');
  assert.equal(b.match('sub.host1.example1.test')?.entry, 'host1.example1.test');
  assert.equal(b.match('host20000.example0.test'), null);
});

test('the three formats, comments and blank lines', () => {
  const b = new Blocklist();
  const table: [string, number | string][] = [
    ['', 0],
    ['# a comment', 0],
    ['! Adblock comment', 0],
    ['[Adblock Plus 2.0]', 0],
    ['plain.example', 1],
    ['Upper.Example.  # trailing comment', 1],
    ['*.wild.example', 1],
    ['0.0.0.0 hosts-a.example hosts-b.example', 2],
    ['127.0.0.1\tlocalhost', 0],
    [':: v6hosts.example', 1],
    ['||adblock.example^', 1],
    ['||important.example^$important', 1],
    ['||adblock.example/path^', 'Adblock rule'],
    ['||third.example^$third-party', 'Adblock rule'],
    ['@@||allowed.example^', 'exception'],
    ['example..com', 'label'],
    ['bad_label-.example', 'label'],
    ['two words', 'not an address'],
    ['1.2.3.4', 'IP address'],
  ];
  for (const [line, want] of table) {
    const r = parseLine(line, b);
    if (typeof want === 'number') assert.equal(r, want, line);
    else assert.ok(typeof r === 'object' && r.reason.includes(want), `${line}: ${JSON.stringify(r)}`);
  }
  assert.equal(b.match('x.plain.example')?.kind, 'subtree');
  assert.equal(b.match('upper.example')?.entry, 'upper.example');
  assert.equal(b.match('a.wild.example')?.entry, 'wild.example');
  assert.equal(b.match('hosts-a.example')?.kind, 'exact');
  assert.equal(b.match('x.hosts-a.example'), null, 'hosts entries are exact');
  assert.equal(b.match('v6hosts.example')?.kind, 'exact');
  assert.equal(b.match('deep.adblock.example')?.entry, 'adblock.example');
  assert.equal(b.match('important.example')?.entry, 'important.example');
  assert.equal(b.match('localhost'), null);
  assert.equal(b.match('third.example'), null);
});

test('files: bad lines are reported with file:line and skipped; strict refuses naming file:line; a missing file is an error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-blocklist-'));
  try {
    const hosts = join(dir, 'hosts.txt');
    const adblock = join(dir, 'adblock.txt');
    writeFileSync(hosts, '# hosts\r\n0.0.0.0 one.example\r\n\r\nnot a hosts line\r\n0.0.0.0 two.example\r\n');
    writeFileSync(adblock, '[Adblock Plus 2.0]\n||three.example^\n||four.example/ads^\n');
    const r = loadBlocklists([hosts, adblock]);
    assert.deepEqual(r.files, [{ file: hosts, entries: 2 }, { file: adblock, entries: 1 }]);
    assert.deepEqual(r.bad.map((b) => `${b.file}:${b.line}`), [`${hosts}:4`, `${adblock}:3`]);
    assert.ok(r.blocklist.match('two.example') !== null);
    assert.ok(r.blocklist.match('x.three.example') !== null);
    assert.throws(
      () => loadBlocklists([hosts, adblock], { strict: true }),
      (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_DNS_BLOCKLIST' && err.message.includes(`${hosts}:4:`) && err.message.includes(`${adblock}:3:`),
    );
    assert.throws(
      () => loadBlocklists([join(dir, 'missing.txt')]),
      (err: unknown) => err instanceof PortwardenError && err.code === 'PW_ERR_DNS_BLOCKLIST' && err.message.includes('missing.txt'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
