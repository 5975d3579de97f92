#!/usr/bin/env node
// Builds portwarden's own N-API addons (native/<name>/binding.gyp, all of one shape: they include
// native/common/addon.gypi) with the node-gyp that npm ships, against the system's Node headers and
// Debian's -dev libraries (scripts/setup.sh installs them). Runs as the package's `install` script, so
// `npm ci` and `npm rebuild portwarden` build them; nothing is downloaded.
//
//   node scripts/build-native.mjs            every addon
//   node scripts/build-native.mjs pcap ...   only these
//
// After each build it writes native/<name>/build/portwarden-build.json: the hash of the addon's sources
// and the Node ABI it was built for. src/kernel/addon.ts refuses to load an addon whose record is
// missing or does not match (sources edited since, or another Node), so a stale build fails loudly
// at start instead of running old code. The hash is computed the same way there (sourcesHash below);
// src/kernel/addon.test.ts checks that freshly built addons pass.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const STAMP = 'portwarden-build.json';

/** Files under native/<dir>, sorted, relative to native/, leaving out build outputs. */
function sourceFiles(nativeDir, dir) {
  const out = [];
  const walk = (rel) => {
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

/** sha256 over the addon's own files and native/common (which every addon includes), path and bytes of each. */
export function sourcesHash(nativeDir, name) {
  const hash = createHash('sha256');
  const files = [...sourceFiles(nativeDir, name), ...sourceFiles(nativeDir, 'common')].sort();
  for (const rel of files) {
    const bytes = readFileSync(join(nativeDir, rel));
    hash.update(`${rel}\n${bytes.length}\n`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

function main() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const nativeDir = join(root, 'native');
  const all = existsSync(nativeDir) ? readdirSync(nativeDir).filter((d) => existsSync(join(nativeDir, d, 'binding.gyp'))) : [];
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`portwarden: no native addon ${unknown.join(', ')} (there are: ${all.join(', ')})`);
    process.exit(2);
  }
  const addons = wanted.length > 0 ? wanted : all;
  // Build against the headers of the Node that runs us, never downloaded ones: npm passes its `nodedir`
  // setting on; without one, the headers installed beside this Node (e.g. /usr/include/node) are used.
  const nodedir = process.env.npm_config_nodedir || join(dirname(process.execPath), '..');
  if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
    console.error(`portwarden: no Node headers under ${nodedir}/include/node; set npm's nodedir to a Node installation with headers.`);
    process.exit(1);
  }
  // The node-gyp npm ships: npm names it in npm_config_node_gyp for install scripts; run by hand, the
  // one beside this Node (Debian's and nodejs.org's layouts), else whatever is on PATH.
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const script = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : undefined);
  const gyp = script !== undefined ? [process.execPath, script] : ['node-gyp'];
  for (const name of addons) {
    const dir = join(nativeDir, name);
    const before = sourcesHash(nativeDir, name);
    const r = spawnSync(gyp[0], [...gyp.slice(1), 'rebuild', '--directory', dir, '--loglevel', 'warn', `--nodedir=${nodedir}`], { stdio: 'inherit', shell: false });
    if (r.status !== 0) {
      console.error(`portwarden: building the native addon native/${name} failed (exit ${r.status ?? r.signal}). It needs gcc, make, python3 and the -dev packages that scripts/setup.sh installs (libpcap-dev, libnetfilter-queue-dev).`);
      process.exit(1);
    }
    const stamp = {
      addon: name,
      file: `build/Release/portwarden_${name}.node`,
      sources: before,
      modules: process.versions.modules,
      node: process.version,
      platform: process.platform,
      arch: process.arch,
    };
    if (!existsSync(join(dir, stamp.file))) {
      console.error(`portwarden: node-gyp built native/${name} but ${stamp.file} is missing (its binding.gyp must name the target portwarden_${name})`);
      process.exit(1);
    }
    writeFileSync(join(dir, 'build', STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
