/**
 * The dashboard with a geo database, in a real browser: a real daemon configured with the committed
 * fixture databases (test/fixtures/geo/make-fixtures.pl: the default lab's 10.77.0.0/24 is DE, AS64501
 * "Lab Telekom DE") bans a real nmap scanner, and Debian's chromium (playwright-core) inside the protected
 * namespace shows the scanner's country and AS beside its address in the live incidents, the active bans
 * and the per-address view. Without a database nothing of the kind is shown (test/dashboard.netns.test.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumInNetns, startDashboardDaemon, stopDashboardLab } from './support/dashboard-lab.js';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { waitUntil } from './support/daemon-process.js';

const URL_BASE = 'http://127.0.0.1:9717/';
const FIXTURES = fileURLToPath(new URL('./fixtures/geo/', import.meta.url));
const GEO = 'DE · AS64501 Lab Telekom DE';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let browser: BrowserContext;
let token = '';
const logLines: Record<string, unknown>[] = [];

const until = (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-dashgeo-'));
  ({ daemon, token } = await startDashboardDaemon(pair, dir, ['geo:', `  database: ${join(FIXTURES, 'country-geolite2.mmdb')}`, `  asnDatabase: ${join(FIXTURES, 'asn.mmdb')}`], logLines));

  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-e', 'veth0', '-sS', '-p', '1-100', PROTECTED4]);
  await until('the scan incident and the ban', () => ['incident-scan', 'ban'].every((action) => logLines.some((l) => l['event.action'] === action && l['source.ip'] === ATTACKER4)));
  const incident = logLines.find((l) => l['event.action'] === 'incident-scan' && l['source.ip'] === ATTACKER4);
  assert.equal(incident?.['source.geo.country_iso_code'], 'DE', 'the incident carries the fixture country');

  // Chromium inside the protected namespace, so its 127.0.0.1 is the daemon's.
  browser = await chromiumInNetns(pair.protectedNs, dir);
});

after(() => stopDashboardLab({ browser, daemon, pair, dir }));

async function open(fragment: string): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(URL_BASE + `#token=${encodeURIComponent(token)}${fragment}`);
  await page.waitForSelector('body[data-loaded]');
  return page;
}

test('the live incidents and the active bans show the scanner\'s country and AS beside its address', async () => {
  const page = await open('');
  const incident = page.locator(`#incidents tbody tr[data-source="${ATTACKER4}"]`).first();
  await incident.waitFor();
  const geo = incident.locator('.geo');
  assert.equal(await geo.innerText(), GEO);
  assert.equal(await geo.getAttribute('data-country'), 'DE');
  assert.equal(await geo.getAttribute('data-asn'), '64501');
  assert.equal(await geo.isVisible(), true);
  const ban = page.locator(`#bans tbody tr[data-target="${ATTACKER4}"]`);
  await ban.waitFor();
  assert.equal(await ban.locator('.geo').innerText(), GEO, 'the ban shows its incident\'s country and AS');
  assert.match(await ban.locator('td').first().getAttribute('title') ?? '', /Lab Telekom DE/);
  await page.close();
});

test('the per-address view shows the address\'s country and AS; an operator ban of an unknown address shows none', async () => {
  const page = await open(`&address=${ATTACKER4}`);
  await page.locator(`#address-card[data-address="${ATTACKER4}"]`).waitFor();
  await page.locator('#address-geo .geo').waitFor();
  assert.equal(await page.locator('#address-geo').innerText(), GEO);
  assert.equal(await page.locator('#address-geo .geo').getAttribute('data-country'), 'DE');
  // An operator ban has no incident, so nothing to show beside it.
  await page.fill('#ban-target', '192.0.2.77');
  await page.fill('#ban-for', '1h');
  await page.click('#ban-form button[type="submit"]');
  const manual = page.locator('#bans tbody tr[data-target="192.0.2.77"]');
  await manual.waitFor();
  assert.equal(await manual.locator('.geo').count(), 0);
  await page.close();
});
