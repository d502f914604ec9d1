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

/** Diagnostics of one program over `files`, by file name relative to `dir` ('' for those without a file). */
function compile(dir: string, files: string[]): Map<string, string[]> {
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
  // Checked: the fixtures and the declarations they reach outside node_modules (the built @wskit/core, by its
  // real path) or in @types/ws. TypeScript's lib, @types/node and the rest are read where used, not checked
  // on their own, which made each program several times slower.
  const checked = program
    .getSourceFiles()
    .filter((file) => !/\/node_modules\/(?!@types\/ws\/|@wskit\/)/.test(file.fileName));
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...checked.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
    ...program.getGlobalDiagnostics(),
  ];
  const byFile = new Map<string, string[]>(files.map((file) => [file, []]));
  for (const d of diagnostics) {
    const file = d.file
      ? d.file.fileName.startsWith(dir + '/')
        ? d.file.fileName.slice(dir.length + 1)
        : d.file.fileName
      : '';
    const where = d.file ? `${file}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : '';
    byFile.set(file, [...(byFile.get(file) ?? []), where + ts.flattenDiagnosticMessageText(d.messageText, ' ')]);
  }
  return byFile;
}

/** Every diagnostic that is not about `file` (none expected): the declarations, options, globals. */
function others(diagnostics: Map<string, string[]>, file: string): string[] {
  return [...diagnostics].filter(([name]) => name !== file).flatMap(([, list]) => list);
}

let switchedDiagnostics: Map<string, string[]> | undefined;

/**
 * The fixtures with 'ws' switched to '@wskit/core', compiled once as one program (both files, as the control
 * is): no @types/ws in it, as a user who never installed ws.
 */
function switched(file: string): string[] {
  if (!switchedDiagnostics) {
    const dir = join(fixtures, `switched-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const files = ['app.mts', 'app.cts'];
    for (const name of files) {
      const text = readFileSync(join(fixtures, name), 'utf8').replace(/(from |require\()'ws'/g, "$1'@wskit/core'");
      writeFileSync(join(dir, name), text);
    }
    try {
      switchedDiagnostics = compile(dir, files);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const all = switchedDiagnostics;
  return [...all.get(file)!, ...others(all, file).filter((d) => !d.startsWith('app.'))];
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
  expect([...compile(fixtures, ['app.mts', 'app.cts']).values()].flat()).toEqual([]);
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
