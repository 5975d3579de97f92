#!/usr/bin/env node
// Builds portwarden's own N-API addons (native/<name>/binding.gyp) with the node-gyp that npm ships,
// against the system's Node headers and Debian's -dev libraries (scripts/setup.sh installs them).
// Runs as the package's `install` script, so `npm ci` builds them; nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addons = existsSync(nativeDir) ? readdirSync(nativeDir).filter((d) => existsSync(join(nativeDir, d, 'binding.gyp'))) : [];
// Build against the headers of the Node that runs us, never downloaded ones: npm passes its `nodedir`
// setting on; without one, the headers installed beside this Node (e.g. /usr/include/node) are used.
const nodedir = process.env.npm_config_nodedir || join(dirname(process.execPath), '..');
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`portwarden: no Node headers under ${nodedir}/include/node; set npm's nodedir to a Node installation with headers.`);
  process.exit(1);
}
for (const name of addons) {
  const dir = join(nativeDir, name);
  const r = spawnSync('node-gyp', ['rebuild', '--directory', dir, '--loglevel', 'warn', `--nodedir=${nodedir}`], { stdio: 'inherit', shell: false });
  if (r.status !== 0) {
    console.error(`portwarden: building the native addon native/${name} failed (exit ${r.status ?? r.signal}). It needs g++, make, python3 and the -dev packages that scripts/setup.sh installs (libpcap-dev, libnetfilter-queue-dev).`);
    process.exit(1);
  }
}
