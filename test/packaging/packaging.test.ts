/**
 * The packages as a user gets them: `npm pack` every package, install the tarballs into a fresh project
 * outside the repository (no workspace links; the frameworks come from npm's cache where it has them), then
 * load each package with require() and import(), prove that both formats share one runtime, and compile
 * consumer files with `tsc --strict` under moduleResolution node16, nodenext and bundler against the shipped
 * .d.ts. Library checking stays on (skipLibCheck false) for our declarations; errors inside a framework's own
 * declarations are not ours to fix and are left out (today: @types/koa against content-disposition's types).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { ensureBuilt } from '../helpers/built.js';
import { run } from '../helpers/child.js';

const root = join(__dirname, '..', '..');
const fixtures = join(__dirname, 'consumer');
const PACKAGES = ['core', 'express', 'fastify', 'koa', 'nest', 'redis'] as const;
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

/** The frameworks at the versions the repository tests, so the install is served from the same cache. */
const FRAMEWORKS = [
  'express',
  'fastify',
  'koa',
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/websockets',
  '@nestjs/platform-express',
  'reflect-metadata',
  'rxjs',
  '@types/express',
  '@types/koa',
  '@types/node',
];

let project: string;

beforeAll(() => {
  for (const name of PACKAGES) ensureBuilt(name);
  project = mkdtempSync(join(tmpdir(), 'wskit-consumer-'));
  const npm = (args: string[], cwd: string) =>
    execFileSync('npm', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  npm(['pack', ...PACKAGES.flatMap((name) => ['-w', `packages/${name}`]), '--pack-destination', project], root);
  const tarballs = readdirSync(project).filter((file) => file.endsWith('.tgz'));
  const dependencies: Record<string, string> = {};
  for (const name of PACKAGES)
    dependencies[`@wskit/${name}`] = `file:./${tarballs.find((t) => t === `wskit-${name}-0.1.0.tgz`)}`;
  for (const name of FRAMEWORKS) dependencies[name] = rootPkg.devDependencies[name]!;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, dependencies }));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], project);
  for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(project, file));
}, 300_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('tarballs', () => {
  test.each(PACKAGES)('@wskit/%s ships LICENSE, README, metadata and no workspace link', (name) => {
    const dir = join(project, 'node_modules', '@wskit', name);
    const files = readdirSync(dir);
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist']));
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({ license: 'MIT', sideEffects: false, publishConfig: { access: 'public' } });
    expect(pkg.description).toEqual(expect.any(String));
    expect(pkg.repository).toMatchObject({ directory: `packages/${name}` });
    expect((pkg.exports as Record<string, unknown>)['./package.json']).toBe('./package.json');
    // The ESM side holds one wrapper and declarations only: no second runtime copy to diverge.
    const esm = readdirSync(join(dir, 'dist', 'esm'), { recursive: true }) as string[];
    expect(esm.filter((file) => file.endsWith('.js'))).toEqual(['index.js']);
  });

  test('source maps carry their sources (src/ is not shipped)', () => {
    const map = JSON.parse(
      readFileSync(join(project, 'node_modules', '@wskit', 'core', 'dist', 'cjs', 'websocket.js.map'), 'utf8'),
    ) as { sources: string[]; sourcesContent?: string[] };
    expect(map.sourcesContent?.length).toBe(map.sources.length);
    expect(map.sourcesContent![0]).toContain('class WebSocket');
  });

  test('./package.json is importable', async () => {
    const script = join(project, 'package-json.cjs');
    writeFileSync(script, "process.stdout.write(require('@wskit/core/package.json').name);\n");
    const result = await run(process.execPath, [script], 30_000);
    expect(result.stdout.trim()).toBe('@wskit/core');
  });
});

describe('loading', () => {
  test('both formats in one process share one runtime (one zlib limiter, one fan-out queue, one topic hub class, one symbol set)', async () => {
    const log = join(project, 'load.log');
    writeFileSync(log, '');
    const child = await run(process.execPath, [join(project, 'one-state.cjs'), log], 60_000);
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    const report = JSON.parse(child.stdout) as {
      identical: Record<string, { names: number; different: string[]; defaultSame: boolean }>;
      copies: Record<string, number>;
      shape: { isClass: boolean; statics: string[]; serverAlias: boolean; destructured: boolean };
      hub: boolean[];
      echo: { reply: string; crossInstance: boolean };
    };
    for (const name of PACKAGES) {
      expect(report.identical[name]!.names).toBeGreaterThan(0);
      expect({ name, ...report.identical[name] }).toMatchObject({ name, different: [], defaultSame: true });
    }
    expect(report.copies).toEqual({
      'zlib-limiter.js': 1,
      'fanout.js': 1,
      'websocket.js': 1,
      'connection-guards.js': 1,
      'topics.js': 1,
    });
    expect(report.hub).toEqual([true, true, true, true]);
    expect(report.shape).toEqual({ isClass: true, statics: [], serverAlias: true, destructured: true });
    expect(report.echo).toEqual({ reply: 'hello', crossInstance: true });
    // Every ES module node loaded from @wskit is an index.js wrapper; the rest is the one CJS build.
    const loaded = readFileSync(log, 'utf8').trim().split('\n');
    const esModules = loaded.filter((line) => line.startsWith('module '));
    expect(esModules.length).toBe(PACKAGES.length);
    for (const line of esModules) expect(line).toMatch(/\/dist\/esm\/index\.js$/);
  });

  test('the installed core starts its deflate worker for a dedicated publish burst, and every message arrives', async () => {
    const result = await run(process.execPath, [join(project, 'offload.mjs')], 60_000);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ threadsAdded: expect.any(Number), allInOrder: true });
    expect((JSON.parse(result.stdout) as { threadsAdded: number }).threadsAdded).toBeGreaterThan(0);
  });

  test.each(PACKAGES)('@wskit/%s loads with require and import without warnings', async (name) => {
    const script = join(project, `load-${name}.cjs`);
    writeFileSync(
      script,
      `const r = require('@wskit/${name}');\n` +
        `import('@wskit/${name}').then((m) => process.stdout.write(JSON.stringify([typeof r, Object.keys(m).length])));\n`,
    );
    const result = await run(process.execPath, [script], 30_000);
    expect(result.stderr).toBe('');
    const [kind, count] = JSON.parse(result.stdout) as [string, number];
    expect(kind).toBe(name === 'core' ? 'function' : 'object');
    expect(count).toBeGreaterThan(1);
  });
});

describe('types', () => {
  const base: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    esModuleInterop: true,
    experimentalDecorators: true,
    types: ['node'],
  };

  function check(files: string[], options: ts.CompilerOptions): string[] {
    const program = ts.createProgram(
      files.map((file) => join(project, file)),
      { ...base, typeRoots: [join(project, 'node_modules', '@types')], ...options },
    );
    // Only our files are checked: a framework's declarations are still read wherever ours use them, but the
    // diagnostics inside them are not ours to fix (see above), and checking all of @types/node and the
    // frameworks' .d.ts for nothing made each program several times slower.
    const ours = program.getSourceFiles().filter((file) => !/\/node_modules\/(?!@wskit\/)/.test(file.fileName));
    const diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...ours.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
      ...program.getGlobalDiagnostics(),
    ];
    return diagnostics
      .filter((d) => !d.file || !/\/node_modules\/(?!@wskit\/)/.test(d.file.fileName))
      .map((d) => {
        const where = d.file
          ? `${d.file.fileName.slice(project.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: `
          : '';
        return where + ts.flattenDiagnosticMessageText(d.messageText, ' ');
      });
  }

  test.each([
    ['node16', ts.ModuleKind.Node16, ts.ModuleResolutionKind.Node16],
    ['nodenext', ts.ModuleKind.NodeNext, ts.ModuleResolutionKind.NodeNext],
  ])('consumers compile under moduleResolution %s (ESM, CJS, checked JS)', (_name, module, moduleResolution) => {
    const files = ['esm.mts', 'cjs.cts', 'require.cjs'];
    // Nest 12 is ESM only: a CommonJS consumer can type it where require(esm) is modelled (nodenext).
    if (moduleResolution === ts.ModuleResolutionKind.NodeNext) files.push('cjs-nest.cts');
    expect(check(files, { module, moduleResolution, allowJs: true, checkJs: true })).toEqual([]);
  });

  test('the ESM consumer compiles under moduleResolution bundler', () => {
    expect(
      check(['bundler.ts'], { module: ts.ModuleKind.Preserve, moduleResolution: ts.ModuleResolutionKind.Bundler }),
    ).toEqual([]);
  });

  test('a wrong use of the shipped types fails (the check is not vacuous)', () => {
    writeFileSync(
      join(project, 'wrong.cts'),
      "import WebSocket = require('@wskit/core');\nnew WebSocket.Server({ port: 'x' });\n",
    );
    const errors = check(['wrong.cts'], {
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^wrong\.cts:2: /);
  });
});
