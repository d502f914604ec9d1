/**
 * Code written against @types/ws compiles against the BUILT @wskit/core with only the module name switched.
 * The fixtures (test/fixtures/ws-typed) are first compiled as they are, against `ws` and @types/ws (the
 * control), then copied with `'ws'` replaced by `'@wskit/core'` and compiled again: module resolution goes
 * through node_modules/@wskit/core and its package.json `exports`, so the declarations checked are dist's.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import ts from 'typescript';
import { ensureBuilt } from '../../../test/helpers/built.js';

const fixtures = join(__dirname, 'fixtures', 'ws-typed');

function compile(dir: string, files: string[]): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    types: ['node'],
    typeRoots: [join(__dirname, '..', '..', '..', 'node_modules', '@types')],
  };
  const program = ts.createProgram(
    files.map((f) => join(dir, f)),
    options,
  );
  return ts
    .getPreEmitDiagnostics(program)
    .map(
      (d) =>
        `${d.file ? `${d.file.fileName.slice(dir.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
    );
}

function switched(file: string): string[] {
  const dir = join(fixtures, `switched-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const text = readFileSync(join(fixtures, file), 'utf8').replace(/(from |require\()'ws'/g, "$1'@wskit/core'");
  writeFileSync(join(dir, file), text);
  try {
    return compile(dir, [file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether the built CJS entry is the WebSocket class itself (ws's module shape). */
function cjsEntryIsTheClass(): boolean {
  ensureBuilt('core');
  // Asked of Node in the repository, not of jest's resolver (which maps @wskit/core to the sources).
  const answer = execFileSync(process.execPath, ['-p', "typeof require('@wskit/core')"], {
    cwd: fixtures,
    encoding: 'utf8',
  });
  return answer.trim() === 'function';
}

beforeAll(() => ensureBuilt('core'), 120_000);

test('the fixtures are valid @types/ws code (control)', () => {
  expect(compile(fixtures, ['app.mts', 'app.cts'])).toEqual([]);
}, 60_000);

test('ESM code typed against @types/ws compiles against the built @wskit/core', () => {
  expect(switched('app.mts')).toEqual([]);
}, 60_000);

test("the built CJS entry is the WebSocket class (ws's module shape)", () => {
  expect(cjsEntryIsTheClass()).toBe(true);
});

// `import WebSocket = require(...)` needs the CJS entry to be the class.
test('CommonJS code typed against @types/ws compiles against the built @wskit/core', () => {
  expect(switched('app.cts')).toEqual([]);
}, 60_000);
