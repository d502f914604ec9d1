/** `npm start`'s command line: a bad --port or a busy port is one line on stderr and an exit code, never a stack. */
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ensureBuilt } from '../helpers/built.js';
import { run } from '../helpers/child.js';

const script = join(__dirname, '..', '..', 'examples', 'chat', 'index.mjs');

beforeAll(() => {
  for (const name of ['express', 'fastify', 'koa', 'nest'] as const) ensureBuilt(name);
}, 90_000);

test.each([['abc'], ['-1'], ['65536'], ['80.5'], ['']])('--port %j: one line, exit 2', async (value) => {
  const { code, stdout, stderr } = await run(process.execPath, [script, '--port', value], 30_000);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr.trim().split('\n')).toEqual([
    expect.stringMatching(/^wskit demo: --port must be a whole number from 0 to 65535/),
  ]);
});

test('an unknown option: one line, exit 2', async () => {
  const { code, stderr } = await run(process.execPath, [script, '--prot', '1'], 30_000);
  expect(code).toBe(2);
  expect(stderr.trim()).toBe('wskit demo: unknown option --prot (options: --port N, --host ADDRESS)');
});

test('a busy port: one line, exit 1', async () => {
  const blocker = createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const { port } = blocker.address() as AddressInfo;
  try {
    const { code, stdout, stderr } = await run(process.execPath, [script, '--port', String(port)], 30_000);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe(
      `wskit demo: port ${port} on 127.0.0.1 is already in use; pick another with --port N (0: any free port)`,
    );
  } finally {
    blocker.close();
  }
}, 40_000);
