/**
 * Feed trust over real decoded frames: a listed source is reported as a scan at its `probes`-th probe,
 * naming its feeds; an unlisted one, one listed below `minWeight`, and the host's own answers are not.
 * Enrichment and reputation read the same membership (test/support/feed-list.ts: a real
 * FeedMembership over entries, as the feeds stage answers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { IncidentRecord } from '../model/incident.js';
import { IpProtocol, TcpFlag } from '../model/packet.js';
import { decodeOne, ethernet, EtherType, ipv4, ipv6, tcp, udp } from '../../test/support/frames.js';
import { FeedList } from '../../test/support/feed-list.js';
import { FeedTrust } from './feed-trust.js';
import { enrichIncident, enrichingListener } from './enrich.js';
import { reputationOf } from './reputation.js';
import { GeoDatabase } from './geo/geo-database.js';

const T0 = Date.parse('2026-12-06T10:00:00Z');

function syn4(src: string, dport: number, ms: number) {
  const { packet } = decodeOne(ethernet(EtherType.IPV4, ipv4({ src, dst: '10.88.0.1', protocol: IpProtocol.TCP }, tcp({ srcPort: 40000, dstPort: dport, flags: TcpFlag.SYN }))));
  packet.tsUs = ms * 1000;
  return packet;
}

const feeds = new FeedList().add('spamhaus-drop', ['198.51.100.0/24'], { weight: 2, action: 'alert' }).add('blocklist-de', ['198.51.100.7', '203.0.113.9'], { weight: 0.5 }).add('tor-exit', ['2001:db8:88:3::66'], { weight: 1 });

function trust(minWeight: number, probes: number) {
  const reported: IncidentRecord[] = [];
  const t = new FeedTrust({ minWeight, probes }, feeds, (i) => reported.push(i.toRecord()));
  return { t, reported };
}

test('a listed source is a scan at its first probe, naming every feed that lists it, with the entries and lines', () => {
  const { t, reported } = trust(1, 1);
  t.onPacket(syn4('198.51.100.7', 22, T0));
  assert.equal(reported.length, 1);
  const r = reported[0];
  assert.equal(r.kind, 'scan');
  assert.equal(r.class, 'syn');
  assert.equal(r['source.ip'], '198.51.100.7');
  assert.equal(r['destination.port'], 'tcp/22');
  assert.deepEqual(r['threat.feeds'], ['blocklist-de', 'spamhaus-drop']);
  assert.deepEqual(r.evidence, {
    trigger: 'feed-trust',
    feeds: [
      { feed: 'spamhaus-drop', entry: '198.51.100.0/24', line: 1, weight: 2 },
      { feed: 'blocklist-de', entry: '198.51.100.7', line: 1, weight: 0.5 },
    ],
    feed_weight: 2.5,
    min_weight: 1,
    probes_needed: 1,
  });
  // Reported once: later probes within the minute add nothing (decide keeps the ban).
  t.onPacket(syn4('198.51.100.7', 23, T0 + 10));
  assert.equal(reported.length, 1);
});

test('probes: N waits for the Nth probe; below minWeight, unlisted, and answers are never reported', () => {
  const { t, reported } = trust(1, 3);
  t.onPacket(syn4('198.51.100.20', 22, T0));
  t.onPacket(syn4('198.51.100.20', 80, T0 + 1));
  assert.equal(reported.length, 0);
  t.onPacket(syn4('198.51.100.20', 443, T0 + 2));
  assert.equal(reported.length, 1);
  assert.deepEqual(reported[0].ports, { count: 3, sample: ['tcp/22', 'tcp/80', 'tcp/443'] });
  assert.equal(reported[0].probes, 3);

  // 203.0.113.9 is listed by one feed of weight 0.5 only.
  for (let i = 0; i < 5; i++) t.onPacket(syn4('203.0.113.9', 22 + i, T0 + i));
  // Unlisted.
  for (let i = 0; i < 5; i++) t.onPacket(syn4('10.88.1.5', 22 + i, T0 + i));
  // A SYN-ACK from a listed address is an answer, not a probe.
  const { packet } = decodeOne(ethernet(EtherType.IPV4, ipv4({ src: '198.51.100.30', dst: '10.88.0.1', protocol: IpProtocol.TCP }, tcp({ srcPort: 22, dstPort: 40000, flags: TcpFlag.SYN | TcpFlag.ACK }))));
  for (let i = 0; i < 5; i++) t.onPacket(packet);
  assert.equal(reported.length, 1);
});

test('IPv6 and UDP probes count too', () => {
  const { t, reported } = trust(1, 1);
  const { packet } = decodeOne(ethernet(EtherType.IPV6, ipv6({ src: '2001:db8:88:3::66', dst: '2001:db8:88::1', nextHeader: IpProtocol.UDP }, udp({ srcPort: 5000, dstPort: 161 }))));
  packet.tsUs = T0 * 1000;
  t.onPacket(packet);
  assert.equal(reported.length, 1);
  assert.equal(reported[0]['source.ip'], '2001:db8:88:3::66');
  assert.equal(reported[0].class, 'udp');
  assert.deepEqual(reported[0]['threat.feeds'], ['tor-exit']);
});

test('enrichment adds country, ASN and feeds to a single-source incident; reputation adds feed weights to offences', () => {
  const dir = fileURLToPath(new URL('../../test/fixtures/geo/', import.meta.url));
  const geo = GeoDatabase.open({ database: `${dir}country-geolite2.mmdb`, asnDatabase: `${dir}asn.mmdb` });
  const base: IncidentRecord = { kind: 'scan', class: 'syn', 'source.ip': '198.51.100.7', probes: 9, first_seen: '', last_seen: '', confidence: 0.9, evidence: {} };
  assert.deepEqual(enrichIncident(base, { geo, feeds }), {
    ...base,
    'source.geo.country_iso_code': 'RU',
    'source.as.number': 64506,
    'source.as.organization.name': 'Lab Hosting RU',
    'threat.feeds': ['blocklist-de', 'spamhaus-drop'],
  });
  // No source named (a distributed scan): unchanged.
  const many: IncidentRecord = { ...base, 'source.ip': undefined, sources: ['198.51.100.7', '10.88.1.5'] };
  assert.deepEqual(enrichIncident(many, { geo, feeds }), many);
  // The listener wraps detection's callback.
  const seen: IncidentRecord[] = [];
  enrichingListener({ geo, feeds: null }, (i) => seen.push(i.toRecord()))({ toRecord: () => ({ ...base, 'source.ip': '10.88.2.4' }) });
  assert.equal(seen[0]['source.geo.country_iso_code'], 'FR');
  assert.equal(seen[0]['threat.feeds'], undefined);

  assert.deepEqual(reputationOf({ offences: 3, score: 1.504 }, feeds.feedsOf('198.51.100.7')), { score: 4, offenceScore: 1.5, offences: 3, feedWeight: 2.5, feeds: ['blocklist-de', 'spamhaus-drop'] });
  assert.deepEqual(reputationOf(undefined, []), { score: 0, offenceScore: 0, offences: 0, feedWeight: 0, feeds: [] });
});
