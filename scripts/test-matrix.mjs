// Runs the core and plugin suites (packages/*/test, Nest 11 included) once more on every tested Node major
// other than the one running this script, which `npm test` has just used for the whole suite.
// The binaries come from the npm registry's `node` package (cached by npx after the first run).
// The type tests (*types.test.ts: the TypeScript compiler checking declarations in-process) are left out:
// what they check does not depend on the Node that runs the compiler, and they cost a minute per version.
// `node scripts/test-matrix.mjs 22` runs one version only.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The tested versions (README "Tested versions" and `engines` follow this list). */
export const TESTED = ['20.20.2', '22.23.3', '24.21.0'];

const only = process.argv.slice(2);
const current = process.versions.node.split('.')[0];
// packages/<name>/test, without the type tests (a negative lookahead: jest matches it against each path).
const PATTERN = 'packages/(?!.*types\\.test\\.ts$)';
const wanted = TESTED.filter((v) => (only.length > 0 ? only.includes(v.split('.')[0]) : v.split('.')[0] !== current));

function nodeBinary(version) {
  if (process.versions.node === version) return process.execPath;
  const out = execFileSync('npx', ['-y', '-p', `node@${version}`, '-c', 'node -p process.execPath'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').pop();
}

let failed = false;
for (const version of wanted) {
  const node = nodeBinary(version);
  const started = Date.now();
  console.log(`\ntest-matrix: Node ${version} (${node}) — packages/*/test (type tests aside)`);
  const result = spawnSync(node, [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', PATTERN], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log(
    `test-matrix: Node ${version} ${result.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
