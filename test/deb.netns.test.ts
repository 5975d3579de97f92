/**
 * The Debian package, for real: scripts/package-deb.sh builds it with dpkg-deb, `dpkg -i` installs it on this
 * machine, the installed command runs (`--version`, `config check` of the installed config, the man page and the
 * completion are where man and bash look), and `dpkg --purge` removes every file it brought. Needs root; touches no
 * network and no firewall (nothing is started).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repo = new URL('..', import.meta.url).pathname;
const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
const out = mkdtempSync(join(tmpdir(), 'pw-deb-'));
let deb = '';
let files: string[] = [];

const installed = () => spawnSync('dpkg-query', ['-W', '-f=${Status}', 'portwarden'], { encoding: 'utf8' }).stdout.includes('install ok installed');

before(() => {
  assert.ok(!installed(), 'a portwarden package is already installed on this machine: this test would replace and purge it, so it refuses');
  deb = execFileSync('bash', [join(repo, 'scripts/package-deb.sh'), out], { cwd: repo, encoding: 'utf8' }).trim().split('\n').pop()!;
  // Every path the package brings, as dpkg-deb lists them (./usr/bin/portwarden -> /usr/bin/portwarden).
  files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 1 << 26 })
    .trim()
    .split('\n')
    .map((l) => l.slice(l.indexOf('./') + 1).replace(/ -> .*$/, ''))
    .filter((p) => p !== '/' && !p.endsWith('/'));
});

after(() => {
  if (installed()) spawnSync('dpkg', ['--purge', 'portwarden'], { stdio: 'ignore' });
  rmSync(out, { recursive: true, force: true });
});

test('the package declares what it needs and installs with dpkg -i', () => {
  const control = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Depends'], { encoding: 'utf8' });
  assert.match(control, new RegExp(`Version: ${version.replace(/\./g, '\\.')}`));
  for (const dep of ['nodejs (>= 20)', 'libpcap0.8', 'nftables', 'libnetfilter-queue1']) assert.ok(control.includes(dep), `Depends names ${dep}`);
  const r = spawnSync('dpkg', ['-i', deb], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(installed());
});

test('the installed command runs from the installed files: --version and config check of the shipped config', () => {
  assert.equal(execFileSync('/usr/bin/portwarden', ['--version'], { encoding: 'utf8', cwd: '/' }).trim(), version);
  const check = spawnSync('/usr/bin/portwarden', ['config', 'check', '/etc/portwarden/portwarden.yaml'], { encoding: 'utf8', cwd: '/' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /\/etc\/portwarden\/portwarden\.yaml: OK/i);
  // It runs from /usr/lib/portwarden, not from this checkout.
  assert.ok(execFileSync('readlink', ['-f', '/usr/bin/portwarden'], { encoding: 'utf8' }).startsWith('/usr/lib/portwarden/'));
});

test('the unit, man page and completions are where systemd, man and the shells look', () => {
  assert.match(readFileSync('/lib/systemd/system/portwarden.service', 'utf8'), /^ExecStart=\/usr\/bin\/portwarden start --config \/etc\/portwarden\/portwarden\.yaml$/m);
  assert.equal(execFileSync('man', ['-w', 'portwarden'], { encoding: 'utf8' }).trim(), '/usr/share/man/man8/portwarden.8.gz');
  assert.ok(existsSync('/usr/share/bash-completion/completions/portwarden'));
  assert.ok(existsSync('/usr/share/zsh/vendor-completions/_portwarden'));
  assert.ok(existsSync('/usr/share/doc/portwarden/copyright'));
});

test('dpkg --purge leaves nothing of the package behind', () => {
  assert.ok(files.length > 100, `the package lists its files (${files.length})`);
  const r = spawnSync('dpkg', ['--purge', 'portwarden'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!installed());
  const left = files.filter((p) => existsSync(p));
  assert.deepEqual(left, []);
  for (const dir of ['/usr/lib/portwarden', '/etc/portwarden', '/var/lib/portwarden', '/usr/share/doc/portwarden']) assert.ok(!existsSync(dir), `${dir} is gone`);
});
