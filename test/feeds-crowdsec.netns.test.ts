/**
 * `format: crowdsec` against Debian's real CrowdSec LAPI (1.4.6): started by the test in the protected
 * namespace with its own config and SQLite database in a temp dir, listening on 127.0.0.1 there, LAPI only
 * (`-no-cs`, no Central API). `cscli decisions add` makes the decisions, `cscli bouncers add` the key the
 * feed sends as X-Api-Key (from the environment, `${PW_TEST_CROWDSEC_KEY}`). The feed's sets then drop real
 * TCP from the decided addresses, and a deleted decision lets its address through again.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLines, NetnsPair } from './support/testkit-netns.js';
import { childCaller, FEED_CHILD, feedLab, LAB_PORT, REPO_ROOT, routeBack, tcpConnects } from './support/feed-lab.js';

const DECIDED = '192.0.2.9';
const IN_RANGE = '198.51.100.20';
const OTHER = '203.0.113.50';
const LAPI_PORT = 18000 + (process.pid % 1000);
const plan = feedLab('pwfeedcs', [DECIDED, IN_RANGE, OTHER]);
const dir = mkdtempSync(join(tmpdir(), 'pw-crowdsec-'));
const lab = new NetnsPair(plan);
after(() => {
  lab.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function crowdsecConfig(): string {
  mkdirSync(join(dir, 'data'));
  mkdirSync(join(dir, 'hub'));
  writeFileSync(join(dir, 'simulation.yaml'), 'simulation: off\n');
  writeFileSync(join(dir, 'acquis.yaml'), '\n');
  copyFileSync('/etc/crowdsec/profiles.yaml', join(dir, 'profiles.yaml'));
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    [
      'common: { daemonize: false, log_media: stdout, log_level: info, working_dir: . }',
      'config_paths:',
      `  config_dir: ${dir}/`,
      `  data_dir: ${dir}/data/`,
      `  simulation_path: ${dir}/simulation.yaml`,
      `  hub_dir: ${dir}/hub/`,
      `  index_path: ${dir}/hub/.index.json`,
      `  notification_dir: ${dir}/notifications/`,
      '  plugin_dir: /usr/lib/crowdsec/plugins/',
      `crowdsec_service: { acquisition_path: ${dir}/acquis.yaml }`,
      'cscli: { output: human }',
      `db_config: { type: sqlite, db_path: ${dir}/data/crowdsec.db, use_wal: true }`,
      'api:',
      `  client: { credentials_path: ${dir}/local_api_credentials.yaml }`,
      `  server: { listen_uri: "127.0.0.1:${LAPI_PORT}", profiles_path: ${dir}/profiles.yaml, trusted_ips: ["127.0.0.1", "::1"] }`,
      'prometheus: { enabled: false }',
      '',
    ].join('\n'),
  );
  return path;
}

const connects = (from: string, count: number) => tcpConnects(lab, from, count);

test('a crowdsec feed from a real LAPI: its Ip and Range decisions are dropped in the kernel, a deleted one is lifted', async () => {
  routeBack(lab, ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24']);
  const config = crowdsecConfig();
  const cscli = (...args: string[]) => lab.must(lab.protectedNs, 'cscli', ['-c', config, ...args]);
  cscli('machines', 'add', 'pwtest', '-a', '-f', join(dir, 'local_api_credentials.yaml'));
  const key = cscli('bouncers', 'add', 'portwarden-feed', '-o', 'raw').trim();
  assert.match(key, /^[0-9a-f]{20,}$/);
  const lapi = new JsonLines(lab.spawn(lab.protectedNs, 'crowdsec', ['-c', config, '-no-cs']));
  // Ready when a decision can be added through it (cscli talks to the LAPI with the machine's credentials).
  for (let i = 0; ; i++) {
    const r = lab.run(lab.protectedNs, 'cscli', ['-c', config, 'decisions', 'add', '-i', DECIDED, '--duration', '4h']);
    if (r.code === 0) break;
    assert.ok(i < 100 && lapi.child.exitCode === null, `the LAPI did not come up: ${r.stderr}${lapi.stderr.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const child = new JsonLines(lab.spawn(lab.protectedNs, process.execPath, ['--import', 'tsx', FEED_CHILD], { cwd: REPO_ROOT, env: { ...process.env, PW_TEST_CROWDSEC_KEY: key } }));
  await child.next((m) => m.ready === true, 60_000);
  const call = childCaller(child);
  /** Feed.update(), again while inside the source's 10 s minimum refresh. */
  const update = async (): Promise<any> => {
    for (;;) {
      const r = await call('update', { name: 'lapi' });
      if (r.outcome !== 'too-soon') return r;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  await call('init', {
    feeds: [{ name: 'lapi', url: `http://127.0.0.1:${LAPI_PORT}/v1/decisions/stream?startup=true`, format: 'crowdsec', refresh: '10s', action: 'drop', headers: { 'X-Api-Key': '${PW_TEST_CROWDSEC_KEY}' } }],
    protected: [],
    stateDir: join(dir, 'store'),
  });
  await call('listen', { port: LAB_PORT });
  assert.equal(await connects(DECIDED, 2), 2, 'before the feed');

  const first = await update();
  assert.equal(first.outcome, 'updated', JSON.stringify(first.status));
  assert.equal(first.status.entries, 1);
  assert.equal(await connects(DECIDED, 3), 0, 'decided address: dropped');
  assert.equal(await connects(IN_RANGE, 3), 3);

  cscli('decisions', 'add', '-r', '198.51.100.0/24', '--duration', '4h');
  const second = await update();
  assert.equal(second.outcome, 'updated', JSON.stringify(second.status));
  assert.equal(second.status.entries, 2);
  assert.equal(await connects(IN_RANGE, 3), 0, 'inside a decided range: dropped');
  assert.equal(await connects(OTHER, 3), 3, 'undecided: through');

  cscli('decisions', 'delete', '-i', DECIDED);
  const third = await update();
  assert.equal(third.outcome, 'updated', JSON.stringify(third.status));
  assert.equal(third.status.entries, 1);
  assert.equal(await connects(DECIDED, 3), 3, 'deleted decision: through again');
  assert.equal(await connects(IN_RANGE, 2), 0);
});
