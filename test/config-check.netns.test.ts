/**
 * `portwarden config check FILE` and `portwarden start --config FILE` accept and refuse the same files.
 * Both run as real processes in the same network namespace, on one set of good and bad files: a good
 * file passes the check ("FILE: ok (profile X)", exit 0) and `start --dry-run` starts on it (and stops
 * cleanly on SIGTERM); a bad file fails the check with exit 2 and `start` with exit 2 and the same
 * file:line errors, before it changed anything: the namespace's ruleset as it was, no control socket,
 * no state directory. Among the bad files are the two the old two validators disagreed on: `decide.ipv6Prefix:
 * 200` and `decide.banSeconds.decoy-scan: 60` (the parser passed them, the policy threw at start).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetnsPair, DEFAULT_LAB } from './support/testkit-netns.js';
import { CLI, startDaemon, waitUntil, type LogLine } from './support/daemon-process.js';

const GEO_FIXTURE = fileURLToPath(new URL('./fixtures/geo/country-geolite2.mmdb', import.meta.url));

interface Case {
  name: string;
  /** Lines after the common part (each file gets its own socket, state directory, NFLOG group). */
  lines: string[];
  /** undefined: a good file; else what the first problem must say. */
  refused?: RegExp;
  /** The refusal comes from the host (a file start reads), not the parser: start may get further before it fails. */
  late?: boolean;
  profile?: string;
}

const CASES: Case[] = [
  { name: 'defaults', lines: [] },
  {
    name: 'paranoid-with-overrides',
    profile: 'paranoid',
    lines: [
      'profile: paranoid',
      'detection:',
      '  scan:',
      '    minPorts: 4',
      '    windows:',
      '      - { windowMs: 60000, count: 8 }',
      '      - { windowMs: 3600000, count: 20 }',
      'decide:',
      '  ipv6Prefix: 64',
      '  banSeconds: { scan: 120, flood: null }',
      '  escalation: { factor: 3, jitterRatio: 0.2 }',
      'allowlist:',
      '  - 192.0.2.0/24',
      '  - { value: "2001:db8::/48", reason: office }',
      'enforce:',
      '  blockedNetworks: [198.51.100.0/24]',
      '  blockedTcpPorts: [23]',
    ],
  },
  {
    name: 'alerts-respond-dns',
    lines: ['alerts:', '  channels:', '    - { type: webhook, url: "http://127.0.0.1:9/hook" }', 'respond:', '  mode: try-harder', '  nflogGroup: 7399', 'dns:', '  action: sinkhole', '  sinkhole4: 192.0.2.1', '  sinkhole6: "2001:db8::1"'],
  },
  // The two the parser used to pass and the decision policy refused at start.
  { name: 'ipv6-prefix-200', lines: ['decide:', '  ipv6Prefix: 200'], refused: /decide\.ipv6Prefix: must be a whole number from 48 to 128, got 200/ },
  { name: 'decoy-scan-banned', lines: ['decide:', '  banSeconds:', '    decoy-scan: 60'], refused: /decide\.banSeconds\.decoy-scan: must be 0/ },
  { name: 'unknown-section', lines: ['colour: blue'], refused: /colour: unknown key "colour" \(allowed here: profile, detection, capture, enforce, decide, allowlist, control, state, observe, alerts, respond, inline, dns(, [A-Za-z-]+)*\)/ },
  { name: 'unknown-nested-key', lines: ['detection:', '  scan:', '    minPort: 3'], refused: /detection\.scan\.minPort: unknown key "minPort" \(did you mean "minPorts"\?\)/ },
  { name: 'wrong-type-boolean', lines: ['enforce:', '  forward: "yes"'], refused: /enforce\.forward: must be true or false/ },
  { name: 'wrong-type-list', lines: ['capture:', '  interfaces: eth0'], refused: /capture\.interfaces: must be a list/ },
  { name: 'negative-duration', lines: ['enforce:', '  commitEveryMs: -5'], refused: /enforce\.commitEveryMs: must be greater than 0, got -5/ },
  { name: 'fractional-duration', lines: ['state:', '  purgeEveryMs: 1.5'], refused: /state\.purgeEveryMs: must be a whole number, got 1\.5/ },
  { name: 'duration-with-unit', lines: ['detection:', '  probeTimeoutMs: 5s'], refused: /detection\.probeTimeoutMs: must be a whole number, got the string "5s"/ },
  { name: 'bad-profile', lines: ['profile: sloppy'], refused: /profile: must be one of normal, aggressive, paranoid, got the string "sloppy"/ },
  { name: 'yaml-syntax', lines: ['detection: [unclosed'], refused: /PW_ERR_CONFIG_SYNTAX/ },
  { name: 'trw-order', lines: ['detection:', '  trw:', '    scannerSuccessProbability: 0.9'], refused: /scannerSuccessProbability \(θ1\) 0\.9 must be less than benignSuccessProbability/ },
  { name: 'escalation-jitter', lines: ['decide:', '  escalation:', '    jitterRatio: 0.9'], refused: /decide\.escalation\.jitterRatio: must be between 0 and 0\.5/ },
  { name: 'respond-group-is-capture-group', lines: ['respond:', '  mode: syn-ack', '  nflogGroup: CAPTURE_GROUP'], refused: /respond\.nflogGroup: .*need an NFLOG group of their own/ },
  { name: 'allowlist-host-bits', lines: ['allowlist:', '  - 192.0.2.7/24'], refused: /allowlist\[0\]: .*host bits are set/ },
  { name: 'blocked-network', lines: ['enforce:', '  blockedNetworks: [10.0.0.300/8]'], refused: /enforce\.blockedNetworks\[0\]:/ },
  { name: 'sinkhole', lines: ['dns:', '  sinkhole4: 999.1.1.1'], refused: /dns\.sinkhole4: must be an IPv4 address/ },
  { name: 'listen-port', lines: ['observe:', '  listen: "127.0.0.1:99999"'], refused: /observe\.listen: must be host:port/ },
  { name: 'inline-queues', lines: ['inline:', '  queue: 65535', '  queues: 2'], refused: /inline\.queues: queues 2 from queue 65535 reach queue 65536/ },
  // Refused because of what the file names on the host: start reads it, and so does the check.
  { name: 'allowlist-unresolvable', lines: ['allowlist:', '  - no-such-host.invalid'], refused: /PW_ERR_DECIDE_INPUT: allowlist host name "no-such-host\.invalid" does not resolve/, late: true },
  { name: 'geo', lines: ['geo:', `  database: ${GEO_FIXTURE}`, '  block: [CN]', '  allowOnly: { countries: [DE], ports: [tcp/22] }'] },
  { name: 'geo-missing-database', lines: ['geo:', '  database: DIR/missing.mmdb'], refused: /geo\.database: cannot read .*missing\.mmdb \(ENOENT\)/ },
  { name: 'geo-block-without-database', lines: ['geo:', '  block: [CN]'], refused: /geo\.block: needs geo\.database/ },
  { name: 'geo-with-iptables', lines: ['enforce:', '  backend: iptables', 'geo:', `  database: ${GEO_FIXTURE}`, '  block: [CN]'], refused: /geo\.block: geo\.block and geo\.allowOnly need enforce\.backend nftables/ },
  { name: 'missing-blocklist', lines: ['inline:', '  enabled: true', 'dns:', '  blocklists: [DIR/missing.txt]'], refused: /PW_ERR_DNS_BLOCKLIST: .*missing\.txt: cannot read the blocklist/, late: true },
];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `portwarden ARGS…` in `ns`, to completion (killed after two minutes: a refusal never takes that long). */
function runIn(pair: NetnsPair, ns: string, args: readonly string[]): Promise<Run> {
  const child = pair.spawn(ns, process.execPath, ['--import', 'tsx', CLI, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) => {
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

test('config check and start accept and refuse the same files', { timeout: 600_000 }, async () => {
  const pair = new NetnsPair({ ...DEFAULT_LAB, tag: 'pwcfg' });
  const dir = mkdtempSync(join(tmpdir(), 'pw-config-check-'));
  try {
    const captureGroup = 7800 + (process.pid % 90);
    const files = CASES.map((c) => {
      const caseDir = join(dir, c.name);
      const file = join(dir, `${c.name}.yaml`);
      const common = ['capture:', `  nflogGroup: ${captureGroup}`, 'control:', `  socketPath: ${join(caseDir, 'control.sock')}`, 'state:', `  dir: ${join(caseDir, 'state')}`];
      // A section both name appears once (YAML forbids a key twice): the common setting goes under the case's header.
      const own = new Set(c.lines.filter((l) => /^[a-z]+:$/.test(l)));
      const kept: string[] = [];
      for (let i = 0; i < common.length; i += 2) if (!own.has(common[i])) kept.push(common[i], common[i + 1]);
      const merged = c.lines.flatMap((l) => (own.has(l) && common.includes(l) ? [l, common[common.indexOf(l) + 1]] : [l]));
      const text = [...kept, ...merged].join('\n').replaceAll('CAPTURE_GROUP', String(captureGroup)).replaceAll('DIR', dir);
      writeFileSync(file, `${text}\n`);
      return { c, file, caseDir };
    });

    // A few processes at a time, all in the namespace start runs in, so name lookups see the same resolver.
    const inBatches = async <T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> => {
      const out: R[] = [];
      for (let i = 0; i < items.length; i += 4) out.push(...(await Promise.all(items.slice(i, i + 4).map(run))));
      return out;
    };
    const checks = await inBatches(files, ({ file }) => runIn(pair, pair.protectedNs, ['config', 'check', file]));

    for (const [i, { c, file }] of files.entries()) {
      const check = checks[i];
      if (c.refused === undefined) {
        assert.equal(check.status, 0, `${c.name}: config check refused a good file:\n${check.stderr}`);
        const [first, geoLine] = check.stdout.trim().split('\n');
        assert.equal(first, `${file}: ok (profile ${c.profile ?? 'normal'})`);
        // Geo says whether it is on (and what it does) or off and why.
        assert.match(geoLine, c.name === 'geo' ? /^geo: GeoLite2-Country \(.*country-geolite2\.mmdb, built .*\); blocks CN; lets only DE reach tcp\/22$/ : /^geo: off; no geo\.database is named/);
        continue;
      }
      assert.equal(check.status, 2, `${c.name}: config check accepted a bad file:\n${check.stdout}`);
      assert.equal(check.stdout, '', `${c.name}: nothing on stdout`);
      assert.match(check.stderr, c.refused, `${c.name}: config check's message`);
      if (!c.late) assert.match(check.stderr, new RegExp(`^portwarden: PW_ERR_CONFIG_\\w+: ${file.replaceAll('.', '\\.')}(:\\d+:\\d+)?: `), `${c.name}: file:line first`);
    }

    // start on the files the parser refuses: a few at a time, none may change the namespace's ruleset.
    const parserRefused = files.flatMap((f, i) => (f.c.refused !== undefined && !f.c.late ? [{ ...f, check: checks[i] }] : []));
    for (let i = 0; i < parserRefused.length; i += 4) {
      const batch = parserRefused.slice(i, i + 4);
      const rulesetBefore = pair.must(pair.protectedNs, 'nft', ['list', 'ruleset']);
      const starts = await Promise.all(batch.map(({ file }) => runIn(pair, pair.protectedNs, ['start', '--config', file, '--dry-run'])));
      assert.equal(pair.must(pair.protectedNs, 'nft', ['list', 'ruleset']), rulesetBefore, `${batch.map((b) => b.c.name).join(', ')}: start changed nothing in the kernel`);
      for (const [j, { c, check, caseDir }] of batch.entries()) {
        const start = starts[j];
        assert.equal(start.status, 2, `${c.name}: start did not refuse the file:\n${start.stdout.slice(-2000)}\n${start.stderr}`);
        assert.equal(start.stderr, check.stderr, `${c.name}: start prints the same problems as config check`);
        assert.equal(start.stdout, '', `${c.name}: start logged nothing, it never started`);
        assert.ok(!existsSync(caseDir), `${c.name}: start created nothing (no state directory, no control socket)`);
      }
    }

    // One at a time: start on the good files (it starts, and stops on SIGTERM), and on the files refused
    // for what they name on the host (start resolves names and reads lists while starting; the same refusal).
    for (const { c, file } of files.filter((f) => f.c.refused === undefined || f.c.late === true)) {
      if (c.refused === undefined) {
        const log: LogLine[] = [];
        const daemon = await startDaemon(pair, ['--config', file, '--dry-run'], log);
        daemon.kill('SIGTERM');
        await waitUntil(`${c.name}: the daemon to stop`, () => daemon.exitCode !== null, 30_000, log);
        assert.equal(daemon.exitCode, 0, `${c.name}: start accepted the file but did not stop cleanly`);
        continue;
      }
      const start = await runIn(pair, pair.protectedNs, ['start', '--config', file, '--dry-run']);
      assert.equal(start.status, 2, `${c.name}: start did not refuse the file:\n${start.stdout.slice(-2000)}\n${start.stderr}`);
      assert.match(start.stderr, c.refused, `${c.name}: start's message`);
    }
  } finally {
    pair.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
