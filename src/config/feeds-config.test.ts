/** The `feeds` section through the config loader: the fixed shape, defaults, and file:line errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.js';
import { parseConfigText } from './load.js';
import { resolveFeed } from '../intel/settings.js';

const yaml = (...lines: string[]) => lines.join('\n') + '\n';

test('feeds: the issue\'s shape loads, with defaults for weight, maxShrink, timeout and size cap', () => {
  const c = parseConfigText(
    yaml(
      'feeds:',
      '  - name: spamhaus-drop',
      '    url: https://www.spamhaus.org/drop/drop_v4.json',
      '    format: spamhaus-json',
      '    refresh: 12h',
      '    action: drop',
      '  - name: abuse',
      '    url: https://api.abuseipdb.com/api/v2/blacklist',
      '    format: abuseipdb',
      '    refresh: 1d',
      '    action: alert',
      '    headers: { Key: "${ABUSEIPDB_KEY}", Accept: text/plain }',
      '    weight: 3',
    ),
    'f.yaml',
  );
  assert.equal(c.feeds.length, 2);
  const f = resolveFeed(c.feeds[1]);
  assert.deepEqual([f.refreshSeconds, f.action, f.weight, f.maxShrink, f.headers.Key], [86400, 'alert', 3, 0.5, '${ABUSEIPDB_KEY}']);
  assert.equal(resolveFeed(c.feeds[0]).weight, 1);
});

test('feeds: bad format, too short a refresh for the source, a duplicate name: errors name file, line and field', () => {
  let caught: unknown;
  try {
    parseConfigText(
      yaml(
        'feeds:',
        '  - name: a',
        '    url: https://example.org/a',
        '    format: netsett',
        '    refresh: 12h',
        '    action: drop',
        '  - name: a',
        '    url: https://example.org/b',
        '    format: abuseipdb',
        '    refresh: 1h',
        '    action: drop',
      ),
      'f.yaml',
    );
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, String(caught));
  const text = caught.message;
  assert.match(text, /f\.yaml:4:\d+: feeds\[0\]\.format: must be one of netset/);
  assert.match(text, /f\.yaml:10:\d+: feeds\[1\]\.refresh: must be at least 21600s for format abuseipdb/);
  assert.match(text, /f\.yaml:7:\d+: feeds\[1\]\.name: "a" names another feed too/);
});
