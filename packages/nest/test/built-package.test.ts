/**
 * The built @wskit/nest as users load it — Node ESM `import` and CJS `require`, no jest transform — on
 * Nest 11 and Nest 12: a gateway app starts and answers a message. (A deep import without `.js`, for
 * one, passes under jest and fails here on Nest 11.) Each major gets a scratch `node_modules` where
 * @nestjs/* link to that major and @wskit/nest is a copy of the built package, so its imports resolve there.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../../../test/helpers/built.js';
import { run } from '../../../test/helpers/child.js';

const root = join(__dirname, '..', '..', '..');
const majors: [string, string][] = [
  ['Nest 11', join(root, 'test', 'nest11', 'node_modules', '@nestjs')],
  ['Nest 12', join(root, 'node_modules', '@nestjs')],
];

const app = (load: (name: string) => string): string => `
${load('reflect-metadata')}
const { Module } = ${load('@nestjs/common')};
const { NestFactory } = ${load('@nestjs/core')};
const { WebSocketGateway, SubscribeMessage } = ${load('@nestjs/websockets')};
const { ExpressAdapter } = ${load('@nestjs/platform-express')};
const { WskitAdapter } = ${load('@wskit/nest')};
const { WebSocket } = ${load('@wskit/core')};
const { version } = ${load('@nestjs/core/package.json')};

class EchoGateway { echo(_client, data) { return data; } }
const descriptor = Object.getOwnPropertyDescriptor(EchoGateway.prototype, 'echo');
Reflect.defineMetadata('design:paramtypes', [Object], EchoGateway.prototype, 'echo');
SubscribeMessage('echo')(EchoGateway.prototype, 'echo', descriptor);
WebSocketGateway({ path: '/echo' })(EchoGateway);
class AppModule {}
Module({ providers: [EchoGateway] })(AppModule);

const main = async () => {
  const nest = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
  nest.useWebSocketAdapter(new WskitAdapter(nest));
  await nest.listen(0, '127.0.0.1');
  const ws = new WebSocket('ws://127.0.0.1:' + nest.getHttpServer().address().port + '/echo');
  ws.on('open', () => ws.send(JSON.stringify({ event: 'echo', data: 'hi', id: 1 })));
  ws.on('message', async (data) => {
    console.log('nest ' + version.split('.')[0] + ' ' + String(data));
    ws.close();
    await nest.close();
  });
};
main().catch((error) => { console.error(error); process.exit(1); });
`;

describe.each(majors)('built @wskit/nest on %s', (_name, nestDir) => {
  let dir = '';
  beforeAll(() => {
    ensureBuilt('nest');
    dir = mkdtempSync(join(tmpdir(), 'wskit-nest-built-'));
    const modules = join(dir, 'node_modules');
    mkdirSync(join(modules, '@nestjs'), { recursive: true });
    mkdirSync(join(modules, '@wskit', 'nest'), { recursive: true });
    for (const name of ['common', 'core', 'websockets', 'platform-express']) {
      symlinkSync(join(nestDir, name), join(modules, '@nestjs', name), 'dir');
    }
    for (const name of ['rxjs', 'reflect-metadata'])
      symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
    symlinkSync(join(root, 'packages', 'core'), join(modules, '@wskit', 'core'), 'dir');
    cpSync(join(root, 'packages', 'nest', 'package.json'), join(modules, '@wskit', 'nest', 'package.json'));
    cpSync(join(root, 'packages', 'nest', 'dist'), join(modules, '@wskit', 'nest', 'dist'), { recursive: true });
    writeFileSync(
      join(dir, 'app.mjs'),
      app((name) =>
        name === 'reflect-metadata'
          ? `import '${name}';`
          : `await import('${name}'${name.endsWith('.json') ? ", { with: { type: 'json' } }).then((m) => m.default)" : ')'}`,
      ),
    );
    writeFileSync(
      join(dir, 'app.cjs'),
      app((name) => (name === 'reflect-metadata' ? `require('${name}');` : `require('${name}')`)),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(['app.mjs', 'app.cjs'])('%s starts a gateway and answers', async (file) => {
    const result = await run(process.execPath, [join(dir, file)], 60_000);
    expect(result.stderr).toBe('');
    const major = nestDir.includes('nest11') ? '11' : '12';
    expect(result.stdout.trim()).toBe(`nest ${major} {"event":"echo","data":"hi","id":1}`);
    expect(result.code).toBe(0);
  });
});
