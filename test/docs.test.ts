/** The public vocabulary (error codes, events, counters, classes) is documented, and the docs say what the code does. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { reference } from '../scripts/reference.js';
import { ErrorCode } from '../src/errors.js';
import { ClassCounts } from '../src/detect/incident.js';
import { PROBE_CLASS_COUNT } from '../src/model/probe.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

test('docs/reference.md is the reference generated from the code tables (regenerate with scripts/reference.ts)', () => {
  assert.equal(read('docs/reference.md'), reference());
});

test('every error code is in the reference', () => {
  const doc = read('docs/reference.md');
  for (const code of Object.keys(ErrorCode)) assert.ok(doc.includes(`\`${code}\``), code);
});

test('per-class counters have one slot per probe class', () => {
  assert.equal(new ClassCounts().counts.length, PROBE_CLASS_COUNT);
});

test('the README documents the commands, exit statuses and the quick start it promises', () => {
  const readme = read('README.md');
  for (const needle of ['portwarden analyze', 'portwarden config check', '--json', '--profile', '--config', 'bash .ci/run', 'scripts/setup.sh']) {
    assert.ok(readme.includes(needle), `README mentions ${needle}`);
  }
  assert.match(readme, /exit status/i);
});

test('docs/layout.md lists the rooms in the order the layout check enforces (scripts/layers.cjs)', async () => {
  const { createRequire } = await import('node:module');
  const layers = createRequire(import.meta.url)('../scripts/layers.cjs') as string[];
  const rows = [...read('docs/layout.md').matchAll(/^\| (\d+) \| `([^`]+?)\/?` \|/gm)].map((m) => m[2]);
  assert.deepEqual(rows, layers);
});

test('the man page (docs/portwarden.8) is generated from the command definitions and current (npx tsx scripts/manpage.ts --write)', async () => {
  const { manPage } = await import('../scripts/manpage.js');
  const page = manPage();
  assert.equal(read('docs/portwarden.8'), page);
  for (const command of ['analyze', 'start', 'status', 'bans', 'ban', 'unban', 'allow', 'reload', 'history', 'incidents', 'export', 'demo', 'config check']) {
    assert.ok(page.includes(`.SS portwarden ${command.replace(/-/g, '\\-')}`), `man page documents ${command}`);
  }
  const man = spawnSync('man', ['-l', '--warnings', '-E', 'UTF-8', new URL('../docs/portwarden.8', import.meta.url).pathname], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100' } });
  assert.equal(man.error, undefined, 'man is installed (scripts/setup.sh --test)');
  assert.equal(man.status, 0, man.stderr);
  assert.match(man.stdout, /PORTWARDEN_SOCKET/);
});

test('bash and zsh completions are generated from the command definitions, current, and complete commands and options', async () => {
  const { bashCompletion, zshCompletion } = await import('../scripts/completion.js');
  assert.equal(read('contrib/completion/portwarden.bash'), bashCompletion());
  assert.equal(read('contrib/completion/_portwarden'), zshCompletion());
  const complete = (words: string[]) =>
    spawnSync('bash', ['-c', `source contrib/completion/portwarden.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _portwarden; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname }).stdout.trim().split('\n');
  assert.deepEqual(complete(['portwarden', 'ba']).sort(), ['ban', 'bans']);
  assert.deepEqual(complete(['portwarden', 'ban', '192.0.2.7', '--f']), ['--for']);
  assert.deepEqual(complete(['portwarden', 'config', 'ch']), ['check']);
  const zsh = spawnSync('zsh', ['-n', 'contrib/completion/_portwarden'], { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8' });
  assert.equal(zsh.error, undefined, 'zsh is installed (scripts/setup.sh --test)');
  assert.equal(zsh.status, 0, zsh.stderr);
});

test('npm pack ships what runs and what an operator needs, and no build output of this machine', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
  for (const needed of ['bin/portwarden.js', 'dist/src/cli/main.js', 'LICENSE', 'config/portwarden.example.yaml', 'contrib/systemd/portwarden.service', 'docs/reference.md', 'docs/portwarden.8', 'contrib/completion/portwarden.bash', 'scripts/build-native.mjs', 'native/netlink/binding.gyp']) {
    assert.ok(files.includes(needed), `ships ${needed}`);
  }
  const unwanted = files.filter((f) => /(^|\/)build\/|\.node$|\.o$|^dist\/(bench|scripts|test)\/|\.map$|\.test\.js$|^test\//.test(f));
  assert.deepEqual(unwanted, []);
});
