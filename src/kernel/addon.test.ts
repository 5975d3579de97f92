/**
 * The addon loader's stale-build check, the build script's record, and the error codes the four
 * addons throw. The stale cases run on a copy of the rawsend addon (built by `npm ci`) in a temp
 * directory; the build-script case compiles rawsend there with scripts/build-native.mjs. Needs no
 * root (the pcap case accepts libpcap's "no such device" and "permission denied" alike).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, PortwardenError } from '../errors.js';
import { ADDON_ERROR_CODES, BUILD_RECORD, loadAddon, packageRoot, staleReason, type AddonName, type BuildRecord } from './addon.js';

const root = packageRoot();
const NAMES = Object.keys(ADDON_ERROR_CODES) as AddonName[];

/** A package root in a temp dir holding native/common and native/<name> (with its build). */
function copyAddon(name: AddonName, withBuild = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-addon-'));
  cpSync(join(root, 'native', 'common'), join(dir, 'native', 'common'), { recursive: true });
  cpSync(join(root, 'native', name), join(dir, 'native', name), { recursive: true, filter: (src) => withBuild || !src.includes('/build') });
  return dir;
}

function refusedWith(pattern: RegExp, name: AddonName) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof PortwardenError, String(e));
    assert.equal(e.code, 'PW_ERR_ADDON');
    assert.match(e.message, new RegExp(`native/${name}`));
    assert.match(e.message, /npm rebuild portwarden/);
    assert.match(e.message, /node scripts\/build-native\.mjs/);
    assert.match(e.message, pattern);
    return true;
  };
}

function withCopy(name: AddonName, body: (dir: string) => void): void {
  const dir = copyAddon(name);
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the four addons in native/ are the ones the loader knows, and the builds of `npm ci` are fresh', () => {
  const dirs = readdirSync(join(root, 'native')).filter((d) => existsSync(join(root, 'native', d, 'binding.gyp')));
  assert.deepEqual(dirs.sort(), [...NAMES].sort());
  for (const name of NAMES) assert.equal(staleReason(name, root), null, name);
});

test('every binding.gyp has the same shape: the shared addon.gypi, target portwarden_<name>, sources and libraries only', () => {
  for (const name of NAMES) {
    // gyp files are Python literals: drop the comments, then they are JSON.
    const text = readFileSync(join(root, 'native', name, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '');
    const gyp = JSON.parse(text) as { includes: string[]; targets: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(gyp).sort(), ['includes', 'targets'], name);
    assert.deepEqual(gyp.includes, ['../common/addon.gypi'], name);
    assert.equal(gyp.targets.length, 1, name);
    assert.deepEqual(Object.keys(gyp.targets[0]).sort(), ['libraries', 'sources', 'target_name'], name);
    assert.equal(gyp.targets[0].target_name, `portwarden_${name}`);
  }
});

test('a fresh copy loads; a touched but unchanged source does not make it stale', () => {
  withCopy('rawsend', (dir) => {
    const future = new Date(Date.now() + 3600_000);
    utimesSync(join(dir, 'native', 'rawsend', 'rawsend.c'), future, future);
    const addon = loadAddon<{ open: unknown }>('rawsend', dir);
    assert.equal(typeof addon.open, 'function');
  });
});

test('an edited source of the addon refuses the build, naming the addon and the rebuild command', () => {
  withCopy('rawsend', (dir) => {
    appendFileSync(join(dir, 'native', 'rawsend', 'rawsend.c'), '\n/* edited after the build */\n');
    assert.throws(() => loadAddon('rawsend', dir), refusedWith(/stale: its sources/, 'rawsend'));
  });
});

test('an edited shared header refuses the build too', () => {
  withCopy('rawsend', (dir) => {
    appendFileSync(join(dir, 'native', 'common', 'napi_helpers.h'), '\n/* edited after the build */\n');
    assert.throws(() => loadAddon('rawsend', dir), refusedWith(/stale: its sources/, 'rawsend'));
  });
});

test('a build for another Node ABI is refused', () => {
  withCopy('rawsend', (dir) => {
    const path = join(dir, 'native', 'rawsend', 'build', BUILD_RECORD);
    const record = JSON.parse(readFileSync(path, 'utf8')) as BuildRecord;
    assert.equal(record.modules, process.versions.modules);
    writeFileSync(path, JSON.stringify({ ...record, modules: '83', node: 'v14.21.3' }));
    assert.throws(() => loadAddon('rawsend', dir), refusedWith(/another Node \(ABI 83, v14\.21\.3\)/, 'rawsend'));
  });
});

test('a build without a record (not built by the script) and a missing build are refused', () => {
  withCopy('rawsend', (dir) => {
    unlinkSync(join(dir, 'native', 'rawsend', 'build', BUILD_RECORD));
    assert.throws(() => loadAddon('rawsend', dir), refusedWith(/no build record/, 'rawsend'));
    unlinkSync(join(dir, 'native', 'rawsend', 'build', 'Release', 'portwarden_rawsend.node'));
    assert.throws(() => loadAddon('rawsend', dir), refusedWith(/is not built/, 'rawsend'));
  });
});

test('scripts/build-native.mjs builds an addon and records what the loader accepts; an edit makes it stale until rebuilt', () => {
  const dir = copyAddon('rawsend', false);
  try {
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(root, 'scripts', 'build-native.mjs'), join(dir, 'scripts', 'build-native.mjs'));
    const build = () => spawnSync(process.execPath, [join(dir, 'scripts', 'build-native.mjs'), 'rawsend'], { encoding: 'utf8' });
    assert.throws(() => loadAddon('rawsend', dir), refusedWith(/is not built/, 'rawsend'));
    let r = build();
    assert.equal(r.status, 0, r.stderr);
    const record = JSON.parse(readFileSync(join(dir, 'native', 'rawsend', 'build', BUILD_RECORD), 'utf8')) as BuildRecord;
    assert.equal(record.modules, process.versions.modules);
    assert.equal(staleReason('rawsend', dir), null);
    appendFileSync(join(dir, 'native', 'rawsend', 'rawsend.c'), '\n/* edited */\n');
    assert.match(staleReason('rawsend', dir) ?? '', /stale/);
    r = build();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(staleReason('rawsend', dir), null);
    const unknown = spawnSync(process.execPath, [join(dir, 'scripts', 'build-native.mjs'), 'nosuch'], { encoding: 'utf8' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no native addon nosuch/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every .c and .h under native/, by addon folder. */
function cSources(): { dir: string; file: string; text: string }[] {
  const out: { dir: string; file: string; text: string }[] = [];
  for (const dir of readdirSync(join(root, 'native'))) {
    for (const file of readdirSync(join(root, 'native', dir))) {
      if (/\.[ch]$/.test(file)) out.push({ dir, file: `native/${dir}/${file}`, text: readFileSync(join(root, 'native', dir, file), 'utf8') });
    }
  }
  return out;
}

test('the C sources throw only codes of src/errors.ts: one PW_ERR_CODE per addon, from ADDON_ERROR_CODES', () => {
  const sources = cSources();
  for (const name of NAMES) {
    const defines = sources.filter((s) => s.dir === name).flatMap((s) => [...s.text.matchAll(/#define PW_ERR_CODE "([A-Z_]+)"/g)].map((m) => m[1]));
    assert.deepEqual(defines, [ADDON_ERROR_CODES[name]], name);
  }
  for (const s of sources) {
    for (const m of s.text.matchAll(/"(PW_ERR_[A-Z_]+)"/g)) assert.ok(m[1] in ErrorCode, `${s.file}: ${m[1]} is not in src/errors.ts`);
    // Every throw names PW_ERR_CODE, never a literal or another code.
    for (const m of s.text.matchAll(/napi_throw_(?:error|type_error|range_error)\(\s*\w+,\s*([^,]+),/g)) assert.equal(m[1].trim(), 'PW_ERR_CODE', `${s.file}: ${m[0]}`);
    for (const m of s.text.matchAll(/napi_create_string_utf8\(\s*\w+,\s*([^,]+),\s*NAPI_AUTO_LENGTH,\s*&code\)/g)) assert.equal(m[1].trim(), 'PW_ERR_CODE', `${s.file}: ${m[0]}`);
  }
});

interface Thrown {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  pcapStatus?: unknown;
}

/** Runs `fn`, which must throw; returns what it threw. */
function thrown(fn: () => unknown): Thrown {
  try {
    fn();
  } catch (e) {
    return e as Thrown;
  }
  assert.fail('did not throw');
}

test('errors thrown by the loaded addons carry their code from the table, and errno for failed system calls', () => {
  type Ctor = new (...args: unknown[]) => Record<string, (...args: unknown[]) => unknown>;
  const check = (name: AddonName, e: Thrown): void => {
    assert.equal(e.code, ADDON_ERROR_CODES[name], `${name}: ${String(e)}`);
    assert.ok(typeof e.code === 'string' && e.code in ErrorCode);
  };

  const netlink = loadAddon<{ Socket: Ctor }>('netlink');
  check('netlink', thrown(() => new netlink.Socket(42)));
  const sock = new netlink.Socket(() => {});
  let e = thrown(() => sock.open(31, {}));
  check('netlink', e);
  assert.equal(e.errno, osConstants.errno.EPROTONOSUPPORT);
  assert.equal(e.syscall, 'socket');
  e = thrown(() => sock.send(Buffer.alloc(16)));
  check('netlink', e);
  assert.equal(e.errno, osConstants.errno.EBADF);
  sock.close();

  const nfqueue = loadAddon<{ Queue: Ctor }>('nfqueue');
  check('nfqueue', thrown(() => new nfqueue.Queue(42)));
  const queue = new nfqueue.Queue(() => {});
  check('nfqueue', thrown(() => queue.open(70000, {})));
  check('nfqueue', thrown(() => queue.verdict(1, 1)));
  queue.close();

  const pcap = loadAddon<{ Capture: Ctor }>('pcap');
  const capture = new pcap.Capture();
  check('pcap', thrown(() => capture.open()));
  e = thrown(() => capture.open('pwnosuch0', {}, Buffer.alloc(1 << 17), () => {}));
  check('pcap', e);
  assert.ok(e.pcapStatus === 'PCAP_ERROR_NO_SUCH_DEVICE' || e.pcapStatus === 'PCAP_ERROR_PERM_DENIED', String(e.pcapStatus));
  capture.close();

  const rawsend = loadAddon<Record<string, (...args: unknown[]) => unknown>>('rawsend');
  check('rawsend', thrown(() => rawsend.open(5)));
  e = thrown(() => rawsend.close(1 << 20));
  check('rawsend', e);
  assert.equal(e.errno, osConstants.errno.EBADF);
});
