import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../config/load.js';
import { ConfigError } from '../../errors.js';

const FILE = '/etc/portwarden/config.yaml';

function problems(text: string): { line: number; field: string; message: string }[] {
  try {
    parseConfigText(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'PW_ERR_CONFIG_INVALID');
    return err.problems.map((p) => ({ line: p.line, field: p.field, message: p.message }));
  }
  return assert.fail('the file was accepted');
}

describe('the baseline section', () => {
  it('profiles: off in normal, on in aggressive and paranoid; a file overrides any key', () => {
    assert.equal(parseConfigText('profile: normal\n', FILE).baseline.enabled, false);
    assert.equal(parseConfigText('profile: aggressive\n', FILE).baseline.enabled, true);
    const c = parseConfigText('profile: normal\nbaseline:\n  enabled: true\n  ratio: 4\n  dynamicThresholds: true\n', FILE);
    assert.deepEqual([c.baseline.enabled, c.baseline.ratio, c.baseline.dynamicThresholds, c.baseline.minZ], [true, 4, true, 4]);
  });

  it('bad values are refused at their line, naming the field', () => {
    const found = problems('profile: aggressive\nbaseline:\n  ratio: 0.5\n  minSamples: 9\n  windowHours: 3\n');
    assert.deepEqual(
      found.map((p) => [p.line, p.field]),
      [
        [3, 'baseline.ratio'],
        [4, 'baseline.minSamples'],
        [5, 'baseline.windowHours'],
      ],
    );
    assert.match(found[0].message, /between 1 and 1000, got 0\.5/);
    assert.match(found[1].message, /from 1 to 8/);
  });
});
