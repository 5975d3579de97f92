/**
 * The web dashboard in a real browser: Debian's chromium (driven by playwright-core) runs inside the
 * protected namespace, next to a real daemon that has just banned a real nmap scanner, and opens the
 * dashboard on that namespace's loopback. The page must show the ban and the incident, refuse to unban
 * without the token, and unban with it, which must remove the ban from the kernel set. Nothing runs in
 * or listens on the initial namespace.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ATTACKER4, NetnsPair, PROTECTED4 } from './support/testkit-netns.js';
import { startDaemon, waitUntil } from './support/daemon-process.js';

const URL_BASE = 'http://127.0.0.1:9717/';

let pair: NetnsPair;
let dir: string;
let daemon: ChildProcess;
let browser: BrowserContext;
const logLines: Record<string, unknown>[] = [];

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
  const configPath = join(dir, 'portwarden.yaml');
  // observe.listen stays at its default, 127.0.0.1:9717: the protected namespace's own loopback.
  writeFileSync(
    configPath,
    ['capture:', `  nflogGroup: ${8700 + (process.pid % 500)}`, 'decide:', '  banSeconds: { scan: 900 }', 'control:', `  socketPath: ${join(dir, 'run', 'control.sock')}`, 'state:', `  dir: ${join(dir, 'state')}`].join('\n'),
  );
  daemon = await startDaemon(pair, ['--config', configPath], logLines);
  await until('the daemon to listen', () => logLines.some((l) => l['event.action'] === 'observe-listening'));

  pair.must(pair.attacker, 'nmap', ['-Pn', '-n', '-T4', '--max-retries', '1', '-e', 'veth0', '-sS', '-p', '1-100', PROTECTED4]);
  await until('the scanner to be banned', () => kernelBans4().includes(ATTACKER4));

  // Chromium inside the protected namespace, so its 127.0.0.1 is the daemon's.
  const wrapper = join(dir, 'chromium-in-netns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${pair.protectedNs} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  const profile = join(dir, 'profile');
  mkdirSync(profile);
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: wrapper,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  daemon?.kill('SIGKILL');
  pair?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function open(fragment = ''): Promise<Page> {
  const page = await browser.newPage();
  const failures: string[] = [];
  page.on('requestfailed', (r) => failures.push(`${r.url()}: ${r.failure()?.errorText ?? ''}`));
  page.on('request', (r) => assert.ok(r.url().startsWith(URL_BASE), `the page asked for ${r.url()}: every asset comes from the daemon`));
  await page.goto(URL_BASE + fragment);
  await page.waitForSelector('body[data-loaded]');
  assert.deepEqual(failures.filter((f) => !f.includes('/api/events')), []);
  return page;
}

test('the page shows the ban and the incident of the nmap scan, the chart, the probe classes and health', async () => {
  const page = await open();
  const ban = page.locator(`#bans tbody tr[data-target="${ATTACKER4}"]`);
  await ban.waitFor();
  assert.match(await ban.innerText(), /detection/);
  assert.match(await ban.locator('td').nth(1).innerText(), /^1[45]m \d+s$/, 'time left of a 900 s ban');
  const incident = page.locator(`#incidents tbody tr[data-source="${ATTACKER4}"]`).first();
  await incident.waitFor();
  assert.match(await incident.innerText(), /scan\s+syn/);
  assert.match(await incident.innerText(), /ban/);
  assert.ok((await page.locator('#chart rect[data-count]').count()) === 60, 'one bar per minute of the last hour');
  const bars = await page.locator('#chart rect[data-count]').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
  assert.ok(bars.reduce((a, b) => a + b, 0) >= 1, 'the incident is on the chart');
  assert.match(await page.locator('#classes [data-class="syn"]').innerText(), /syn\s+\d+/);
  assert.ok(Number((await page.locator('#classes [data-class="syn"] span').last().innerText())) > 0);
  assert.equal(await page.locator('#health').innerText(), 'ready');
  assert.match(await page.locator('#offenders tbody').innerText(), new RegExp(ATTACKER4.replaceAll('.', '\\.')));
  await page.close();
});

test('without the token, or with a wrong one, unban is refused and the ban stays in the kernel', async () => {
  const page = await open();
  await page.locator(`button.unban[data-target="${ATTACKER4}"]`).click();
  await page.locator('#action-message', { hasText: /needs the token/ }).waitFor();
  await page.fill('#token', 'not-the-token-0123456789');
  await page.click('#token-form button');
  await page.locator(`button.unban[data-target="${ATTACKER4}"]`).click();
  await page.locator('#action-message', { hasText: /refused \(401\)/ }).waitFor();
  assert.ok(kernelBans4().includes(ATTACKER4));
  await page.close();
});

test('unban from the page with the token removes the ban from the kernel and from the page', async () => {
  const token = readFileSync(join(dir, 'state', 'dashboard.token'), 'utf8').trim();
  const page = await open(`#token=${encodeURIComponent(token)}`);
  assert.equal(await page.locator('#token-state').innerText(), 'token set');
  assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
  await page.locator(`button.unban[data-target="${ATTACKER4}"]`).click();
  await page.locator('#action-message', { hasText: `unbanned ${ATTACKER4}` }).waitFor();
  assert.ok(!kernelBans4().includes(ATTACKER4), 'gone from the kernel set');
  await page.locator(`#bans tbody tr[data-target="${ATTACKER4}"]`).waitFor({ state: 'detached' });
  assert.ok(logLines.some((l) => l['event.action'] === 'dashboard-unban' && l['source.ip'] === ATTACKER4));
  await page.close();
});
