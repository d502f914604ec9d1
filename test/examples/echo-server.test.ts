/**
 * examples/echo-server, the server conformance tools drive: `--port N` on 127.0.0.1, `READY <port>` once
 * listening, every message echoed with its type, permessage-deflate on (off with --no-deflate).
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startPeer, type Peer } from '../helpers/child.js';

const script = join(__dirname, '..', '..', 'examples', 'echo-server', 'index.mjs');

async function echoes(port: number): Promise<{ got: Array<[string, boolean]>; extensions: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  await once(ws, 'open');
  const got: Array<[string, boolean]> = [];
  const done = new Promise<void>((resolve) =>
    ws.on('message', (data, isBinary) => {
      got.push([String(data).slice(0, 20), isBinary]);
      if (got.length === 3) resolve();
    }),
  );
  ws.send('héllo');
  ws.send(Buffer.from([1, 2, 3]));
  ws.send('x'.repeat(100_000));
  await done;
  const extensions = ws.extensions;
  ws.close();
  await once(ws, 'close');
  return { got, extensions };
}

describe.each([
  ['with permessage-deflate', [], 'permessage-deflate'],
  ['with --no-deflate', ['--no-deflate'], ''],
])('echo server %s', (_name, extra, extensions) => {
  let server: Peer;
  beforeAll(async () => {
    server = await startPeer(process.execPath, [script, '--port', '0', ...extra]);
  });
  afterAll(async () => {
    await server.stop();
  });

  test('echoes text as text and binary as binary', async () => {
    expect(server.lines[0]).toMatch(/^READY \d+$/);
    const result = await echoes(server.port);
    expect(result.got).toEqual([
      ['héllo', false],
      ['\u0001\u0002\u0003', true],
      ['x'.repeat(20), false],
    ]);
    expect(result.extensions).toBe(extensions);
  });
});
