/**
 * `portwarden history`, `incidents` and `export` against a real state database, read while a writer
 * (as the daemon) still holds it open in WAL mode.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import type { IncidentRecord } from '../src/model/incident.js';
import { openState, type StateStore } from '../src/state/state-store.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-state-cli-'));
let writer: StateStore;

async function run(...args: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), errIsTerminal: false });
  return { status, out, err };
}

function scan(source: string, at: number): IncidentRecord {
  return { kind: 'scan', class: 'syn', 'source.ip': source, 'destination.ip': '192.0.2.1', probes: 12, first_seen: new Date(at).toISOString(), last_seen: new Date(at).toISOString(), confidence: 0.99, evidence: {} };
}

before(() => {
  writer = openState(dir, (e) => assert.fail(e.message));
  const now = Date.now();
  const old = writer.addIncident({ atMs: now - 3 * 3_600_000, record: scan('203.0.113.5', now - 3 * 3_600_000), decision: 'ban', reason: 'an old scan' });
  writer.addBan({ target: '203.0.113.5', reason: 'an old scan', createdMs: now - 3 * 3_600_000, expiresMs: now - 2 * 3_600_000, origin: 'detection', durationWhy: '1st offence (1 in all, reputation 1.00): 3,600 s, the profile\'s ban' }, old);
  const recent = writer.addIncident({ atMs: now - 60_000, record: scan('203.0.113.5', now - 60_000), decision: 'ban', reason: 'scanned again, "twice"' });
  writer.addBan({ target: '203.0.113.5', reason: 'scanned again, "twice"', createdMs: now - 60_000, expiresMs: now + 7_140_000, origin: 'detection', durationWhy: '2nd offence: 3,600 s × 2^1 = 7,200 s' }, recent);
  writer.addIncident({ atMs: now - 30_000, record: { ...scan('x', now), 'source.ip': undefined, kind: 'distributed-scan', sources: ['198.51.100.1', '198.51.100.2', '203.0.113.5'] }, decision: 'alert', reason: 'distributed' });
  writer.put({ address: '203.0.113.5', offences: 2, firstSeenMs: now - 3 * 3_600_000, lastSeenMs: now - 60_000, score: 1.98 });
  writer.flush();
});

after(() => {
  writer.close();
  rmSync(dir, { recursive: true, force: true });
});

test('history ADDR: offender, incidents (group members included) and bans, oldest first, with why each ban is as long as it is', async () => {
  const r = await run('history', '203.0.113.5', '--state', dir);
  assert.equal(r.status, 0, r.err.join('\n'));
  assert.match(r.out[0], /^203\.0\.113\.5: 2 offence\(s\)/);
  const kinds = r.out.slice(1).map((l) => /^\S+ {2}(incident \S+|ban)/.exec(l)?.[1]);
  assert.deepEqual(kinds, ['incident scan/syn', 'ban', 'incident scan/syn', 'ban', 'incident distributed-scan/syn']);
  assert.match(r.out[4], /\[2nd offence: 3,600 s × 2\^1 = 7,200 s\]/);
  assert.match(r.out[4], /ban 203\.0\.113\.5 \(detection\) for 2h until \d{4}-\d\d-\d\d \d\d:\d\d UTC/, 'the real length and end');

  const j = await run('history', '203.0.113.5', '--state', dir, '--json');
  const lines = j.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => l.type), ['offender', 'incident', 'ban', 'incident', 'ban', 'incident']);
  assert.equal(lines[0].offences, 2);
  assert.equal(lines[2].incident, lines[1].id, 'a ban names its incident');
});

test('incidents --since: only the period asked for', async () => {
  const r = await run('incidents', '--state', dir, '--since', '1h', '--json');
  assert.equal(r.status, 0, r.err.join('\n'));
  assert.deepEqual(r.out.map((l) => (JSON.parse(l) as { kind: string }).kind), ['scan', 'distributed-scan']);
  const all = await run('incidents', '--state', dir, '--since', '1d');
  assert.equal(all.out.length, 3);
  assert.match(all.err.join('\n'), /3 incident\(s\) since/);
});

test('export --format json|csv streams a table; CSV quotes what needs quoting', async () => {
  const json = await run('export', '--state', dir, '--format', 'json', '--what', 'bans');
  assert.equal(json.out.length, 2);
  assert.equal((JSON.parse(json.out[1]) as { duration_why: string }).duration_why, '2nd offence: 3,600 s × 2^1 = 7,200 s');
  const csv = await run('export', '--state', dir, '--format', 'csv', '--what', 'incidents');
  assert.equal(csv.out[0], 'id,at,kind,class,source.ip,sources,destination.ip,probes,decision,reason');
  assert.equal(csv.out.length, 4);
  assert.match(csv.out[2], /,ban,"scanned again, ""twice"""$/);
  assert.match(csv.out[3], /,distributed-scan,syn,,198\.51\.100\.1 198\.51\.100\.2 203\.0\.113\.5,/);
  const off = await run('export', '--state', dir, '--format', 'csv', '--what', 'offenders');
  assert.match(off.out[1], /^203\.0\.113\.5,2,/);
  assert.equal((await run('export', '--state', dir, '--format', 'xml')).status, 2);
});

test('a state directory without a database is PW_ERR_STATE naming the file', async () => {
  const empty = join(dir, 'nothing-here');
  const r = await run('incidents', '--state', empty);
  assert.equal(r.status, 2);
  assert.match(r.err.join('\n'), new RegExp(`^portwarden: PW_ERR_STATE: ${empty}/state\\.db: cannot read the state database`));
});
