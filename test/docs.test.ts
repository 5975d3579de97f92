/** The public vocabulary (error codes, events, counters, classes) is documented, and the docs say what the code does. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
