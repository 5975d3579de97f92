/**
 * The web dashboard in a real browser: Debian's chromium (driven by playwright-core) runs inside the
 * protected namespace, next to a real daemon that has just banned a real nmap scanner, and opens the
 * dashboard on that namespace's loopback. Without the token the page reads nothing (observe.publicRead is
 * false by default) and acts on nothing; with it, it shows the ban with its real length, expiry and time left,
 * the incident and the timeline, bans and allows through the daemon's control handler (the kernel set must
 * follow), filters the bans, shows the scanner's history from the state database, fits every button inside
 * its card at 1280 and 1920 px, and unbans. Nothing runs in or listens on the initial namespace.
 *
 * PW_DASHBOARD_SCREENSHOTS=1 also writes the README's screenshots (docs/dashboard*.png, 1280 px wide).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumInNetns, startDashboardDaemon, stopDashboardLab } from './support/dashboard-lab.js';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { waitUntil } from './support/daemon-process.js';

const URL_BASE = 'http://127.0.0.1:9717/';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let browser: BrowserContext;
const logLines: Record<string, unknown>[] = [];

const LONG_REASON = 'manual ban: seen probing the mail relay from several addresses over the weekend, see ticket 4711 for the details';
const TIMED = '192.0.2.77';
const PERMANENT = '198.51.100.9';
const SCREENSHOTS = process.env.PW_DASHBOARD_SCREENSHOTS === '1';
let token = '';

function kernelBans4(): string[] {
  const out = pair.must(pair.protectedNs, 'nft', ['-j', 'list', 'set', 'inet', 'portwarden', 'ban4']);
  const json = JSON.parse(out) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elems = json.nftables.find((e) => e.set !== undefined)?.set?.elem ?? [];
  return elems.map((e) => (typeof e === 'string' ? e : String((e as { elem: { val: string } }).elem.val)));
}

const until = (what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> => waitUntil(what, check, timeoutMs, logLines);

before(async () => {
  pair = new NetnsPair();
  dir = mkdtempSync(join(tmpdir(), 'pw-dashboard-'));
  // observe.listen stays at its default, 127.0.0.1:9717: the protected namespace's own loopback.
  ({ daemon, token } = await startDashboardDaemon(pair, dir, [], logLines));

  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-e', 'veth0', '-sS', '-p', '1-100', PROTECTED4]);
  await until('the scanner to be banned', () => kernelBans4().includes(ATTACKER4));

  // Chromium inside the protected namespace, so its 127.0.0.1 is the daemon's.
  browser = await chromiumInNetns(pair.protectedNs, dir);
});

after(() => stopDashboardLab({ browser, daemon, pair, dir }));

async function open(fragment = '', width = 1280): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewportSize({ width, height: 900 });
  const failures: string[] = [];
  page.on('requestfailed', (r) => failures.push(`${r.url()}: ${r.failure()?.errorText ?? ''}`));
  page.on('request', (r) => assert.ok(r.url().startsWith(URL_BASE), `the page asked for ${r.url()}: every asset comes from the daemon`));
  await page.goto(URL_BASE + fragment);
  await page.waitForSelector('body[data-loaded]');
  assert.deepEqual(failures.filter((f) => !f.includes('/api/events')), []);
  return page;
}

const withToken = (extra = ''): string => `#token=${encodeURIComponent(token)}${extra}`;

/** Status of a request the page itself makes (same origin, so the Host check passes as for a user). */
function status(page: Page, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<number> {
  return page.evaluate(async ([p, i]) => (await fetch(p, i)).status, [path, init] as const);
}

test('without the token the page reads nothing and says why; the API answers 401 and the ban stays', async () => {
  const page = await open();
  await page.locator('#read-message', { hasText: /Reading needs the token/ }).waitFor();
  assert.equal(await page.locator('#bans tbody tr').count(), 0);
  for (const path of ['/api/bans', '/api/incidents', '/api/summary', '/api/timeline', `/api/address?address=${ATTACKER4}`]) {
    assert.equal(await status(page, path), 401, path);
    assert.equal(await status(page, path, { headers: { authorization: 'Bearer not-the-token-0123456789' } }), 401, path);
    assert.equal(await status(page, path, { headers: { authorization: `Bearer ${token}` } }), 200, path);
  }
  const json = { 'content-type': 'application/json' };
  assert.equal(await status(page, '/api/unban', { method: 'POST', headers: { ...json, authorization: 'Bearer not-the-token-0123456789' }, body: JSON.stringify({ target: ATTACKER4 }) }), 401);
  assert.equal(await status(page, '/api/ban', { method: 'POST', headers: json, body: JSON.stringify({ target: TIMED, seconds: 60 }) }), 401);
  assert.ok(kernelBans4().includes(ATTACKER4));
  assert.ok(!kernelBans4().includes(TIMED));
  // A wrong token typed into the page: still nothing to read.
  await page.fill('#token', 'not-the-token-0123456789');
  await page.click('#token-form button');
  await page.locator('#token-state', { hasText: 'token set' }).waitFor();
  await page.locator('#read-message', { hasText: /Reading needs the token/ }).waitFor();
  await page.close();
});

test('with the token: the ban with its real length, expiry and time left, the incident, the timeline, probe classes and health', async () => {
  const page = await open(withToken());
  assert.equal(await page.locator('#token-state').innerText(), 'token set');
  assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
  const ban = page.locator(`#bans tbody tr[data-target="${ATTACKER4}"]`);
  await ban.waitFor();
  assert.match(await ban.innerText(), /detection/);
  assert.equal(await ban.locator('td.length').innerText(), '15m', 'the 900 s ban');
  assert.match(await ban.locator('td.left').innerText(), /^(14m \d+s|15m)$/);
  assert.match(await ban.locator('td.created').innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  assert.match(await ban.locator('td.expires').innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  const created = Date.parse((await ban.locator('td.created').innerText()).replace(' UTC', 'Z').replace(' ', 'T'));
  const expires = Date.parse((await ban.locator('td.expires').innerText()).replace(' UTC', 'Z').replace(' ', 'T'));
  assert.ok(Math.abs(expires - created - 900_000) <= 60_000, 'expiry is creation + 15 min (to the minute)');
  const incident = page.locator(`#incidents tbody tr[data-source="${ATTACKER4}"]`).first();
  await incident.waitFor();
  assert.match(await incident.innerText(), /scan\s+syn/);
  assert.match(await incident.innerText(), /ban/);
  assert.equal(await page.locator('.geo').count(), 0, 'no geo database: no country or AS shown (test/dashboard-geo.netns.test.ts has one)');
  const scans = await page.locator('#timeline rect[data-kind="scan"]').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
  assert.ok(scans.reduce((a, b) => a + b, 0) >= 1, 'the scan is on the timeline');
  assert.equal(await page.locator('#timeline g.bucket').count(), 60, 'one bucket a minute over the last hour');
  assert.equal(await page.locator('#timeline-legend [data-kind="scan"]').count(), 1);
  assert.match(await page.locator('#classes [data-class="syn"]').innerText(), /syn\s+\d+/);
  assert.ok(Number(await page.locator('#classes [data-class="syn"] span').last().innerText()) > 0);
  assert.equal(await page.locator('#health').innerText(), 'ready');
  assert.match(await page.locator('#offenders tbody').innerText(), new RegExp(ATTACKER4.replaceAll('.', '\\.')));
  await page.close();
});

test('ban from the page, timed and permanent, through the control handler: the kernel holds both; filters narrow the list', async () => {
  const page = await open(withToken());
  await page.fill('#ban-target', TIMED);
  await page.fill('#ban-for', '4d 5h');
  await page.fill('#ban-reason', LONG_REASON);
  await page.click('#ban-form button[type="submit"]');
  await page.locator('#action-message', { hasText: `banned ${TIMED} for 4d 5h, until` }).waitFor();
  assert.ok(kernelBans4().includes(TIMED), 'in the kernel set');
  await page.fill('#ban-target', PERMANENT);
  await page.fill('#ban-for', 'permanent');
  await page.fill('#ban-reason', 'by hand');
  await page.click('#ban-form button[type="submit"]');
  await page.locator('#action-message', { hasText: `banned ${PERMANENT} permanently` }).waitFor();
  assert.ok(kernelBans4().includes(PERMANENT));
  assert.ok(logLines.some((l) => l['event.action'] === 'dashboard-ban' && l['source.ip'] === PERMANENT));
  // A length the page cannot read is refused before anything is sent.
  await page.fill('#ban-target', '192.0.2.78');
  await page.fill('#ban-for', 'soon');
  await page.click('#ban-form button[type="submit"]');
  await page.locator('#action-message', { hasText: /ban length: like/ }).waitFor();
  assert.ok(!kernelBans4().includes('192.0.2.78'));

  const timed = page.locator(`#bans tbody tr[data-target="${TIMED}"]`);
  await timed.waitFor();
  assert.equal(await timed.locator('td.length').innerText(), '4d 5h');
  assert.match(await timed.locator('td.left').innerText(), /^4d [45]h$/);
  assert.match(await timed.innerText(), /operator/);
  const permanent = page.locator(`#bans tbody tr[data-target="${PERMANENT}"]`);
  await permanent.waitFor();
  assert.equal(await permanent.locator('td.length').innerText(), 'permanent');
  assert.equal(await permanent.locator('td.left').innerText(), 'permanent');
  assert.equal(await permanent.locator('td.expires').innerText(), 'never');
  // Permanent first, then by time left.
  assert.deepEqual(await page.locator('#bans tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-target'))), [PERMANENT, TIMED, ATTACKER4]);

  const targets = async (): Promise<string[]> => page.locator('#bans tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-target') ?? ''));
  const settle = async (expected: string[]): Promise<void> => {
    for (let i = 0; i < 50 && JSON.stringify(await targets()) !== JSON.stringify(expected); i++) await page.waitForTimeout(100);
    assert.deepEqual(await targets(), expected);
  };
  await page.selectOption('#filter-origin', 'detection');
  await settle([ATTACKER4]);
  assert.equal(await page.locator('#ban-count').innerText(), '(1 of 3)');
  await page.selectOption('#filter-origin', 'operator');
  await settle([PERMANENT, TIMED]);
  await page.fill('#filter-reason', 'TICKET 4711');
  await settle([TIMED]);
  await page.click('#filter-clear');
  await settle([PERMANENT, TIMED, ATTACKER4]);
  await page.fill('#filter-contains', '198.51.');
  await settle([PERMANENT]);
  await page.click('#filter-clear');
  await settle([PERMANENT, TIMED, ATTACKER4]);
  await page.close();
});

test('the per-address view: the scanner\'s incidents, ban and offence from the state database, drawn as a chart', async () => {
  const page = await open(withToken());
  await page.locator(`#bans tbody a[data-address="${ATTACKER4}"]`).click();
  await page.locator(`#address-card[data-address="${ATTACKER4}"]`).waitFor();
  assert.match(new URL(page.url()).hash, new RegExp(`address=${ATTACKER4}`));
  await page.locator('#address-incidents tbody tr').first().waitFor();
  assert.match(await page.locator('#address-summary').innerText(), /^1 offence\(s\), first .* UTC, last .* UTC, reputation 1\.00 (at the last|now)$/, '"at the last" without the half-life wired, "now" with it');
  assert.match(await page.locator('#address-incidents tbody').innerText(), /scan\s+syn\s+10\.77\.0\.2/);
  assert.equal(await page.locator('#address-bans tbody tr[data-active="true"]').count(), 1);
  assert.match(await page.locator('#address-bans tbody tr').first().innerText(), /detection\s+15m\s+active/);
  assert.ok((await page.locator('#address-chart rect.incident[data-kind="scan"]').count()) >= 1, 'incidents on the chart');
  assert.equal(await page.locator('#address-chart rect.ban[data-active="true"]').count(), 1, 'the ban on the chart');
  assert.deepEqual(await page.locator('#address-chart circle.offence').evaluateAll((c) => c.map((e) => e.getAttribute('data-score'))), ['1'], 'one offence, reputation 1');
  assert.equal(await page.locator('#address-chart path.reputation').count(), 1);
  assert.equal(await page.locator('#address-geo').innerText(), '', 'no geo database: no country or AS');
  // An address with no history says so; a non-address is refused.
  await page.fill('#lookup-address', '203.0.113.200');
  await page.click('#lookup-form button');
  await page.locator('#address-summary', { hasText: 'no offences recorded' }).waitFor();
  assert.equal(await page.locator('#address-incidents tbody tr').count(), 0);
  assert.equal(await status(page, '/api/address?address=not-an-address', { headers: { authorization: `Bearer ${token}` } }), 400);
  await page.click('#address-close');
  await page.locator('#address-card').waitFor({ state: 'hidden' });
  await page.close();
});

/** Every visible button against the card (section, or the header) that holds it, in CSS pixels. */
async function buttonsOutsideTheirCards(page: Page): Promise<string[]> {
  return page.locator('button').evaluateAll((buttons) => {
    const out: string[] = [];
    for (const b of buttons) {
      const r = b.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue; // hidden
      const card = b.closest('section, header');
      if (card === null) {
        out.push(`${b.textContent}: in no card`);
        continue;
      }
      const c = card.getBoundingClientRect();
      if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5) {
        out.push(`${b.textContent} (${b.getAttribute('data-target') ?? b.id}) at x ${r.left.toFixed(0)}..${r.right.toFixed(0)} in a card at x ${c.left.toFixed(0)}..${c.right.toFixed(0)}`);
      }
    }
    return out;
  });
}

test('at 1280 and 1920 px every button lies inside its card, tables fit their cards and reasons wrap at a readable width', async () => {
  for (const width of [1280, 1920]) {
    const page = await open(withToken(`&address=${ATTACKER4}`), width);
    await page.locator(`#bans tbody tr[data-target="${TIMED}"]`).waitFor();
    await page.locator('#address-incidents tbody tr').first().waitFor();
    // Use token, Clear (filters), Ban, Allow, History, Close (address view) and one Unban per ban.
    assert.equal(await page.locator('button:visible').count(), 6 + (await page.locator('#bans tbody tr').count()));
    assert.equal(await page.locator('button.unban:visible').count(), 3);
    assert.deepEqual(await buttonsOutsideTheirCards(page), [], `at ${width} px`);
    const overflow = await page.locator('table').evaluateAll((tables) => {
      const wide: string[] = [];
      for (const t of tables) {
        const card = t.closest('section');
        if (card !== null && t.getBoundingClientRect().right > card.getBoundingClientRect().right + 0.5) wide.push(t.id);
      }
      const root = tables[0].ownerDocument.documentElement;
      return { wide, page: root.scrollWidth - root.clientWidth };
    });
    assert.deepEqual(overflow.wide, [], `tables wider than their card at ${width} px`);
    assert.ok(overflow.page <= 0, `the page scrolls sideways by ${overflow.page} px at ${width} px`);
    // The long reason: a wide cell, a few lines at most, never a word a line.
    const reason = await page.locator(`#bans tbody tr[data-target="${TIMED}"] td.reason`).evaluate((td) => {
      const style = td.ownerDocument.defaultView!.getComputedStyle(td);
      const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.4;
      const pad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
      return { width: td.getBoundingClientRect().width, lines: Math.round((td.getBoundingClientRect().height - pad) / lineHeight), words: (td.textContent ?? '').split(/\s+/).length };
    });
    assert.ok(reason.width >= 300, `reason cell ${reason.width.toFixed(0)} px wide at ${width} px`);
    assert.ok(reason.lines <= Math.ceil(reason.words / 6), `${reason.words} words on ${reason.lines} lines at ${width} px`);
    // Times and lengths are whole, never cut short by an ellipsis.
    const cut = await page.locator('#bans td.created, #bans td.expires, #bans td.length, #bans td.left, #address-card td.time').evaluateAll((tds) =>
      tds.filter((td) => td.scrollWidth > td.clientWidth).map((td) => td.textContent),
    );
    assert.deepEqual(cut, [], `cells cut at ${width} px`);
    for (const id of ['#bans', '#incidents']) {
      const cells = await page.locator(`${id} tbody td.reason`).evaluateAll((tds) => tds.map((td) => td.getBoundingClientRect().width));
      assert.ok(cells.length > 0 && cells.every((w) => w >= 300), `${id} reason cells ${cells.map((w) => w.toFixed(0)).join(', ')} px at ${width} px`);
    }
    if (SCREENSHOTS && width === 1280) {
      await page.screenshot({ path: new URL('../docs/dashboard.png', import.meta.url).pathname, fullPage: true });
      await page.locator('#address-card').screenshot({ path: new URL('../docs/dashboard-address.png', import.meta.url).pathname });
    }
    await page.close();
  }
});

test('allow from the page lifts the ban of that address in the kernel and refuses to ban it again', async () => {
  const page = await open(withToken());
  await page.fill('#allow-target', PERMANENT);
  await page.fill('#allow-reason', 'our monitoring');
  await page.click('#allow-form button[type="submit"]');
  await page.locator('#action-message', { hasText: `allowed ${PERMANENT}` }).waitFor();
  assert.ok(!kernelBans4().includes(PERMANENT), 'gone from the kernel set');
  await page.locator(`#bans tbody tr[data-target="${PERMANENT}"]`).waitFor({ state: 'detached' });
  assert.ok(logLines.some((l) => l['event.action'] === 'dashboard-allow' && l['source.ip'] === PERMANENT));
  await page.fill('#ban-target', PERMANENT);
  await page.fill('#ban-for', '1h');
  await page.click('#ban-form button[type="submit"]');
  await page.locator('#action-message', { hasText: /Ban refused \(400\): refusing to ban/ }).waitFor();
  assert.ok(!kernelBans4().includes(PERMANENT));
  await page.close();
});

test('unban from the page with the token removes the ban from the kernel and from the page', async () => {
  const page = await open(withToken());
  await page.locator(`button.unban[data-target="${ATTACKER4}"]`).click();
  await page.locator('#action-message', { hasText: `unbanned ${ATTACKER4}` }).waitFor();
  assert.ok(!kernelBans4().includes(ATTACKER4), 'gone from the kernel set');
  await page.locator(`#bans tbody tr[data-target="${ATTACKER4}"]`).waitFor({ state: 'detached' });
  assert.ok(logLines.some((l) => l['event.action'] === 'dashboard-unban' && l['source.ip'] === ATTACKER4));
  await page.close();
});
