/**
 * The docs cannot drift from the code: every ```ts block of the READMEs, docs/ and examples/ is written to a
 * temporary directory, compiled with `tsc --strict` against the built packages (resolved as a user's
 * project resolves them), and every ```ts run block is then run with node and must exit 0.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBuilt } from '../helpers/built.js';
import { run } from '../helpers/child.js';
import { extractSnippets, root, type Snippet } from './snippets.js';

const exec = promisify(execFile);
const snippets = extractSnippets();
let dir: string;

beforeAll(async () => {
  for (const name of ['express', 'fastify', 'koa', 'nest'] as const) ensureBuilt(name);
  // Inside the repository so that `@wskit/*`, express, … resolve through its node_modules like in an app.
  mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
  dir = mkdtempSync(join(root, 'node_modules', '.cache', 'wskit-snippets-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023', 'DOM'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        esModuleInterop: true,
        skipLibCheck: true,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        types: ['node'],
        outDir: 'out',
        rootDir: 'src',
      },
      include: ['src'],
    }),
  );
  for (const snippet of snippets)
    writeFileSync(join(dir, 'src', `${snippet.name}.ts`), `${snippet.code}\nexport {};\n`);
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `src/<name>.ts(12,5): error …` → `packages/core/README.md:40: error …`. */
function mapDiagnostics(output: string): string[] {
  const byName = new Map(snippets.map((s) => [s.name, s]));
  return output
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const match = /^src\/(.+?)\.ts\((\d+),(\d+)\): (.*)$/.exec(line);
      const snippet = match ? byName.get(match[1]!) : undefined;
      return snippet ? `${snippet.file}:${snippet.line + Number(match![2]) - 1}: ${match![4]}` : line;
    });
}

test('there are snippets to check, runnable ones among them', () => {
  expect(snippets.length).toBeGreaterThan(10);
  expect(snippets.filter((s) => s.runnable).length).toBeGreaterThan(3);
});

test('every ```ts snippet compiles with tsc --strict', async () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  let output = '';
  try {
    await exec(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeout: 180_000 });
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  expect(mapDiagnostics(output)).toEqual([]);
}, 200_000);

const runnable: Snippet[] = snippets.filter((s) => s.runnable);
test.each(runnable.map((s) => [`${s.file}:${s.line}`, s] as const))(
  '%s runs to completion',
  async (_where, snippet) => {
    const result = await run(process.execPath, [join(dir, 'out', `${snippet.name}.js`)], 30_000);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  },
  40_000,
);
