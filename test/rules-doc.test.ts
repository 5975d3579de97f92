import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rulesDoc } from '../scripts/rules-doc.js';
import { RULE_FIELDS } from '../src/rules/fields.js';

const read = (p: string) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');

test('docs/rules.md is the reference generated from the code (regenerate with scripts/rules-doc.ts)', () => {
  assert.equal(read('docs/rules.md'), rulesDoc());
});

test('every rule field is documented, and README points to the reference', () => {
  const doc = read('docs/rules.md');
  for (const name of Object.keys(RULE_FIELDS)) assert.match(doc, new RegExp(`\\| \`${name}\` \\|`), name);
  const readme = read('README.md');
  assert.match(readme, /## Rules/);
  assert.match(readme, /## Playbooks/);
  assert.match(readme, /docs\/rules\.md/);
});
