/**
 * What a first run meets before the daemon: `npx portwarden` prints no npm warning (only the version on
 * stdout), and setup says what it does, one line a step, nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const repo = new URL('..', import.meta.url).pathname;
const version = (JSON.parse(readFileSync(`${repo}package.json`, 'utf8')) as { version: string }).version;

test('npx portwarden --version prints the version and nothing on stderr (no npm warning)', () => {
  const r = spawnSync('npx', ['--no-install', 'portwarden', '--version'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
  assert.equal(r.stderr, '');
});

test('npm run prints no npm warning either (the project config has no key npm does not know)', () => {
  const r = spawnSync('npm', ['run', '--silent', 'typecheck', '--', '--help'], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  assert.doesNotMatch(r.stderr, /npm warn/i);
});

test('setup says what it does, one line a step, and nothing else', () => {
  const r = spawnSync('bash', ['scripts/setup.sh', '--test', '--check'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => l.replace(/\d+/g, 'N').replace(/v[N.]+/, 'vN')),
    [
      'setup: checking the N Debian packages for the daemon, the tests and the benchmarks',
      'setup: all N Debian packages are installed',
      'setup: Node.js vN is new enough (N or newer)',
      'setup: npm dependencies installed and dist/ built',
    ],
  );
});

test('setup refuses an unknown option', () => {
  const r = spawnSync('bash', ['scripts/setup.sh', '--frobnicate'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --frobnicate/);
});
