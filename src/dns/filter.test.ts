import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { IpProtocol } from '../model/packet.js';
import { EtherType, decodeOne, dnsMessage, ethernet, ipv4, ipv6, udp } from '../../test/support/frames.js';
import { createLogger } from '../observe/log.js';
import { Blocklist, MatchKind } from './blocklist.js';
import { DnsFilter, type AnswerLimit, type DnsFilterSettings } from './filter.js';

const log = createLogger({ stream: new Writable({ write: (_c, _e, cb) => cb() }), format: 'json', level: 'error' });

function settings(answerLimit: AnswerLimit, action: DnsFilterSettings['action'] = 'nxdomain'): DnsFilterSettings {
  return { action, sinkhole4: new Uint8Array(4), sinkhole6: new Uint8Array(16), answerTtlSeconds: 60, malformed: 'accept', logQueries: 'none', answerLimit };
}

function filter(limit: AnswerLimit, clock: { ms: number }, action: DnsFilterSettings['action'] = 'nxdomain'): DnsFilter {
  const list = new Blocklist();
  list.add('blocked.example', MatchKind.subtree);
  return new DnsFilter(list, settings(limit, action), log, () => clock.ms);
}

function query(src: string, name = 'blocked.example') {
  const frame = src.includes(':')
    ? ethernet(EtherType.IPV6, ipv6({ src, dst: '2001:db8::53', nextHeader: IpProtocol.UDP }, udp({ srcPort: 40000, dstPort: 53 }, dnsMessage({ name, type: 1 }))))
    : ethernet(EtherType.IPV4, ipv4({ src, dst: '198.51.100.53', protocol: IpProtocol.UDP }, udp({ srcPort: 40000, dstPort: 53 }, dnsMessage({ name, type: 1 }))));
  const { packet } = decodeOne(frame);
  assert.equal(packet.valid, true);
  return packet;
}

test('dns filter: answers to one source stop at its burst, the queries are still dropped, and come back with time', () => {
  const clock = { ms: 1000 };
  const f = filter({ maxPerSecond: 1000, burst: 1000, perSourcePerSecond: 2, perSourceBurst: 3, maxSources: 100 }, clock);
  const verdicts = Array.from({ length: 5 }, () => f.decide(query('192.0.2.7')));
  assert.deepEqual(verdicts.map((v) => [v.accept, v.reply !== null]), [[false, true], [false, true], [false, true], [false, false], [false, false]]);
  assert.equal(f.counters['dns.answered'], 3);
  assert.equal(f.counters['dns.answer_suppressed'], 2);
  assert.equal(f.counters['dns.blocked'], 5);
  // Another source has its own bucket.
  assert.notEqual(f.decide(query('192.0.2.8')).reply, null);
  // Half a second at 2/s: one token back for the first source.
  clock.ms += 500;
  assert.notEqual(f.decide(query('192.0.2.7')).reply, null);
  assert.equal(f.decide(query('192.0.2.7')).reply, null);
  // An allowed query is never limited.
  assert.equal(f.decide(query('192.0.2.7', 'fine.example')).accept, true);
});

test('dns filter: the global bucket caps answers over many (spoofed) sources; a limited source spends no global token', () => {
  const clock = { ms: 0 };
  const f = filter({ maxPerSecond: 10, burst: 4, perSourcePerSecond: 1, perSourceBurst: 1, maxSources: 1000 }, clock);
  // One source over its own limit first: those suppressions must not use the global budget.
  assert.notEqual(f.decide(query('203.0.113.1')).reply, null);
  for (let i = 0; i < 10; i++) assert.equal(f.decide(query('203.0.113.1')).reply, null);
  let answered = 0;
  for (let i = 2; i < 50; i++) if (f.decide(query(`203.0.113.${i}`)).reply !== null) answered++;
  assert.equal(answered, 3, 'burst 4, one spent on the first source');
  assert.equal(f.counters['dns.answer_suppressed'], 10 + 48 - 3);
  clock.ms += 100; // 10/s: one more
  assert.notEqual(f.decide(query('2001:db8::99')).reply, null);
  assert.equal(f.decide(query('2001:db8::98')).reply, null);
});

test('dns filter: action drop never consults the limiter; a reload with new caps starts them full', () => {
  const clock = { ms: 0 };
  const limit = { maxPerSecond: 1, burst: 1, perSourcePerSecond: 1, perSourceBurst: 1, maxSources: 10 };
  const f = filter(limit, clock, 'drop');
  for (let i = 0; i < 3; i++) assert.deepEqual(f.decide(query('192.0.2.1')), { accept: false, reply: null });
  assert.equal(f.counters['dns.answer_suppressed'], 0);
  const list = new Blocklist();
  list.add('blocked.example', MatchKind.subtree);
  f.replace(list, settings(limit));
  assert.notEqual(f.decide(query('192.0.2.1')).reply, null);
  assert.equal(f.decide(query('192.0.2.1')).reply, null);
  f.replace(list, settings({ ...limit, perSourceBurst: 2, burst: 2 }));
  assert.notEqual(f.decide(query('192.0.2.1')).reply, null);
  assert.notEqual(f.decide(query('192.0.2.1')).reply, null);
  assert.equal(f.decide(query('192.0.2.1')).reply, null);
});
