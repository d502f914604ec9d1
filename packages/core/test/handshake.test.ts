/**
 * Server-side opening handshake validation (RFC 6455 §4.2): every refusal is a real HTTP answer on the
 * raw socket, after which the server closes the connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type VerifyClientCallback } from '@wskit/core';
import { closeOf, opened, rawHandshake, shutdown, within, wskitServer, type RawHandshakeOptions } from './helpers.js';

let wss: WebSocketServer;
let port: number;

afterEach(async () => {
  if (wss) await shutdown(wss);
});

async function refusedWith(options: RawHandshakeOptions, status: number): Promise<Record<string, string>> {
  const client = await rawHandshake(port, options);
  expect(client.head?.status).toBe(status);
  // The server must not leave the refused socket open.
  await within(client.closed, 2000, 'socket close after refusal');
  return client.head!.headers;
}

describe('request validation', () => {
  beforeEach(async () => {
    ({ wss, port } = await wskitServer());
  });

  test('a well-formed request gets 101 with the accept key', async () => {
    const client = await rawHandshake(port, { headers: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    expect(client.head?.status).toBe(101);
    expect(client.head?.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    client.socket.destroy();
  });

  test('non-GET → 405', async () => {
    await refusedWith({ method: 'POST' }, 405);
  });

  test('missing Upgrade header → 400', async () => {
    await refusedWith({ headers: { Upgrade: null } }, 400);
  });

  test('Upgrade other than websocket → 400', async () => {
    await refusedWith({ headers: { Upgrade: 'h2c' } }, 400);
  });

  test('Connection without the upgrade token → 400', async () => {
    await refusedWith({ headers: { Connection: 'keep-alive' } }, 400);
  });

  test('Connection listing upgrade among other tokens is accepted', async () => {
    const client = await rawHandshake(port, { headers: { Connection: 'keep-alive, Upgrade' } });
    expect(client.head?.status).toBe(101);
    client.socket.destroy();
  });

  test.each([
    ['missing', null],
    ['not base64 of 16 bytes', 'abc'],
    ['15 bytes', Buffer.alloc(15, 1).toString('base64')],
    ['17 bytes', Buffer.alloc(17, 1).toString('base64')],
  ])('Sec-WebSocket-Key %s → 400', async (_name, key) => {
    await refusedWith({ headers: { 'Sec-WebSocket-Key': key } }, 400);
  });

  test('unsupported version → 426 with Sec-WebSocket-Version: 13, 8', async () => {
    const headers = await refusedWith({ headers: { 'Sec-WebSocket-Version': '12' } }, 426);
    expect(headers['sec-websocket-version']).toBe('13, 8');
  });

  test('missing version → 400', async () => {
    await refusedWith({ headers: { 'Sec-WebSocket-Version': null } }, 400);
  });

  test('version 8 is accepted', async () => {
    const client = await rawHandshake(port, { headers: { 'Sec-WebSocket-Version': '8' } });
    expect(client.head?.status).toBe(101);
    client.socket.destroy();
  });

  test.each([
    ['duplicate', 'chat, chat'],
    ['invalid token', 'chat room'],
    ['empty element', 'a,,b'],
    ['separator character', 'a/b'],
  ])('Sec-WebSocket-Protocol %s → 400', async (_name, value) => {
    await refusedWith({ headers: { 'Sec-WebSocket-Protocol': value } }, 400);
  });

  test('a plain HTTP request gets 426 Upgrade Required', async () => {
    const client = await rawHandshake(port, {
      headers: { Upgrade: null, Connection: null, 'Sec-WebSocket-Key': null, 'Sec-WebSocket-Version': null },
    });
    expect(client.head?.status).toBe(426);
  });

  test('garbage instead of HTTP gets 400 and the socket is closed', async () => {
    const client = await rawHandshake(port, { raw: '\x16\x03\x01 not http at all\r\n\r\n' });
    expect(client.head?.status).toBe(400);
    await within(client.closed, 2000, 'socket close');
  });
});

describe('verifyClient', () => {
  test('sync refusal → 401', async () => {
    ({ wss, port } = await wskitServer({ verifyClient: () => false }));
    await refusedWith({}, 401);
  });

  test('sync form receives origin, secure and req', async () => {
    const seen: Array<{ origin: string | undefined; secure: boolean; url: string | undefined }> = [];
    ({ wss, port } = await wskitServer({
      verifyClient: (info: { origin: string | undefined; secure: boolean; req: IncomingMessage }) => {
        seen.push({ origin: info.origin, secure: info.secure, url: info.req.url });
        return true;
      },
    }));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/x?y=1`, { origin: 'https://example.test' });
    await opened(ws);
    expect(seen).toEqual([{ origin: 'https://example.test', secure: false, url: '/x?y=1' }]);
    ws.terminate();
  });

  test('async refusal with custom code, message and headers', async () => {
    ({ wss, port } = await wskitServer({
      verifyClient: (_info: unknown, cb: VerifyClientCallback) => {
        setTimeout(() => cb(false, 403, 'Go away', { 'X-Reason': 'test', 'Retry-After': 5 }), 5);
      },
    }));
    const client = await rawHandshake(port);
    expect(client.head?.status).toBe(403);
    expect(client.head?.headers['x-reason']).toBe('test');
    expect(client.head?.headers['retry-after']).toBe('5');
    await within(client.closed, 2000, 'socket close');
    expect(client.head?.body).toBe('Go away');
  });

  test('async refusal without a code → 401', async () => {
    ({ wss, port } = await wskitServer({ verifyClient: (_i: unknown, cb: VerifyClientCallback) => cb(false) }));
    await refusedWith({}, 401);
  });

  test('async acceptance opens the connection (wskit client and ws client)', async () => {
    ({ wss, port } = await wskitServer({
      verifyClient: (_i: unknown, cb: VerifyClientCallback) => setImmediate(() => cb(true)),
    }));
    const { WebSocket: WsClient } = await import('ws');
    const a = new WebSocket(`ws://127.0.0.1:${port}`);
    const b = new WsClient(`ws://127.0.0.1:${port}`);
    await Promise.all([opened(a), opened(b)]);
    a.terminate();
    b.terminate();
  });

  test('an async verifyClient that never answers is timed out by handshakeTimeout', async () => {
    let late: VerifyClientCallback | null = null;
    ({ wss, port } = await wskitServer({
      handshakeTimeout: 150,
      verifyClient: (_i: unknown, cb: VerifyClientCallback) => {
        late = cb;
      },
    }));
    const connections: unknown[] = [];
    wss.on('connection', (ws) => connections.push(ws));
    const started = Date.now();
    const client = await rawHandshake(port);
    expect(client.head?.status).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    await within(client.closed, 2000, 'socket close');
    // An answer after the timeout changes nothing.
    late!(true);
    await new Promise((r) => setImmediate(r));
    expect(connections).toHaveLength(0);
  });

  test('wsClientError replaces the default answer and gets (error, socket, req)', async () => {
    ({ wss, port } = await wskitServer());
    const seen = new Promise<[Error & { status?: number }, Duplex, IncomingMessage]>((resolve) =>
      wss.on('wsClientError', (error: Error & { status?: number }, socket: Duplex, req: IncomingMessage) => {
        resolve([error, socket, req]);
        socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }),
    );
    const client = await rawHandshake(port, { path: '/t', headers: { 'Sec-WebSocket-Key': 'nope' } });
    const [error, , req] = await seen;
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/Sec-WebSocket-Key/);
    expect(req.url).toBe('/t');
    expect(client.head?.status).toBe(418);
  });
});

describe('handshake over a ws client (control)', () => {
  test('a ws client completes the handshake and a code-less close (1005)', async () => {
    ({ wss, port } = await wskitServer());
    const { WebSocket: WsClient } = await import('ws');
    const ws = new WsClient(`ws://127.0.0.1:${port}`, { protocolVersion: 13 });
    ws.on('error', () => {});
    await opened(ws);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    expect((await closeOf(ws))[0]).toBe(1005);
  });
});
