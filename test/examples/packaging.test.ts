/**
 * Every package publishes an ESM build, a CJS build and type declarations: load each build in a fresh
 * Node process the way a user's code would (require and import by package name) and check the exports.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from '../helpers/built.js';
import { run } from '../helpers/child.js';

const root = join(__dirname, '..', '..');

const packages = {
  core: ['WebSocket', 'WebSocketServer', 'createWebSocketStream', 'WebSocketRouter', 'W3CWebSocket', 'default'],
  express: ['wskitExpress', 'default'],
  fastify: ['fastifyWebSocket', 'default'],
  koa: ['websocket', 'attach', 'default'],
  nest: ['WskitAdapter', 'UseConnectionGuards', 'WsParams'],
} as const;

describe.each(Object.entries(packages))('@wskit/%s', (name, exports) => {
  beforeAll(() => ensureBuilt(name as keyof typeof packages), 120_000);

  test('ships ESM and CJS builds with .d.ts', () => {
    for (const format of ['esm', 'cjs']) {
      expect(existsSync(join(root, 'packages', name, 'dist', format, 'index.js'))).toBe(true);
      expect(existsSync(join(root, 'packages', name, 'dist', format, 'index.d.ts'))).toBe(true);
    }
  });

  test.each(['require', 'import'])('loads with %s and has its exports', async (how) => {
    const load =
      how === 'require'
        ? `const m = require('@wskit/${name}');`
        : `const m = await import('@wskit/${name}');`;
    const script = `(async () => { ${load} process.stdout.write(JSON.stringify(Object.keys(m))); })()`;
    const result = await run(process.execPath, ['-e', script], 30_000);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const keys = JSON.parse(result.stdout) as string[];
    for (const key of exports) expect(keys).toContain(key);
  });
});
