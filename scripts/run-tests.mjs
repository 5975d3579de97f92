// Runs the *.test.ts files under src/ and test/ with node's own test runner (TypeScript through tsx).
// Node 20's --test takes no globs, so the file list is gathered here.
//
//   node scripts/run-tests.mjs            every test: unit and namespace tests (npm test)
//   node scripts/run-tests.mjs unit       *.test.ts but not *.netns.test.ts: no root, no namespace (npm run test:unit)
//   node scripts/run-tests.mjs netns      *.netns.test.ts: need root, create network namespaces (npm run test:netns)
//   node scripts/run-tests.mjs FILE...    just these files
//
// Files run side by side, as many at a time as the machine has cores (PW_TEST_CONCURRENCY overrides).
// That is safe for the namespace tests because every name they make in the kernel or on disk is their
// own: namespaces are `<tag>-<pid>-<n>`, veth devices, NFLOG groups, queues and ports live inside those
// namespaces, and sockets, state and logs go to mkdtemp directories.
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const NETNS = '.netns.test.ts';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const all = [...collect('src', []), ...collect('test', [])].sort();
const netns = all.filter((f) => f.endsWith(NETNS));
const unit = all.filter((f) => !f.endsWith(NETNS));
const groups = { unit, netns };
// Namespace tests first: they are the long ones, and the unit files fill the gaps beside them.
const files = args.length === 0 ? [...netns, ...unit] : args.length === 1 && args[0] in groups ? groups[args[0]] : args;

if (process.getuid?.() !== 0 && files.some((f) => f.endsWith(NETNS))) {
  const which = files.filter((f) => f.endsWith(NETNS));
  console.error(`run-tests: ${which.length} namespace test file(s) (*${NETNS}) need root; run as root, or \`npm run test:unit\` for the rest`);
  process.exit(1);
}

const concurrency = Number(process.env.PW_TEST_CONCURRENCY) || availableParallelism();
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
