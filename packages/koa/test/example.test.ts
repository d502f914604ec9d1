import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt } from '../../../test/helpers/built.js';
import { nextMessage, open, refusal } from './helpers.js';

const root = join(__dirname, '..', '..', '..');
let child: ChildProcess | undefined;
let port = 0;

beforeAll(async () => {
  ensureBuilt('koa');
  child = spawn(process.execPath, [join(root, 'examples/koa-chat/index.mjs'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no READY line: ${out}`)), 10_000);
    child!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child!.once('exit', (code) => reject(new Error(`example exited with ${code}`)));
  });
}, 60_000);

afterAll(async () => {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child!.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
});

async function login(name: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/login?name=${name}`);
  expect(await res.text()).toBe(`hello ${name}`);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

test('koa-chat example: 401 without a session; a room relays messages between logged-in users', async () => {
  expect((await refusal(`ws://127.0.0.1:${port}/rooms/lobby`)).status).toBe(401);

  const ann = await open(`ws://127.0.0.1:${port}/rooms/lobby`, undefined, { headers: { Cookie: await login('ann') } });
  const bob = await open(`ws://127.0.0.1:${port}/rooms/lobby`, undefined, { headers: { Cookie: await login('bob') } });
  expect(await nextMessage(ann)).toBe('* bob joined');
  bob.send('hi ann');
  expect(await nextMessage(ann)).toBe('bob: hi ann');
  expect(await nextMessage(bob)).toBe('bob: hi ann');
  ann.close();
  expect(await nextMessage(bob)).toBe('* ann left');
  bob.close();
});
