/**
 * examples/h2-echo: `--port 0` prints READY <port>, serves its page at / and a WebSocket echo at /echo
 * over HTTP/2 with a self-signed certificate; the wskit client connects over HTTP/2 (extended CONNECT).
 */
import { once } from 'node:events';
import * as http2 from 'node:http2';
import { join } from 'node:path';
import { WebSocket } from '@wskit/core';
import { ensureBuilt } from '../helpers/built.js';
import { startPeer, type Peer } from '../helpers/child.js';

const script = join(__dirname, '..', '..', 'examples', 'h2-echo', 'index.mjs');
let server: Peer;

beforeAll(async () => {
  ensureBuilt('core');
  server = await startPeer(process.execPath, [script, '--port', '0'], 20_000);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

test('serves the page over HTTP/2 at /', async () => {
  const session = http2.connect(`https://127.0.0.1:${server.port}`, { rejectUnauthorized: false });
  try {
    const req = session.request({ ':path': '/' });
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    const [head] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    await once(req, 'end');
    expect(head[':status']).toBe(200);
    expect(body).toContain("new WebSocket('wss://' + location.host + '/echo')");
    expect(session.remoteSettings.enableConnectProtocol).toBe(true);
  } finally {
    session.close();
  }
});

test('echoes text and binary at /echo over HTTP/2, compressed', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/echo`, { http2: true, rejectUnauthorized: false });
  await once(ws, 'open');
  expect(ws.extensions).toBe('permessage-deflate');
  const got: Array<[string, boolean]> = [];
  const done = new Promise<void>((resolve) =>
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      got.push([String(data).slice(0, 10), isBinary]);
      if (got.length === 3) resolve();
    }),
  );
  ws.send('héllo');
  ws.send(Buffer.from([1, 2, 3]));
  ws.send('y'.repeat(200_000));
  await done;
  expect(got).toEqual([
    ['héllo', false],
    ['\u0001\u0002\u0003', true],
    ['y'.repeat(10), false],
  ]);
  ws.close(1000);
  const [code] = (await once(ws, 'close')) as [number];
  expect(code).toBe(1000);
});
