import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, type ErrorCodeName } from '../errors.js';
import { defaultConfig, loadConfigFile, parseConfigText, type PortwardenConfig } from './load.js';
import { DETECTION_PROFILES as PROFILES, type DetectionSettings } from '../detect/settings.js';
import { PROFILE_NAMES, type ProfileName } from '../model/profile.js';
import { TOP_LEVEL_KEYS } from './schema.js';
import { policySettings } from '../decide/policy.js';
import { Escalation } from '../decide/escalation.js';

const FILE = 'test.yaml';
const EXAMPLE = fileURLToPath(new URL('../../config/portwarden.example.yaml', import.meta.url));

/** YAML from lines, so each case reads like the file it stands for (line N is element N-1). */
function yaml(...lines: string[]): string {
  return lines.join('\n') + '\n';
}

function settings(profile: ProfileName, edit: (d: DetectionSettings) => void = () => {}): DetectionSettings {
  const d = structuredClone(PROFILES[profile]);
  edit(d);
  return d;
}

/** The detection part of a config: what these tests pin (the daemon sections have their own test). */
function core(c: PortwardenConfig): Pick<PortwardenConfig, 'profile' | 'detection' | 'source'> {
  return { profile: c.profile, detection: c.detection, source: c.source };
}

function configError(code: ErrorCodeName, run: () => unknown): ConfigError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** Where and on which field each problem is; the message only where the case says what it must mention. */
interface Expected {
  line: number;
  column: number;
  field: string;
  mentions?: string[];
}

function assertProblems(error: ConfigError, expected: readonly Expected[]): void {
  assert.deepEqual(
    error.problems.map(({ file, line, column, field }) => ({ file, line, column, field })),
    expected.map(({ line, column, field }) => ({ file: FILE, line, column, field })),
    error.message,
  );
  expected.forEach((want, i) => {
    for (const text of want.mentions ?? []) assert.match(error.problems[i].message, new RegExp(escape(text)));
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('defaults', () => {
  for (const profile of PROFILE_NAMES) {
    it(`defaultConfig('${profile}') is the ${profile} profile`, () => {
      assert.deepEqual(core(defaultConfig(profile)), { profile, detection: PROFILES[profile], source: '(defaults)' });
    });
    it(`a file with only "profile: ${profile}" gives the ${profile} profile`, () => {
      assert.deepEqual(core(parseConfigText(`profile: ${profile}\n`, FILE)), { profile, detection: PROFILES[profile], source: FILE });
    });
  }

  it('defaultConfig() is the normal profile', () => {
    assert.deepEqual(defaultConfig(), defaultConfig('normal'));
  });

  const emptyFiles: [string, string][] = [
    ['an empty file', ''],
    ['a file of comments only', yaml('# nothing set yet', '  # indented comment')],
    ['an empty detection section', yaml('detection:')],
    ['empty nested sections', yaml('detection:', '  trw:', '  scan:')],
  ];
  for (const [name, text] of emptyFiles) {
    it(`${name} gives the normal defaults`, () => {
      assert.deepEqual(core(parseConfigText(text, FILE)), { profile: 'normal', detection: PROFILES.normal, source: FILE });
    });
  }
});

describe('overrides', () => {
  const cases: { name: string; text: string; override?: ProfileName; profile: ProfileName; detection: DetectionSettings }[] = [
    {
      name: 'a top-level setting',
      text: yaml('detection:', '  probeTimeoutMs: 3000'),
      profile: 'normal',
      detection: settings('normal', (d) => (d.probeTimeoutMs = 3000)),
    },
    {
      name: 'one nested key merges deeply, its siblings keep the profile',
      text: yaml('detection:', '  trw:', '    detectionProbability: 0.95'),
      profile: 'normal',
      detection: settings('normal', (d) => (d.trw.detectionProbability = 0.95)),
    },
    {
      name: 'overrides apply to the file’s profile',
      text: yaml('profile: aggressive', 'detection:', '  scan:', '    minPorts: 6', '  flood:', '    icmpPerSecond: 50'),
      profile: 'aggressive',
      detection: settings('aggressive', (d) => {
        d.scan.minPorts = 6;
        d.flood.icmpPerSecond = 50;
      }),
    },
    {
      name: 'a list replaces the profile’s list whole',
      text: yaml('detection:', '  scan:', '    windows:', '      - { windowMs: 60000, count: 12 }'),
      profile: 'normal',
      detection: settings('normal', (d) => (d.scan.windows = [{ windowMs: 60_000, count: 12 }])),
    },
    {
      name: 'a longer list replaces too',
      text: yaml(
        'detection:',
        '  sweep:',
        '    windows:',
        '      - windowMs: 1000',
        '        count: 5',
        '      - { windowMs: 2000, count: 6 }',
        '      - { windowMs: 3000, count: 7 }',
        '      - { windowMs: 4000, count: 8 }',
      ),
      profile: 'normal',
      detection: settings('normal', (d) => {
        d.sweep.windows = [
          { windowMs: 1000, count: 5 },
          { windowMs: 2000, count: 6 },
          { windowMs: 3000, count: 7 },
          { windowMs: 4000, count: 8 },
        ];
      }),
    },
    {
      name: 'profileOverride wins over the file’s profile and keeps the file’s overrides',
      text: yaml('profile: normal', 'detection:', '  scan:', '    minPorts: 7'),
      override: 'paranoid',
      profile: 'paranoid',
      detection: settings('paranoid', (d) => (d.scan.minPorts = 7)),
    },
    {
      name: 'profileOverride applies when the file names no profile',
      text: yaml('detection:', '  decoy:', '    maxSources: 64'),
      override: 'aggressive',
      profile: 'aggressive',
      detection: settings('aggressive', (d) => (d.decoy.maxSources = 64)),
    },
    {
      name: 'ratios may be 0 and 1',
      text: yaml('detection:', '  scan:', '    minFailureRatio: 0', '  flood:', '    maxCompletedRatio: 1'),
      profile: 'normal',
      detection: settings('normal', (d) => {
        d.scan.minFailureRatio = 0;
        d.flood.maxCompletedRatio = 1;
      }),
    },
    {
      name: 'θ1 < θ0 is checked on the merged values (θ0 lowered, θ1 still below it)',
      text: yaml('detection:', '  trw:', '    benignSuccessProbability: 0.3'),
      profile: 'normal',
      detection: settings('normal', (d) => (d.trw.benignSuccessProbability = 0.3)),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(core(parseConfigText(c.text, FILE, c.override)), { profile: c.profile, detection: c.detection, source: FILE });
    });
  }
});

describe('invalid values: PW_ERR_CONFIG_INVALID at the line, column and field to edit', () => {
  const cases: { name: string; text: string; override?: ProfileName; problems: Expected[] }[] = [
    {
      name: 'unknown top-level key, at the key',
      text: yaml('profile: normal', 'verbose: true'),
      problems: [{ line: 2, column: 1, field: 'verbose', mentions: ['unknown key "verbose"', 'profile, detection'] }],
    },
    {
      name: 'unknown nested key, at the key, with the likely meant one',
      text: yaml('detection:', '  scan:', '    minPort: 3'),
      problems: [{ line: 3, column: 5, field: 'detection.scan.minPort', mentions: ['did you mean "minPorts"'] }],
    },
    {
      name: 'unit left off a key',
      text: yaml('detection:', '  probeTimeout: 3000'),
      problems: [{ line: 2, column: 3, field: 'detection.probeTimeout', mentions: ['did you mean "probeTimeoutMs"'] }],
    },
    {
      name: 'unknown key inside a window',
      text: yaml('detection:', '  scan:', '    windows:', '      - { windowMs: 60000, count: 12, ports: 3 }'),
      problems: [{ line: 4, column: 39, field: 'detection.scan.windows[0].ports' }],
    },
    {
      name: '__proto__ is just an unknown key',
      text: yaml('detection:', '  __proto__:', '    polluted: 1'),
      problems: [{ line: 2, column: 3, field: 'detection.__proto__' }],
    },
    {
      name: 'wrong type: a string for milliseconds, at the value',
      text: yaml('detection:', '  probeTimeoutMs: soon'),
      problems: [{ line: 2, column: 19, field: 'detection.probeTimeoutMs', mentions: ['whole number', '"soon"'] }],
    },
    {
      name: 'wrong type: a number for a section',
      text: yaml('detection:', '  trw: 0.5'),
      problems: [{ line: 2, column: 8, field: 'detection.trw', mentions: ['mapping'] }],
    },
    {
      name: 'wrong type: a mapping for a list',
      text: yaml('detection:', '  sweep:', '    windows: { windowMs: 1000, count: 5 }'),
      problems: [{ line: 3, column: 14, field: 'detection.sweep.windows', mentions: ['list'] }],
    },
    {
      name: 'wrong type: the whole file is a list',
      text: yaml('- profile: normal'),
      problems: [{ line: 1, column: 1, field: '', mentions: ['mapping'] }],
    },
    {
      name: 'a key with no value, at the key',
      text: yaml('detection:', '  probeTimeoutMs:'),
      problems: [{ line: 2, column: 3, field: 'detection.probeTimeoutMs' }],
    },
    {
      name: 'a count that is not whole',
      text: yaml('detection:', '  scan:', '    windows:', '      - { windowMs: 60000, count: 1.5 }'),
      problems: [{ line: 4, column: 35, field: 'detection.scan.windows[0].count', mentions: ['whole number'] }],
    },
    {
      name: 'a duration of zero',
      text: yaml('detection:', '  flood:', '    windowMs: 0'),
      problems: [{ line: 3, column: 15, field: 'detection.flood.windowMs', mentions: ['greater than 0'] }],
    },
    {
      name: 'a scan of one port (a group needs two)',
      text: yaml('detection:', '  scan:', '    minPorts: 1'),
      problems: [{ line: 3, column: 15, field: 'detection.scan.minPorts', mentions: ['at least 2'] }],
    },
    {
      name: 'a negative limit',
      text: yaml('detection:', '  limits:', '    maxFlows: -1'),
      problems: [{ line: 3, column: 15, field: 'detection.limits.maxFlows', mentions: ['greater than 0'] }],
    },
    {
      name: 'an infinite count',
      text: yaml('detection:', '  decoy:', '    maxSources: .inf'),
      problems: [{ line: 3, column: 17, field: 'detection.decoy.maxSources' }],
    },
    ...[1.2, 1, 0, -0.1].map((p) => ({
      name: `probability ${p} is not strictly between 0 and 1`,
      text: yaml('detection:', '  trw:', `    detectionProbability: ${p}`),
      problems: [{ line: 3, column: 27, field: 'detection.trw.detectionProbability', mentions: ['strictly between 0 and 1'] }],
    })),
    {
      name: 'ratio above 1',
      text: yaml('detection:', '  distributed:', '    minDisjointRatio: 1.5'),
      problems: [{ line: 3, column: 23, field: 'detection.distributed.minDisjointRatio', mentions: ['between 0 and 1'] }],
    },
    {
      name: 'θ1 = θ0 (θ1 set by the file), at θ1',
      text: yaml('detection:', '  trw:', '    scannerSuccessProbability: 0.8'),
      problems: [{ line: 3, column: 32, field: 'detection.trw.scannerSuccessProbability', mentions: ['0.8', 'benignSuccessProbability'] }],
    },
    {
      name: 'θ1 > θ0 (only θ0 set by the file), at θ0',
      text: yaml('detection:', '  trw:', '    benignSuccessProbability: 0.1'),
      problems: [{ line: 3, column: 31, field: 'detection.trw.benignSuccessProbability', mentions: ['0.2', '0.1'] }],
    },
    {
      name: 'θ1 > θ0 (both set by the file), at θ1',
      text: yaml('detection:', '  trw:', '    benignSuccessProbability: 0.3', '    scannerSuccessProbability: 0.6'),
      problems: [{ line: 4, column: 32, field: 'detection.trw.scannerSuccessProbability' }],
    },
    {
      name: 'PF ≥ PD, at the overriding key',
      text: yaml('detection:', '  trw:', '    detectionProbability: 0.005'),
      problems: [{ line: 3, column: 27, field: 'detection.trw.detectionProbability', mentions: ['falsePositiveProbability'] }],
    },
    {
      name: 'PF ≥ PD checked against the profile given by profileOverride',
      text: yaml('detection:', '  trw:', '    detectionProbability: 0.03'),
      override: 'paranoid', // PF 0.05
      problems: [{ line: 3, column: 27, field: 'detection.trw.detectionProbability' }],
    },
    {
      name: 'windows not increasing (equal), on the offending element',
      text: yaml(
        'detection:',
        '  scan:',
        '    windows:',
        '      - { windowMs: 60000, count: 12 }',
        '      - { windowMs: 60000, count: 20 }',
      ),
      problems: [{ line: 5, column: 9, field: 'detection.scan.windows[1]', mentions: ['60000'] }],
    },
    {
      name: 'windows decreasing, on each offending element',
      text: yaml(
        'detection:',
        '  sweep:',
        '    windows:',
        '      - windowMs: 3600000',
        '        count: 40',
        '      - windowMs: 60000',
        '        count: 20',
        '      - windowMs: 1000',
        '        count: 10',
      ),
      problems: [
        { line: 6, column: 9, field: 'detection.sweep.windows[1]' },
        { line: 8, column: 9, field: 'detection.sweep.windows[2]' },
      ],
    },
    {
      name: 'no windows',
      text: yaml('detection:', '  scan:', '    windows: []'),
      problems: [{ line: 3, column: 14, field: 'detection.scan.windows', mentions: ['at least one'] }],
    },
    {
      name: 'a window missing its count, at the window',
      text: yaml('detection:', '  scan:', '    windows:', '      - windowMs: 60000'),
      problems: [{ line: 4, column: 9, field: 'detection.scan.windows[0].count', mentions: ['required'] }],
    },
    {
      name: 'unknown profile, listing the allowed ones',
      text: yaml('profile: loud'),
      problems: [{ line: 1, column: 10, field: 'profile', mentions: ['normal, aggressive, paranoid', 'loud'] }],
    },
    {
      name: 'an invalid profile in the file is reported even under profileOverride',
      text: yaml('profile: loud'),
      override: 'normal',
      problems: [{ line: 1, column: 10, field: 'profile' }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assertProblems(configError('PW_ERR_CONFIG_INVALID', () => parseConfigText(c.text, FILE, c.override)), c.problems);
    });
  }

  it('reports every problem at once, in file order', () => {
    const text = yaml(
      'profile: normal', //                              1
      'detection:', //                                   2
      '  probeTimeoutMs: -5', //                         3  ≤ 0
      '  trw:', //                                       4
      '    scannerSuccessProbability: 0.9', //         5  θ1 ≥ θ0
      '    falsePositiveProbability: 2', //            6  out of range
      '  scan:', //                                      7
      '    windows:', //                               8
      '      - { windowMs: 60000, count: 1.5 }', //    9  not whole
      '      - { windowMs: 1000, count: 20 }', //      10 not increasing
      '  sweep:', //                                     11
      '    minHost: 3', //                             12 unknown key
      'alarms: {}', //                                   13 unknown section
    );
    const error = configError('PW_ERR_CONFIG_INVALID', () => parseConfigText(text, FILE));
    assert.equal(error.problems.length, 7, error.message);
    assertProblems(error, [
      { line: 3, column: 19, field: 'detection.probeTimeoutMs' },
      { line: 5, column: 32, field: 'detection.trw.scannerSuccessProbability' },
      { line: 6, column: 31, field: 'detection.trw.falsePositiveProbability' },
      { line: 9, column: 35, field: 'detection.scan.windows[0].count' },
      { line: 10, column: 9, field: 'detection.scan.windows[1]' },
      { line: 12, column: 5, field: 'detection.sweep.minHost' },
      { line: 13, column: 1, field: 'alarms' },
    ]);
  });

  it('formats each problem as file:line:column: field: message', () => {
    const error = configError('PW_ERR_CONFIG_INVALID', () => parseConfigText(yaml('detection:', '  bogus: 1'), FILE));
    assert.match(error.message, /^test\.yaml:2:3: detection\.bogus: unknown key "bogus"/);
  });

  it('an unknown profileOverride is PW_ERR_CONFIG_INVALID on field profile', () => {
    const error = configError('PW_ERR_CONFIG_INVALID', () => parseConfigText('', FILE, 'loud' as ProfileName));
    assert.equal(error.problems.length, 1);
    assert.equal(error.problems[0].field, 'profile');
    assert.match(error.problems[0].message, /normal, aggressive, paranoid/);
  });
});

describe('YAML syntax errors: PW_ERR_CONFIG_SYNTAX at the line yaml reports', () => {
  const cases: { name: string; text: string; line: number; column: number }[] = [
    { name: 'an unclosed flow list', text: yaml('detection:', '  scan:', '    windows: [ { windowMs: 1, count: 1 }', 'profile: normal'), line: 4, column: 1 },
    { name: 'a tab as indentation', text: yaml('detection:', '\tprobeTimeoutMs: 5'), line: 2, column: 1 },
    { name: 'a duplicate key', text: yaml('profile: normal', 'profile: paranoid'), line: 2, column: 1 },
    { name: 'two documents', text: yaml('profile: normal', '---', 'profile: paranoid'), line: 2, column: 1 },
    { name: 'an unknown tag', text: yaml('detection:', '  probeTimeoutMs: !seconds 5'), line: 2, column: 19 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const error = configError('PW_ERR_CONFIG_SYNTAX', () => parseConfigText(c.text, FILE));
      assert.ok(error.problems.length >= 1);
      const [first] = error.problems;
      assert.deepEqual({ file: first.file, line: first.line, column: first.column, field: first.field }, { file: FILE, line: c.line, column: c.column, field: '' });
      assert.doesNotMatch(first.message, /\n/, 'one line; the position is in line and column');
    });
  }
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portwarden-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file, naming it as the source and in problems', () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(path, yaml('profile: aggressive', 'detection:', '  probeTimeoutMs: 2500'));
    assert.deepEqual(core(loadConfigFile(path)), {
      profile: 'aggressive',
      detection: settings('aggressive', (d) => (d.probeTimeoutMs = 2500)),
      source: path,
    });
    assert.equal(loadConfigFile(path, 'paranoid').detection.scan.minPorts, PROFILES.paranoid.scan.minPorts);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, yaml('detection:', '  nope: 1'));
    const error = configError('PW_ERR_CONFIG_INVALID', () => loadConfigFile(bad));
    assert.equal(error.problems[0].file, bad);
  });

  const unreadable: [string, () => string][] = [
    ['a missing file', () => join(dir, 'missing.yaml')],
    ['a directory', () => dir],
  ];
  for (const [name, path] of unreadable) {
    it(`${name} is PW_ERR_CONFIG_READ with the cause`, () => {
      const error = configError('PW_ERR_CONFIG_READ', () => loadConfigFile(path()));
      assert.equal(error.problems.length, 1);
      assert.equal(error.problems[0].file, path());
      assert.ok(error.cause instanceof Error);
    });
  }

  it('the example config/portwarden.example.yaml loads and equals the normal defaults', () => {
    assert.deepEqual(loadConfigFile(EXAMPLE), { ...defaultConfig('normal'), source: EXAMPLE });
  });
});

describe('the result is deep-frozen and shares nothing with PROFILES', () => {
  const results: [string, () => PortwardenConfig][] = [
    ['defaultConfig', () => defaultConfig('paranoid')],
    ['parseConfigText with no overrides', () => parseConfigText('', FILE)],
    ['parseConfigText with overrides', () => parseConfigText(yaml('detection:', '  scan:', '    windows: [{ windowMs: 1000, count: 3 }]'), FILE)],
  ];
  for (const [name, make] of results) {
    it(name, () => {
      const config = make();
      const writes: [string, () => void][] = [
        ['profile', () => Object.assign(config, { profile: 'aggressive' })],
        ['detection.probeTimeoutMs', () => (config.detection.probeTimeoutMs = 1)],
        ['detection.trw.benignSuccessProbability', () => (config.detection.trw.benignSuccessProbability = 0.5)],
        ['detection.scan.windows (push)', () => config.detection.scan.windows.push({ windowMs: 1, count: 1 })],
        ['detection.scan.windows[0].count', () => (config.detection.scan.windows[0].count = 1)],
        ['detection.limits (new key)', () => Object.assign(config.detection.limits, { extra: 1 })],
      ];
      for (const [what, write] of writes) assert.throws(write, TypeError, what);

      const profile = PROFILES[config.profile];
      assert.notEqual(config.detection, profile);
      assert.notEqual(config.detection.trw, profile.trw);
      assert.notEqual(config.detection.scan.windows, profile.scan.windows);
      assert.notEqual(config.detection.sweep.windows[0], profile.sweep.windows[0]);
    });
  }

  it('two loads are independent objects', () => {
    assert.notEqual(defaultConfig().detection, defaultConfig().detection);
  });
});

describe('daemon sections: capture, enforce, decide, allowlist, control', () => {
  it('default to a usable daemon: NFLOG group, nftables, the profile\'s ban lengths, SSH port 22, a root-only socket', () => {
    const c = defaultConfig('aggressive');
    assert.deepEqual(c.capture, { method: 'nflog', interfaces: [], nflogGroup: 7311, snaplenBytes: 128 });
    assert.equal(c.enforce.backend, 'nftables');
    assert.equal(c.enforce.commitEveryMs, 5);
    assert.equal(c.decide.banSeconds.scan, 21_600);
    assert.equal(c.decide.banSeconds['decoy-scan'], 0);
    assert.deepEqual(c.decide.sshPorts, [22]);
    assert.deepEqual(c.allowlist, []);
    assert.equal(c.control.socketPath, '/run/portwarden/control.sock');
  });

  it('take overrides and refuse bad values naming line and field', () => {
    const c = parseConfigText(
      yaml('enforce:', '  backend: dry-run', '  blockedTcpPorts: [23, 445]', 'decide:', '  banSeconds:', '    scan: 600', 'allowlist:', '  - 192.0.2.0/24', '  - { value: bastion.example.com, reason: jump host }'),
      FILE,
    );
    assert.equal(c.enforce.backend, 'dry-run');
    assert.deepEqual(c.enforce.blockedTcpPorts, [23, 445]);
    assert.equal(c.decide.banSeconds.scan, 600);
    assert.equal(c.decide.banSeconds.sweep, 3_600, 'other kinds keep the profile');
    assert.deepEqual(c.allowlist, ['192.0.2.0/24', { value: 'bastion.example.com', reason: 'jump host' }]);
    const err = configError('PW_ERR_CONFIG_INVALID', () =>
      parseConfigText(yaml('enforce:', '  backend: pf', '  blockedUdpPorts: [70000]', 'capture:', '  nflogGroup: -1'), FILE),
    );
    assert.deepEqual(
      err.problems.map((p) => `${p.line}:${p.field}`),
      ['2:enforce.backend', '3:enforce.blockedUdpPorts[0]', '5:capture.nflogGroup'],
    );
  });
});

describe('the parser refuses what the stages refuse at start (one schema per stage, in its settings.ts)', () => {
  it('refuses the two values the old parser passed and the decision policy threw on', () => {
    const err = configError('PW_ERR_CONFIG_INVALID', () => parseConfigText(yaml('decide:', '  ipv6Prefix: 200', '  banSeconds:', '    decoy-scan: 60'), FILE));
    assertProblems(err, [
      { line: 2, column: 15, field: 'decide.ipv6Prefix', mentions: ['from 48 to 128, got 200'] },
      { line: 4, column: 17, field: 'decide.banSeconds.decoy-scan', mentions: ['must be 0'] },
    ]);
  });

  it('every profile default passes the schema of every section, and the policy and escalation take them', () => {
    for (const profile of PROFILE_NAMES) {
      const c = parseConfigText(`profile: ${profile}\n`, FILE);
      const { sshPorts: _, ipv6RepeatOffenderPrefix: __, escalation, feedTrust: ___, ...policy } = c.decide;
      assert.doesNotThrow(() => policySettings(profile, policy));
      assert.doesNotThrow(() => new Escalation(escalation, { get: () => undefined, put: () => undefined }));
    }
  });

  it('refuses a respond NFLOG group that is the capture group, pointing at the one the file set', () => {
    const err = configError('PW_ERR_CONFIG_INVALID', () => parseConfigText(yaml('respond:', '  mode: try-harder', 'capture:', '  nflogGroup: 7312'), FILE));
    assertProblems(err, [{ line: 4, column: 15, field: 'capture.nflogGroup', mentions: ['need an NFLOG group of their own'] }]);
    // drop answers in the kernel: no NFLOG group of its own needed.
    assert.equal(parseConfigText(yaml('capture:', '  nflogGroup: 7312'), FILE).respond.mode, 'drop');
  });

  it('parses networks, addresses and queue ranges as the stages do', () => {
    const err = configError('PW_ERR_CONFIG_INVALID', () =>
      parseConfigText(yaml('allowlist:', '  - 192.0.2.7/24', 'enforce:', '  blockedNetworks: [2001:db8::/129]', 'dns:', '  sinkhole6: 0.0.0.0', 'inline:', '  queue: 65000', '  queues: 600'), FILE),
    );
    assert.deepEqual(
      err.problems.map((p) => `${p.line}:${p.field}`),
      ['2:allowlist[0]', '4:enforce.blockedNetworks[0]', '6:dns.sinkhole6', '9:inline.queues'],
    );
  });

  it('names every section when the file is no mapping', () => {
    const err = configError('PW_ERR_CONFIG_INVALID', () => parseConfigText('- a list\n', FILE));
    for (const section of TOP_LEVEL_KEYS) assert.match(err.message, new RegExp(`\\b${section}\\b`));
    assert.equal(TOP_LEVEL_KEYS.length, 1 + Object.keys(defaultConfig()).filter((k) => k !== 'profile' && k !== 'source').length);
  });
});

describe('floodGuard', () => {
  it('refuses bad flood guard values with file, line and field', () => {
    const err = configError('PW_ERR_CONFIG_INVALID', () => parseConfigText(yaml('floodGuard:', '  synproxy:', '    wscale: 20', '  unsolicited: { mode: maybe }', '  connLimit: { tcpPorts: [0] }'), FILE));
    assert.deepEqual(
      err.problems.map((p) => `${p.line}:${p.field}`),
      ['3:floodGuard.synproxy.wscale', '4:floodGuard.unsolicited.mode', '5:floodGuard.connLimit.tcpPorts[0]'],
    );
    assert.match(err.problems[1].message, /off, on-flood or always/);
    const ok = parseConfigText(yaml('floodGuard:', '  synproxy: { onFlood: true, ports: [443] }', '  udp: { perSourcePerSecond: 100 }'), FILE).floodGuard;
    assert.deepEqual([ok.synproxy.onFlood, ok.synproxy.ports, ok.udp.perSourcePerSecond, ok.udp.globalPerSecond], [true, [443], 100, 0]);
  });
});

describe('the lapi section (src/lapi/settings.ts): off by default, problems at their line', () => {
  it('is off by default and takes inline keys and key files', () => {
    assert.deepEqual(defaultConfig('normal').lapi, { listen: null, keys: [] });
    const c = parseConfigText(yaml('lapi:', '  listen: "[::1]:8081"', '  keys:', '    - { name: fw-1, key: "0123456789abcdef" }', '    - { name: fw-2, keyFile: /etc/portwarden/fw-2.key, maxDurationSeconds: null, ranges: addresses }'), FILE);
    assert.deepEqual(c.lapi, {
      listen: '[::1]:8081',
      keys: [
        { name: 'fw-1', key: '0123456789abcdef', maxDurationSeconds: 2_147_483, ranges: 'range' },
        { name: 'fw-2', keyFile: '/etc/portwarden/fw-2.key', maxDurationSeconds: null, ranges: 'addresses' },
      ],
    });
  });
  const cases: { name: string; text: string; problems: Expected[] }[] = [
    {
      name: 'a bad port, a short key, a name used twice, key and keyFile both',
      text: yaml('profile: normal', 'lapi:', '  listen: 127.0.0.1:99999', '  keys:', '    - { name: fw, key: short }', '    - name: fw', '      keyFile: /etc/k', '      key: "0123456789abcdef0"'),
      problems: [
        { line: 3, column: 11, field: 'lapi.listen', mentions: ['host:port', '127.0.0.1:99999'] },
        { line: 5, column: 24, field: 'lapi.keys[0].key', mentions: ['at least 16'] },
        { line: 6, column: 13, field: 'lapi.keys[1].name', mentions: ['"fw" is used twice'] },
        { line: 7, column: 16, field: 'lapi.keys[1].keyFile', mentions: ['exactly one of key or keyFile'] },
      ],
    },
    {
      name: 'a host name instead of an address, a bad bouncer name, an entry without a key',
      text: yaml('lapi:', '  listen: localhost:8081', '  keys: [{ name: "bad name", keyFile: /k }, { name: a }]'),
      problems: [
        { line: 2, column: 11, field: 'lapi.listen', mentions: ['IP address'] },
        { line: 3, column: 18, field: 'lapi.keys[0].name' },
        { line: 3, column: 45, field: 'lapi.keys[1]', mentions: ['exactly one of key or keyFile'] },
      ],
    },
    {
      name: 'a cap under a minute',
      text: yaml('lapi:', '  keys: [{ name: a, key: "0123456789abcdef", maxDurationSeconds: 5 }]'),
      problems: [{ line: 2, column: 66, field: 'lapi.keys[0].maxDurationSeconds', mentions: ['from 60 to 315360000'] }],
    },
    { name: 'a listener without keys', text: yaml('lapi:', '  listen: 127.0.0.1:8081'), problems: [{ line: 2, column: 11, field: 'lapi.listen', mentions: ['lapi.keys is empty'] }] },
    {
      name: 'one key for two bouncers (they would share a cursor)',
      text: yaml('lapi:', '  keys:', '    - { name: a, key: "0123456789abcdef" }', '    - { name: b, key: "0123456789abcdef" }'),
      problems: [{ line: 4, column: 23, field: 'lapi.keys[1].key', mentions: ['two bouncers'] }],
    },
  ];
  for (const c of cases) it(c.name, () => assertProblems(configError('PW_ERR_CONFIG_INVALID', () => parseConfigText(c.text, FILE)), c.problems));
});
