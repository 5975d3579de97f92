/**
 * `portwarden report`: a state database with known incidents, bans and offenders (real SQLite, written through
 * the stores the daemon uses), the report rendered by the real CLI, opened in Debian's chromium, and its figures
 * read back from the page and compared with the database; the PDF printed by chromium, rasterised by pdftoppm and
 * read by pdftotext.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type Browser } from 'playwright-core';
import { main } from '../src/cli/main.js';
import type { IncidentRecord } from '../src/model/incident.js';
import { openStateDatabase, STATE_FILE } from '../src/state/database.js';
import { BanStore } from '../src/state/ban-store.js';
import { IncidentStore } from '../src/state/incident-store.js';
import { OffenderStore } from '../src/state/offender-store.js';

const DAY = 86_400_000;
const now = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'pw-report-'));
const state = join(dir, 'state');
let browser: Browser;

function incident(kind: IncidentRecord['kind'], source: string | string[], atMs: number): { atMs: number; record: IncidentRecord; decision: string; reason: string } {
  const sources = Array.isArray(source) ? { sources: source } : { 'source.ip': source };
  return {
    atMs,
    decision: kind === 'decoy-scan' || kind === 'flood' ? 'alert' : 'ban',
    reason: `test ${kind}`,
    record: { kind, class: kind === 'sweep' ? 'icmp' : 'syn', ...sources, 'destination.ip': '192.0.2.1', probes: 20, first_seen: new Date(atMs).toISOString(), last_seen: new Date(atMs).toISOString(), confidence: 0.99, evidence: {} },
  };
}

before(async () => {
  const db = openStateDatabase(state);
  const incidents = new IncidentStore(db);
  const bans = new BanStore(db);
  const offenders = new OffenderStore(db);
  // In the period (30 days): 7 scans from one source over 7 days, 3 sweeps, a distributed scan of 2, a flood.
  for (let d = 1; d <= 7; d++) incidents.add(incident('scan', '192.0.2.10', now - d * DAY + 3_600_000));
  for (let d = 2; d <= 4; d++) incidents.add(incident('sweep', '198.51.100.7', now - d * DAY));
  incidents.add(incident('distributed-scan', ['203.0.113.1', '203.0.113.2'], now - 5 * DAY));
  incidents.add(incident('flood', '203.0.113.99', now - 6 * DAY));
  // Outside it: 40 days ago.
  incidents.add(incident('scan', '192.0.2.200', now - 40 * DAY));
  const ban = (target: string, createdMs: number, seconds: number | null, origin: 'detection' | 'operator', why = '1st offence: 600 s') =>
    bans.add({ target, reason: 'test', incidentId: null, createdMs, expiresMs: seconds === null ? null : createdMs + seconds * 1000, origin, durationWhy: why });
  ban('192.0.2.10', now - 7 * DAY, 600, 'detection'); // expired
  ban('198.51.100.7', now - 4 * DAY, 86_400, 'detection');
  bans.lift('198.51.100.7', now - 4 * DAY + 1000); // lifted early
  ban('192.0.2.10', now - 2 * DAY, 365_574, 'detection', '2nd offence (2 in all, reputation 1.80): 86,400 s × 4^1 = 345,600 s, jitter +5.8 % → 365,574 s'); // escalated, still in force
  ban('203.0.113.50', now - DAY, null, 'operator', ''); // permanent
  ban('192.0.2.200', now - 40 * DAY, 600, 'detection'); // outside the period
  offenders.put({ address: '192.0.2.10', offences: 2, firstSeenMs: now - 7 * DAY, lastSeenMs: now - 2 * DAY, score: 1.8 });
  db.close();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
});

after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), errIsTerminal: false });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

test('the HTML report shows the figures the database holds, and fetches nothing', async () => {
  const file = join(dir, 'report.html');
  const r = await cli('report', '--state', state, '--since', '30d', '--out', file);
  assert.equal(r.status, 0, r.err);
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on('request', (req) => requests.push(req.url()));
  await page.goto(`file://${file}`);
  const fig = async (name: string) => Number((await page.locator(`[data-figure="${name}"]`).innerText()).replace(/,/g, ''));

  // Independent queries of the same file.
  const db = new Database(join(state, STATE_FILE), { readonly: true });
  const since = now - 30 * DAY;
  const count = (sql: string) => (db.prepare(sql).get(since) as { n: number }).n;
  assert.equal(await fig('incidents'), count('SELECT count(*) AS n FROM incidents WHERE at_ms >= ?'));
  assert.equal(await fig('incidents'), 12);
  assert.equal(await fig('sources'), 5);
  assert.equal(await fig('bans-created'), count('SELECT count(*) AS n FROM bans WHERE created_ms >= ?'));
  assert.equal(await fig('bans-created'), 4);
  assert.equal(await fig('bans-expired'), 1);
  assert.equal(await fig('bans-lifted'), 1);
  assert.equal(await fig('bans-active'), 2);
  assert.equal(await fig('bans-permanent'), 1);
  assert.equal(await fig('bans-escalated'), 1);
  assert.equal(await fig('active-now'), count('SELECT count(*) AS n FROM bans WHERE lifted_ms IS NULL AND (expires_ms IS NULL OR expires_ms > strftime(\'%s\',\'now\')*1000) AND ? IS NOT NULL'));
  db.close();

  const kinds = Object.fromEntries(await page.locator('[data-table="by-kind"] [data-count]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-count'), Number(e.textContent)])));
  assert.deepEqual(kinds, { scan: 7, sweep: 3, 'distributed-scan': 1, flood: 1 });
  // The chart has a bar for each (day, kind) with incidents; 30 days of axis.
  assert.equal(await page.locator('[data-chart="per-day"] rect').count(), 12);
  // Top source first, with its offences; the escalation states its real length.
  assert.match(await page.locator('[data-table="top-sources"] tbody tr').first().innerText(), /192\.0\.2\.10\s+7\s+scan\s+2\s+1\.80/);
  assert.match(await page.locator('[data-table="escalations"]').innerText(), /192\.0\.2\.10[\s\S]*4d 5h/);
  assert.equal(await page.locator('[data-figure-text="longest"]').innerText(), '4d 5h');
  assert.deepEqual(requests, [`file://${file}`], 'self-contained: nothing fetched beyond the file');
  await page.close();
});

test('--format pdf prints the report with chromium; pdftoppm renders it and pdftotext reads its figures', async () => {
  const pdf = join(dir, 'report.pdf');
  const r = await cli('report', '--state', state, '--since', '30d', '--format', 'pdf', '--out', pdf);
  assert.equal(r.status, 0, r.err);
  assert.equal(readFileSync(pdf).subarray(0, 5).toString(), '%PDF-');
  const png = spawnSync('pdftoppm', ['-png', '-r', '40', '-f', '1', '-l', '1', pdf, join(dir, 'page')], { encoding: 'utf8' });
  assert.equal(png.status, 0, png.stderr);
  const first = ['page-1.png', 'page-01.png'].map((n) => join(dir, n)).find(existsSync);
  assert.ok(first !== undefined && statSync(first).size > 5_000, 'page 1 rendered to a non-trivial PNG');
  const text = spawnSync('pdftotext', [pdf, '-'], { encoding: 'utf8' }).stdout;
  assert.match(text, /portwarden report/);
  assert.match(text, /^12$/m, 'the incident count');
  assert.match(text, /Top sources/);
  assert.match(text, /192\.0\.2\.10/);
});

test('a period with nothing in it is a report that says so; a bad --format is refused with exit 2', async () => {
  const r = await cli('report', '--state', state, '--since', '1h');
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /data-figure="incidents">0</);
  assert.match(r.out, /no incidents in this period/);
  const bad = await cli('report', '--state', state, '--format', 'docx');
  assert.equal(bad.status, 2);
  assert.match(bad.err, /PW_ERR_USAGE.*choose html or pdf/);
});
