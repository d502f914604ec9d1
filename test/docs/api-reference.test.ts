/**
 * Each package README's API reference names every option of its public option types and every error code:
 * the names are read from the TypeScript types themselves (inherited members included), so an option added
 * to the code fails this test until the README documents it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { root } from './snippets.js';

/** package → exported types whose properties are options a user sets. */
const OPTION_TYPES: Record<string, string[]> = {
  core: [
    'ServerOptions',
    'ClientOptions',
    'ConnectionOptions',
    'PerMessageDeflateOptions',
    'HeartbeatOptions',
    'SendOptions',
    'BroadcastOptions',
    'RouterOptions',
    'CloseAllOptions',
  ],
  express: ['WskitExpressSetup', 'SocketOptions'],
  fastify: ['WebSocketPluginOptions'],
  koa: ['KoaWebSocketOptions', 'RouteOptions', 'CloseOptions'],
  nest: ['WskitAdapterOptions', 'WskitGatewayOptions'],
};
/** Inherited from Node's request options: documented as a group ("any http(s).request option"). */
const NODE_REQUEST_OPTION = (type: string, name: string, declaredIn: string): boolean =>
  type === 'ClientOptions' && /node_modules\/@types\/node\//.test(declaredIn);

const program = ts.createProgram(
  Object.keys(OPTION_TYPES).map((name) => join(root, 'packages', name, 'src', 'index.ts')),
  {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
    baseUrl: root,
    paths: { '@wskit/core': ['packages/core/src/index.ts'] },
  },
);
const checker = program.getTypeChecker();

function exportedType(pkg: string, name: string): ts.Type {
  const file = program.getSourceFile(join(root, 'packages', pkg, 'src', 'index.ts'))!;
  const symbol = checker.getExportsOfModule(checker.getSymbolAtLocation(file)!).find((s) => s.name === name);
  if (!symbol) throw new Error(`@wskit/${pkg} does not export ${name}`);
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  return checker.getDeclaredTypeOfSymbol(target);
}

function optionNames(pkg: string, typeName: string): string[] {
  const names: string[] = [];
  for (const property of checker.getPropertiesOfType(exportedType(pkg, typeName))) {
    const declaredIn = property.declarations?.[0]?.getSourceFile().fileName ?? '';
    if (NODE_REQUEST_OPTION(typeName, property.name, declaredIn) || property.name.startsWith('__@')) continue;
    // Core options a plugin passes through: its README links the core's table.
    if (pkg !== 'core' && declaredIn.includes('/packages/core/')) continue;
    names.push(property.name);
  }
  return names;
}

/** Every identifier inside the README's inline code spans and tables' code (`{ binary?, except? }` names both). */
function namedInCode(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const [, span] of markdown.matchAll(/`([^`\n]+)`/g))
    for (const [word] of span!.matchAll(/[A-Za-z_$][\w$]*/g)) names.add(word);
  return names;
}

describe.each(Object.keys(OPTION_TYPES))('@wskit/%s README', (pkg) => {
  const named = namedInCode(readFileSync(join(root, 'packages', pkg, 'README.md'), 'utf8'));
  test.each(OPTION_TYPES[pkg]!)('names every property of %s', (typeName) => {
    expect(optionNames(pkg, typeName).filter((name) => !named.has(name))).toEqual([]);
  });
});

test('the core README lists every WS_ERR_* code', () => {
  const readme = readFileSync(join(root, 'packages', 'core', 'README.md'), 'utf8');
  const codes = exportedType('core', 'WebSocketErrorCode');
  const names = (codes.isUnion() ? codes.types : [codes]).map((t) => (t as ts.StringLiteralType).value);
  expect(names.length).toBeGreaterThan(10);
  expect(names.filter((code) => !readme.includes(`\`${code}\``))).toEqual([]);
});

test('the Nest README lists every GatewayErrorCode', () => {
  const readme = readFileSync(join(root, 'packages', 'nest', 'README.md'), 'utf8');
  const codes = exportedType('nest', 'GatewayErrorCode');
  const names = (codes.isUnion() ? codes.types : [codes]).map((t) => (t as ts.StringLiteralType).value);
  expect(names.filter((code) => !readme.includes(`\`${code}\``))).toEqual([]);
});
