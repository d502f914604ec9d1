import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ensureBuilt } from '../../../test/helpers/built.js';
import { closed, connect, nextMessage, refusal } from './helpers.js';

const root = join(__dirname, '..', '..', '..');

function start(): Promise<{ child: ChildProcessWithoutNullStreams; port: number }> {
  const child = spawn(process.execPath, [join(root, 'examples', 'fastify-chat', 'index.mjs'), '--port', '0'], {
    cwd: root,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('example did not print READY')), 10_000);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`example exited with ${String(code)}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^READY (\d+)$/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, port: Number(match[1]) });
    });
  });
}

async function login(base: string, nick: string): Promise<string> {
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ nick }),
  });
  expect(res.status).toBe(200);
  return res.headers.getSetCookie()[0]!.split(';')[0]!;
}

describe('examples/fastify-chat (built package, child process)', () => {
  let server: { child: ChildProcessWithoutNullStreams; port: number };
  beforeAll(async () => {
    ensureBuilt('fastify');
    server = await start();
  }, 60_000);
  afterAll(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  });

  test('@fastify/cookie + @fastify/session: an HTTP login opens the WebSocket room; rooms are separate; SIGTERM closes with 1001', async () => {
    const http = `http://127.0.0.1:${server.port}`;
    const ws = `ws://127.0.0.1:${server.port}`;

    expect((await refusal(connect(`${ws}/chat/lobby`))).status).toBe(401);
    const ann = await login(http, 'ann');
    const bob = await login(http, 'bob');
    expect((await refusal(connect(`${ws}/chat/Not_A_Room`, undefined, { headers: { Cookie: ann } }))).status).toBe(400);

    const a = await connect(`${ws}/chat/lobby`, undefined, { headers: { Cookie: ann } });
    expect(JSON.parse(await nextMessage(a))).toEqual({ type: 'join', room: 'lobby', nick: 'ann' });
    const b = await connect(`${ws}/chat/lobby`, undefined, { headers: { Cookie: bob } });
    const other = await connect(`${ws}/chat/games`, undefined, { headers: { Cookie: bob } });
    expect(JSON.parse(await nextMessage(other))).toEqual({ type: 'join', room: 'games', nick: 'bob' });
    expect(JSON.parse(await nextMessage(a))).toEqual({ type: 'join', room: 'lobby', nick: 'bob' });
    expect(JSON.parse(await nextMessage(b))).toEqual({ type: 'join', room: 'lobby', nick: 'bob' });

    b.send('hello lobby');
    const said = { type: 'say', room: 'lobby', nick: 'bob', text: 'hello lobby' };
    expect(JSON.parse(await nextMessage(a))).toEqual(said);
    expect(JSON.parse(await nextMessage(b))).toEqual(said);
    await expect(nextMessage(other, 200)).rejects.toThrow('no message');

    const closes = Promise.all([a, b, other].map((client) => closed(client)));
    const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
    server.child.kill('SIGTERM');
    expect((await closes).map((c) => c.code)).toEqual([1001, 1001, 1001]);
    expect(await exited).toBe(0);
  });
});
