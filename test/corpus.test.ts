/**
 * The capture corpus: every capture under test/fixtures with a NAME.expected.json beside it must give
 * exactly its expected incidents under its profile, no more and no fewer (test/fixtures/README.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../src/config/load.js';
import type { ProfileName } from '../src/model/profile.js';
import type { IncidentRecord } from '../src/model/incident.js';
import { analyzeFiles, Pipeline } from '../src/detect/pipeline.js';

interface ExpectedIncident {
  kind: string;
  class: string;
  source?: string;
  sources?: string[];
  destination?: string;
  /** threat.software.name; absent: the incident must name no tool. */
  tool?: string;
  /** evidence.zombie of an idle scan. */
  zombie?: string;
}

interface ExpectedFile {
  provenance: string;
  profile?: ProfileName;
  incidents: ExpectedIncident[];
}

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

function captures(): { capture: string; expected: string }[] {
  const out: { capture: string; expected: string }[] = [];
  for (const folder of readdirSync(FIXTURES, { withFileTypes: true })) {
    if (!folder.isDirectory()) continue;
    const dir = join(FIXTURES, folder.name);
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.expected.json')) continue;
      const base = join(dir, name.slice(0, -'.expected.json'.length));
      const capture = ['.pcap', '.pcapng'].map((ext) => base + ext).find((p) => existsSync(p));
      assert.ok(capture, `${name} has no capture beside it`);
      out.push({ capture, expected: join(dir, name) });
    }
  }
  return out;
}

function matches(actual: IncidentRecord, want: ExpectedIncident): boolean {
  if (actual.kind !== want.kind || actual.class !== want.class) return false;
  if (want.source !== undefined && actual['source.ip'] !== want.source) return false;
  if (want.destination !== undefined && actual['destination.ip'] !== want.destination) return false;
  if (actual['threat.software.name'] !== want.tool) return false;
  if (want.zombie !== undefined && actual.evidence.zombie !== want.zombie) return false;
  if (want.sources !== undefined) {
    const got = [...(actual.sources ?? [])].sort();
    if (JSON.stringify(got) !== JSON.stringify([...want.sources].sort())) return false;
  }
  return true;
}

function describe(r: IncidentRecord): string {
  const who = r['source.ip'] ?? (r.sources ? `[${r.sources.join(',')}]` : '*');
  const tool = r['threat.software.name'] !== undefined ? ` (${r['threat.software.name']})` : '';
  return `${r.kind}/${r.class} ${who} -> ${r['destination.ip'] ?? r['destination.port'] ?? '?'}${tool}`;
}

const corpus = captures();

test('the corpus is not empty and every shared public capture is in it', () => {
  const names = new Set(corpus.map((c) => c.capture.split('/').pop()));
  for (const shared of readdirSync(new URL('../../shared/pcaps/', import.meta.url).pathname).filter((n) => n.endsWith('.pcap'))) {
    assert.ok(names.has(shared), `${shared} from shared/pcaps is missing from test/fixtures`);
  }
});

for (const { capture, expected } of corpus) {
  const spec = JSON.parse(readFileSync(expected, 'utf8')) as ExpectedFile;
  const label = capture.slice(FIXTURES.length);
  test(`${label}: exactly ${spec.incidents.length === 0 ? 'no incident' : spec.incidents.map((i) => `${i.kind}/${i.class}`).join(', ')}`, async () => {
    assert.ok(spec.provenance.length > 0, 'provenance is recorded');
    const pipeline = new Pipeline(defaultConfig(spec.profile ?? 'normal').detection);
    const [report] = analyzeFiles([capture], pipeline);
    assert.equal(report.error, null);
    const actual = pipeline.engine.incidents().map((i) => i.toRecord());
    const unmatched = [...actual];
    const missing: ExpectedIncident[] = [];
    for (const want of spec.incidents) {
      const i = unmatched.findIndex((a) => matches(a, want));
      if (i < 0) missing.push(want);
      else unmatched.splice(i, 1);
    }
    assert.deepEqual(
      { missing, unexpected: unmatched.map(describe) },
      { missing: [], unexpected: [] },
      `${label}: got ${actual.map(describe).join('; ') || 'nothing'}`,
    );
  });
}
