/**
 * The one loader of portwarden's own N-API addons (native/<name>, built by scripts/build-native.mjs
 * at `npm ci` into native/<name>/build/Release/portwarden_<name>.node).
 *
 * Before loading it checks the build record the build script wrote beside the addon
 * (build/portwarden-build.json): the hash of the addon's sources (its folder and native/common) and the
 * Node ABI it was built for. A missing record, sources edited since the build, or another Node ABI
 * (the addons use libuv directly, which N-API's ABI promise does not cover) are refused with
 * PW_ERR_ADDON naming the addon and the command that rebuilds it, so a stale build fails at start
 * instead of running old code. The hash, not file times: a checkout, `npm pack` or a copy changes
 * times without changing code, and an edit is caught even when the clock says otherwise.
 *
 * Errors the addons themselves throw carry the code in ADDON_ERROR_CODES (one per addon, all in
 * src/errors.ts); callers match on `code` and, for a failed system call, `errno` and `syscall`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortwardenError, type ErrorCodeName } from '../errors.js';

export type AddonName = 'netlink' | 'nfqueue' | 'pcap' | 'rawsend';

/** The `code` of every error each addon's C side throws (its PW_ERR_CODE). */
export const ADDON_ERROR_CODES: Readonly<Record<AddonName, ErrorCodeName>> = {
  netlink: 'PW_ERR_NETLINK',
  nfqueue: 'PW_ERR_INLINE',
  pcap: 'PW_ERR_CAPTURE_LIVE',
  rawsend: 'PW_ERR_RESPOND',
};

/** What scripts/build-native.mjs records beside each addon it built. */
export interface BuildRecord {
  addon: string;
  file: string;
  sources: string;
  modules: string;
  node: string;
  platform: string;
  arch: string;
}

export const BUILD_RECORD = 'portwarden-build.json';

const REBUILD = 'run `npm rebuild portwarden` (an installed package) or `node scripts/build-native.mjs` (a checkout)';

/** The package root: src/kernel/ under tsx, dist/src/kernel/ once built, so two or three up. */
export function packageRoot(): string {
  const candidates = ['../../', '../../../'].map((up) => fileURLToPath(new URL(up, import.meta.url)));
  return candidates.find((dir) => existsSync(join(dir, 'native'))) ?? candidates[0];
}

/** Files under native/<dir> relative to native/, leaving out build outputs. */
function sourceFiles(nativeDir: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(nativeDir, rel), { withFileTypes: true })) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'build') walk(path);
      } else if (entry.isFile()) out.push(path);
    }
  };
  walk(dir);
  return out;
}

/**
 * sha256 over the addon's own files and native/common, path and bytes of each, sorted: the same
 * computation as sourcesHash in scripts/build-native.mjs (addon.test.ts builds with the script and
 * loads with this, so a difference fails there).
 */
export function sourcesHash(nativeDir: string, name: string): string {
  const hash = createHash('sha256');
  const files = [...sourceFiles(nativeDir, name), ...sourceFiles(nativeDir, 'common')].sort();
  for (const rel of files) {
    const bytes = readFileSync(join(nativeDir, rel));
    hash.update(`${rel}\n${bytes.length}\n`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

function refuse(name: string, why: string, cause?: unknown): PortwardenError {
  return new PortwardenError('PW_ERR_ADDON', `the native addon native/${name} ${why}: ${REBUILD}`, cause === undefined ? undefined : { cause });
}

function readRecord(path: string): BuildRecord | null {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as Partial<BuildRecord>;
    return typeof r.sources === 'string' && typeof r.modules === 'string' ? (r as BuildRecord) : null;
  } catch {
    return null;
  }
}

/**
 * Why the addon at native/<name> under `root` must not be loaded, or null when it is fresh.
 * Synchronous and cheap (a few small files hashed once per process and addon).
 */
export function staleReason(name: AddonName, root: string): string | null {
  const nativeDir = join(root, 'native');
  const file = join(nativeDir, name, 'build', 'Release', `portwarden_${name}.node`);
  if (!existsSync(file)) return `is not built (no ${file}; it needs gcc, make and the -dev packages of scripts/setup.sh)`;
  const record = readRecord(join(nativeDir, name, 'build', BUILD_RECORD));
  if (record === null) return `has no build record (build/${BUILD_RECORD}): it was not built by scripts/build-native.mjs`;
  if (record.modules !== process.versions.modules) {
    return `was built for another Node (ABI ${record.modules}, ${record.node}); this is ${process.version} (ABI ${process.versions.modules})`;
  }
  if (record.sources !== sourcesHash(nativeDir, name)) return `is stale: its sources (native/${name}, native/common) changed since it was built`;
  return null;
}

const loaded = new Map<string, unknown>();

/**
 * Loads native/<name>'s addon once per process, after the stale check. `T` is the caller's
 * description of the addon's exports (the C file is the authority; each caller checks a version
 * field where it has one). `root` is the package root; tests pass a copy.
 * @throws PortwardenError PW_ERR_ADDON: not built, stale, built for another Node, or not loadable.
 */
export function loadAddon<T>(name: AddonName, root: string = packageRoot()): T {
  const file = join(root, 'native', name, 'build', 'Release', `portwarden_${name}.node`);
  const cached = loaded.get(file);
  if (cached !== undefined) return cached as T;
  const why = staleReason(name, root);
  if (why !== null) throw refuse(name, why);
  let addon: unknown;
  try {
    addon = createRequire(import.meta.url)(file);
  } catch (err) {
    throw refuse(name, `cannot be loaded (${err instanceof Error ? err.message : String(err)})`, err);
  }
  loaded.set(file, addon);
  return addon as T;
}
