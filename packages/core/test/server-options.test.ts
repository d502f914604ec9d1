/**
 * WebSocketServer options, methods and events of ws 8, driven by `ws` clients (and raw sockets where a
 * client library would hide the behaviour).
 */
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket as WsSocket } from 'ws';
import { WebSocket, WebSocketServer } from '@wskit/core';
import {
  OP,
  closeOf,
  delay,
  errorOf,
  frame,
  opened,
  rawHandshake,
  rawUpgraded,
  shutdown,
  within,
  wskitServer,
} from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(
  options: ConstructorParameters<typeof WebSocketServer>[0] extends infer O ? Omit<O & object, 'port'> : never = {},
) {
  const s = await wskitServer(options);
  cleanups.push(() => shutdown(s.wss));
  return s;
}

function wsClient(
  url: string,
  protocols?: string | string[],
  options?: ConstructorParameters<typeof WsSocket>[2],
): WsSocket {
  const ws = new WsSocket(url, protocols, options);
  cleanups.push(() => ws.terminate());
  return ws;
}

async function plainHttpServer(handler?: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const s = http.createServer(handler);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  cleanups.push(() => {
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  });
  return { server: s, port: (s.address() as AddressInfo).port };
}

describe('listening', () => {
  test('port, host and backlog: listening event, address(), connection(ws, req)', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', backlog: 8 });
    cleanups.push(() => shutdown(wss));
    await once(wss, 'listening');
    const address = wss.address() as AddressInfo;
    expect(address.address).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    const connection = once(wss, 'connection');
    const client = wsClient(`ws://127.0.0.1:${address.port}/room?id=3`);
    const [ws, req] = (await connection) as [WebSocket, http.IncomingMessage];
    expect(ws).toBeInstanceOf(WebSocket);
    expect(req.url).toBe('/room?id=3');
    expect(wss.clients.has(ws)).toBe(true);
    await opened(client);
  });

  test('exactly one of port, server, noServer', () => {
    expect(() => new WebSocketServer({})).toThrow(TypeError);
    expect(() => new (WebSocketServer as unknown as new () => WebSocketServer)()).toThrow(TypeError);
    expect(() => new WebSocketServer({ port: 0, noServer: true })).toThrow(TypeError);
  });

  test('a taken port is reported with error', async () => {
    const { port } = await server();
    const second = new WebSocketServer({ port, host: '127.0.0.1' });
    const [error] = (await within(once(second, 'error'), 2000, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('EADDRINUSE');
    second.close();
  });

  test('server option: shares an HTTP server; plain requests still reach its handler', async () => {
    const { server: httpServer, port } = await plainHttpServer((_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ server: httpServer });
    cleanups.push(() => shutdown(wss));
    expect((wss.address() as AddressInfo).port).toBe(port);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('plain');
    const client = wsClient(`ws://127.0.0.1:${port}/`);
    await opened(client);
    expect(wss.clients.size).toBe(1);
  });

  test('noServer + handleUpgrade; address() throws; one socket cannot be upgraded twice', async () => {
    const wss = new WebSocketServer({ noServer: true });
    cleanups.push(() => shutdown(wss));
    expect(() => wss.address()).toThrow(/noServer/);
    const { server: httpServer, port } = await plainHttpServer();
    const twice: unknown[] = [];
    httpServer.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, (ws, request) => {
        expect(request).toBe(req);
        wss.emit('connection', ws, request);
      });
      try {
        wss.handleUpgrade(req, socket, head, () => {});
      } catch (error) {
        twice.push(error);
      }
    });
    const connection = once(wss, 'connection');
    const client = wsClient(`ws://127.0.0.1:${port}/`);
    await opened(client);
    await connection;
    expect(twice).toHaveLength(1);
    expect(String(twice[0])).toMatch(/more than once/);
  });
});

describe('routing and negotiation', () => {
  test('path: other paths are refused with 400; the query string is ignored', async () => {
    const { port } = await server({ path: '/ws' });
    await opened(wsClient(`ws://127.0.0.1:${port}/ws?token=1`));
    const refused = await rawHandshake(port, { path: '/other' });
    expect(refused.head?.status).toBe(400);
  });

  test('shouldHandle can be overridden', async () => {
    class Prefixed extends WebSocketServer {
      override shouldHandle(req: http.IncomingMessage): boolean {
        return (req.url ?? '').startsWith('/api/');
      }
    }
    const { server: httpServer, port } = await plainHttpServer();
    const wss = new Prefixed({ server: httpServer });
    cleanups.push(() => shutdown(wss));
    await opened(wsClient(`ws://127.0.0.1:${port}/api/x`));
    const refused = await rawHandshake(port, { path: '/nope' });
    expect(refused.head?.status).toBe(400);
  });

  test('handleProtocols picks one; without it the first is chosen; false sends none', async () => {
    const seen: Array<[string[], string | undefined]> = [];
    const { port } = await server({
      handleProtocols: (protocols: Set<string>, req: http.IncomingMessage) => {
        seen.push([[...protocols], req.url]);
        return protocols.has('b') ? 'b' : false;
      },
    });
    const chosen = wsClient(`ws://127.0.0.1:${port}/p`, ['a', 'b']);
    await opened(chosen);
    expect(chosen.protocol).toBe('b');
    expect(seen).toEqual([[['a', 'b'], '/p']]);

    const none = wsClient(`ws://127.0.0.1:${port}/`, ['a']);
    none.on('error', () => {});
    const closed = closeOf(none);
    expect((await within(closed, 2000, 'refused'))[0]).toBe(1006);

    const { port: port2 } = await server();
    const first = wsClient(`ws://127.0.0.1:${port2}/`, ['x', 'y']);
    await opened(first);
    expect(first.protocol).toBe('x');
  });

  test('perMessageDeflate on and off', async () => {
    const { port: on } = await server({ perMessageDeflate: true });
    const { port: off } = await server({ perMessageDeflate: false });
    const a = wsClient(`ws://127.0.0.1:${on}`, undefined, { perMessageDeflate: true });
    const b = wsClient(`ws://127.0.0.1:${off}`, undefined, { perMessageDeflate: true });
    await Promise.all([opened(a), opened(b)]);
    expect(a.extensions).toBe('permessage-deflate');
    expect(b.extensions).toBe('');
  });

  test('WebSocket option: connections are instances of the subclass', async () => {
    class Tagged extends WebSocket {
      tag = 'mine';
    }
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', WebSocket: Tagged });
    cleanups.push(() => shutdown(wss));
    await once(wss, 'listening');
    const connection = once(wss, 'connection');
    await opened(wsClient(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`));
    const [ws] = (await connection) as [Tagged];
    expect(ws).toBeInstanceOf(Tagged);
    expect(ws.tag).toBe('mine');
  });

  test('headers(headers, req) can add response headers', async () => {
    const { wss, port } = await server();
    wss.on('headers', (headers: string[], req: http.IncomingMessage) => headers.push(`X-Path: ${req.url}`));
    const client = wsClient(`ws://127.0.0.1:${port}/h`);
    const [res] = (await once(client, 'upgrade')) as [http.IncomingMessage];
    expect(res.headers['x-path']).toBe('/h');
  });
});

describe('per-connection settings', () => {
  test('clientTracking false: wss.clients is undefined (as ws)', async () => {
    const { wss, port } = await server({ clientTracking: false });
    const connection = once(wss, 'connection');
    await opened(wsClient(`ws://127.0.0.1:${port}`));
    await connection;
    expect(wss.clients).toBeUndefined();
    // Nothing is tracked, so a broadcast has no one to reach.
    expect(wss.broadcast('x')).toBe(0);
  });

  test('clients are tracked and removed on close', async () => {
    const { wss, port } = await server();
    const connection = once(wss, 'connection');
    const client = wsClient(`ws://127.0.0.1:${port}`);
    await opened(client);
    const [ws] = (await connection) as [WebSocket];
    expect([...wss.clients]).toEqual([ws]);
    const closed = closeOf(ws);
    client.close();
    await closed;
    expect(wss.clients.size).toBe(0);
  });

  test('maxPayload defaults to 100 MiB', async () => {
    const { wss, port } = await server();
    expect(wss.options.maxPayload).toBe(100 * 1024 * 1024);
    const error = new Promise<Error & { closeCode?: number }>((resolve) =>
      wss.once('connection', (ws) => ws.once('error', resolve)),
    );
    const raw = await rawUpgraded(port);
    raw.write(frame(OP.binary, Buffer.alloc(0), { fakeLength64: BigInt(100 * 1024 * 1024 + 1) }));
    expect((await within(error, 2000, 'error')).closeCode).toBe(1009);
    raw.socket.destroy();
  });

  test('maxPayload option with a ws client', async () => {
    const { wss, port } = await server({ maxPayload: 100 });
    const serverError = new Promise<Error & { code?: string }>((resolve) =>
      wss.once('connection', (ws) => ws.once('error', resolve)),
    );
    const client = wsClient(`ws://127.0.0.1:${port}`);
    await opened(client);
    const closed = closeOf(client);
    client.send(Buffer.alloc(100));
    client.send(Buffer.alloc(101));
    expect((await serverError).code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect((await closed)[0]).toBe(1009);
  });

  test('autoPong false on the server', async () => {
    const { wss, port } = await server({ autoPong: false });
    const pings: string[] = [];
    wss.on('connection', (ws) => ws.on('ping', (d: Buffer) => pings.push(String(d))));
    const client = wsClient(`ws://127.0.0.1:${port}`);
    await opened(client);
    const pongs: Buffer[] = [];
    client.on('pong', (d) => pongs.push(d));
    client.ping('x');
    await delay(80);
    expect(pings).toEqual(['x']);
    expect(pongs).toHaveLength(0);
  });

  test.each([
    [false, 'one message per tick'],
    [true, 'several messages in one tick'],
  ])('allowSynchronousEvents %s: %s', async (allow) => {
    const { wss, port } = await server({ allowSynchronousEvents: allow });
    let sameTick = 0;
    let inTick = false;
    const done = new Promise<number>((resolve) =>
      wss.once('connection', (ws) => {
        let count = 0;
        ws.on('message', () => {
          if (inTick) sameTick++;
          inTick = true;
          process.nextTick(() => {
            inTick = false;
          });
          if (++count === 10) resolve(count);
        });
      }),
    );
    const raw = await rawUpgraded(port);
    raw.write(Buffer.concat(Array.from({ length: 10 }, (_, i) => frame(OP.text, `m${i}`))));
    expect(await within(done, 2000, 'messages')).toBe(10);
    if (allow) expect(sameTick).toBeGreaterThan(0);
    else expect(sameTick).toBe(0);
    raw.socket.destroy();
  });
});

describe('close', () => {
  test('close(cb) then a second close reports "The server is not running"', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const closeEvent = once(wss, 'close');
    const first = await new Promise<Error | undefined>((resolve) => wss.close(resolve));
    expect(first).toBeUndefined();
    await closeEvent;
    const second = await new Promise<Error | undefined>((resolve) => wss.close(resolve));
    expect(second).toBeInstanceOf(Error);
    expect(second!.message).toBe('The server is not running');
  });

  test('close() called again while closing: both callbacks run once the server closed', async () => {
    const { wss } = await wskitServer({});
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    await opened(client);
    const results: Array<Error | undefined> = [];
    const both = Promise.all([
      new Promise<void>((resolve) => wss.close((e) => resolve(void results.push(e)))),
      new Promise<void>((resolve) => wss.close((e) => resolve(void results.push(e)))),
    ]);
    client.close();
    await within(both, 5000, 'both close callbacks');
    expect(results).toEqual([undefined, undefined]);
  });

  test('handleUpgrade on a closed noServer server answers 503; address() of a closed server is null', async () => {
    const { server: httpServer, port } = await plainHttpServer();
    const wss = new WebSocketServer({ noServer: true });
    wss.close();
    httpServer.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
    const client = wsClient(`ws://127.0.0.1:${port}`);
    client.on('error', () => {});
    const status = await within(
      new Promise<number>((resolve) => client.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))),
      5000,
      '503',
    );
    expect(status).toBe(503);
    const attached = new WebSocketServer({ server: httpServer });
    expect(attached.address()).toEqual(httpServer.address());
    await new Promise((resolve) => attached.close(resolve));
    expect(attached.address()).toBeNull();
  });

  test('an async verifyClient that answers after handshakeTimeout is ignored (408 stands); no code means 401', async () => {
    let late: ((ok: boolean) => void) | undefined;
    const { url } = await server({
      handshakeTimeout: 100,
      verifyClient: ((info, cb) => {
        if (info.req.url === '/late') late = cb;
        else cb(false);
      }) as WebSocket.VerifyClientCallbackAsync,
    });
    const statusOf = (path: string): Promise<number> => {
      const client = wsClient(`${url}${path}`);
      client.on('error', () => {});
      return within(
        new Promise<number>((resolve) => client.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0))),
        5000,
        path,
      );
    };
    expect(await statusOf('/late')).toBe(408);
    expect(() => late!(true)).not.toThrow();
    expect(await statusOf('/refused')).toBe(401);
  });

  test('noServer close emits close; an external HTTP server keeps running', async () => {
    const { server: httpServer, port } = await plainHttpServer((_q, res) => res.end('still here'));
    const wss = new WebSocketServer({ server: httpServer });
    const closed = once(wss, 'close');
    wss.close();
    await within(closed, 2000, 'close event');
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('still here');
    const ns = new WebSocketServer({ noServer: true });
    await within(new Promise<Error | undefined>((resolve) => ns.close(resolve)), 1000, 'noServer close');
  });

  test('a closed server stops accepting; existing clients keep working until they close', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const connection = once(wss, 'connection');
    const client = wsClient(`ws://127.0.0.1:${port}`);
    await opened(client);
    const [ws] = (await connection) as [WebSocket];
    let serverClosed = false;
    wss.close(() => {
      serverClosed = true;
    });
    const late = wsClient(`ws://127.0.0.1:${port}`);
    expect((await within(errorOf(late), 2000, 'refused')).message).toMatch(/ECONNREFUSED|socket hang up|Unexpected/);
    const echo = once(client, 'message');
    ws.send('still open');
    expect(String((await echo)[0])).toBe('still open');
    expect(serverClosed).toBe(false);
    client.close();
    await within(once(wss, 'close'), 3000, 'server close after last client');
    expect(serverClosed).toBe(true);
  });
});
