/**
 * Behaviours ws 8 users rely on (from ws's doc/ws.md and README), each run against ws itself as the control
 * and against wskit: the same test, the same expectations.
 */
import { once } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import * as ws from 'ws';
import * as wskit from '@wskit/core';
import { OP, closeOf, delay, frame, rawServer, within } from './helpers.js';

type Impl = {
  WebSocket: typeof wskit.WebSocket;
  WebSocketServer: typeof wskit.WebSocketServer;
  stream: typeof wskit.createWebSocketStream;
};
const impls: [string, Impl][] = [
  [
    'ws',
    {
      WebSocket: ws.WebSocket,
      WebSocketServer: ws.WebSocketServer,
      stream: ws.createWebSocketStream,
    } as unknown as Impl,
  ],
  [
    'wskit',
    { WebSocket: wskit.WebSocket, WebSocketServer: wskit.WebSocketServer, stream: wskit.createWebSocketStream },
  ],
];

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(impls)('%s', (_name, { WebSocket, WebSocketServer, stream: createWebSocketStream }) => {
  async function server(options: wskit.ServerOptions = {}): Promise<{ wss: wskit.WebSocketServer; url: string }> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    await once(wss, 'listening');
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const c of wss.clients ?? []) c.terminate();
          wss.close(() => resolve());
        }),
    );
    return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
  }

  function client(url: string, protocols?: string | string[], options?: wskit.ClientOptions): wskit.WebSocket {
    const socket = new WebSocket(url, protocols, options);
    socket.on('error', () => {});
    cleanups.push(() => socket.terminate());
    return socket;
  }

  async function pair(
    options: wskit.ServerOptions = {},
  ): Promise<{ wss: wskit.WebSocketServer; client: wskit.WebSocket; peer: wskit.WebSocket }> {
    const { wss, url } = await server(options);
    const connection = once(wss, 'connection');
    const c = client(url);
    const [peer] = (await connection) as [wskit.WebSocket];
    if (c.readyState === WebSocket.CONNECTING) await once(c, 'open');
    return { wss, client: c, peer };
  }

  test('send(123) goes out as the text "123"', async () => {
    const { client: c, peer } = await pair();
    const message = once(peer, 'message');
    c.send(123);
    const [data, isBinary] = (await message) as [Buffer, boolean];
    expect(isBinary).toBe(false);
    expect(data.toString()).toBe('123');
  });

  test.each([
    ['an invalid subprotocol', 'a b'],
    ['an empty subprotocol', ''],
    ['a duplicated subprotocol', ['chat', 'chat']],
    ['a non-string subprotocol', [1 as unknown as string]],
  ])('the client constructor throws a SyntaxError for %s', (_what, protocols) => {
    expect(() => new WebSocket('ws://127.0.0.1:1', protocols)).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://127.0.0.1:1', protocols)).toThrow(
      'An invalid or duplicated subprotocol was specified',
    );
  });

  test('an invalid URL throws a SyntaxError', () => {
    expect(() => new WebSocket('foo')).toThrow(SyntaxError);
    expect(() => new WebSocket('http+ws://a')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://a/#frag')).toThrow('The URL contains a fragment identifier');
  });

  test('generateMask fills the masking key of each frame', async () => {
    let calls = 0;
    const raws: Buffer[] = [];
    const raw = await rawServer((peer) => {
      peer.accept();
      peer.socket.on('data', (chunk: Buffer) => raws.push(chunk));
    });
    cleanups.push(raw.close);
    const c = client(raw.url, undefined, {
      generateMask(mask: Buffer) {
        calls++;
        mask.fill(0);
      },
    });
    await once(c, 'open');
    c.send('hello');
    await within(
      (async () => {
        while (Buffer.concat(raws).length < 11) await delay(5);
      })(),
      5000,
      'frame',
    );
    const bytes = Buffer.concat(raws);
    expect(calls).toBeGreaterThan(0);
    // A zero key leaves the payload as it was: 0x81, 0x80 | 5, four zero key bytes, 'hello'.
    expect([...bytes.subarray(0, 6)]).toEqual([0x81, 0x85, 0, 0, 0, 0]);
    expect(bytes.subarray(6, 11).toString()).toBe('hello');
  });

  test('closeTimeout: a peer that never answers the close frame is cut off after that long', async () => {
    const raw = await rawServer((peer) => peer.accept());
    cleanups.push(raw.close);
    const c = client(raw.url, undefined, { closeTimeout: 200 } as wskit.ClientOptions);
    await once(c, 'open');
    const started = Date.now();
    const closed = closeOf(c);
    c.close(1000);
    const [code] = await within(closed, 10_000, 'close');
    expect(code).toBe(1006);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  test("'redirect' is emitted with the new URL and the new request, before it is sent", async () => {
    const target = new WebSocketServer({ noServer: true });
    const httpServer = http.createServer((req, res) => {
      res.writeHead(302, { Location: '/final' });
      res.end();
    });
    httpServer.on('upgrade', (req, socket, head) => {
      if (req.url !== '/final') {
        socket.end('HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      target.handleUpgrade(req, socket, head, (peer) => {
        peer.send(String(req.headers['x-added']));
      });
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    cleanups.push(() => new Promise((resolve) => httpServer.close(resolve)));
    cleanups.push(() => httpServer.closeAllConnections());
    const port = (httpServer.address() as AddressInfo).port;
    const c = client(`ws://127.0.0.1:${port}/start`, undefined, { followRedirects: true });
    const redirects: [string, boolean][] = [];
    c.on('redirect', (url: string, req: http.ClientRequest) => {
      redirects.push([url, req instanceof http.ClientRequest]);
      req.setHeader('x-added', 'yes');
    });
    const [data] = (await once(c, 'message')) as [Buffer];
    expect(redirects).toEqual([[`ws://127.0.0.1:${port}/final`, true]]);
    expect(data.toString()).toBe('yes');
    expect(c.url).toBe(`ws://127.0.0.1:${port}/final`);
  });

  test.each(['close', 'terminate'] as const)(
    "%s() from an 'upgrade' listener aborts the connection",
    async (method) => {
      const { wss, url } = await server();
      let connected = false;
      wss.on('connection', () => (connected = true));
      const c = new WebSocket(url);
      const events: string[] = [];
      let error: Error | undefined;
      c.on('upgrade', () => c[method]());
      c.on('open', () => events.push('open'));
      c.on('error', (err) => {
        error = err;
        events.push('error');
      });
      const [code] = await within(closeOf(c), 5000, 'close');
      events.push('close');
      expect(events).toEqual(['error', 'close']);
      expect(error!.message).toBe('WebSocket was closed before the connection was established');
      expect(code).toBe(1006);
      expect(c.readyState).toBe(WebSocket.CLOSED);
      void connected;
    },
  );

  test.each(['close', 'terminate'] as const)(
    '%s() from the error listener of a failed handshake is harmless',
    async (method) => {
      const httpServer = http.createServer((_req, res) => res.end());
      httpServer.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
      httpServer.listen(0, '127.0.0.1');
      await once(httpServer, 'listening');
      cleanups.push(() => new Promise((resolve) => httpServer.close(resolve)));
      const c = new WebSocket(`ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}`);
      let closes = 0;
      const errors: string[] = [];
      c.on('error', (err) => {
        errors.push(err.message);
        expect(c.readyState).toBe(WebSocket.CLOSING);
        c[method]();
      });
      c.on('close', () => closes++);
      await within(closeOf(c), 5000, 'close');
      await delay(20);
      expect(errors).toEqual(['Unexpected server response: 400']);
      expect(closes).toBe(1);
    },
  );

  test("wss.close(cb) on a closed server calls back with an error and emits 'close'", async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    let closeEvents = 0;
    wss.on('close', () => closeEvents++);
    const [error] = await new Promise<(Error | undefined)[]>((resolve) => wss.close((err) => resolve([err])));
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toBe('The server is not running');
    expect(closeEvents).toBe(1);
  });

  test('clientTracking: false leaves wss.clients undefined', async () => {
    const { wss } = await server({ clientTracking: false });
    expect(wss.clients).toBeUndefined();
    const noServer = new WebSocketServer({ noServer: true, clientTracking: false });
    const closed = once(noServer, 'close');
    noServer.close();
    await closed;
  });

  test('finishRequest gets the request and the socket and ends the request itself', async () => {
    const { wss, url } = await server();
    const headers = once(wss, 'connection').then(([, req]) => (req as http.IncomingMessage).headers);
    let args: unknown[] = [];
    const c = client(url, undefined, {
      finishRequest(request: http.ClientRequest, websocket: wskit.WebSocket) {
        args = [request instanceof http.ClientRequest, websocket];
        request.on('socket', (socket) => {
          socket.on('connect', () => {
            request.setHeader('Cookie', 'foo=bar');
            request.end();
          });
        });
      },
    } as wskit.ClientOptions);
    await once(c, 'open');
    expect(args).toEqual([true, c]);
    expect((await headers).cookie).toBe('foo=bar');
  });

  test('ping() and pong() take Blob payloads, in order with messages', async () => {
    const { client: c, peer } = await pair();
    const seen: string[] = [];
    peer.on('ping', (data: Buffer) => seen.push(`ping:${data.toString()}`));
    peer.on('pong', (data: Buffer) => seen.push(`pong:${data.toString()}`));
    peer.on('message', (data: Buffer) => seen.push(`message:${data.toString()}`));
    c.ping(new Blob(['a']));
    c.send('b');
    c.pong(new Blob(['c']));
    c.send('d');
    await within(
      (async () => {
        while (seen.length < 4) await delay(5);
      })(),
      5000,
      'frames',
    );
    expect(seen).toEqual(['ping:a', 'message:b', 'pong:c', 'message:d']);
  });

  test('a protocol error is a RangeError carrying the WS_ERR_* code', async () => {
    const raw = await rawServer((peer) => peer.accept({}, frame(0x3, 'x')));
    cleanups.push(raw.close);
    const c = new WebSocket(raw.url);
    const [error] = (await once(c, 'error')) as [Error & { code: string }];
    expect(error).toBeInstanceOf(RangeError);
    expect(error.code).toBe('WS_ERR_INVALID_OPCODE');
    expect(error.message).toBe('Invalid WebSocket frame: invalid opcode 3');
    const [code] = await closeOf(c);
    expect(code).toBe(1006);
  });

  test('the static constants are read-only and the accessors enumerable on the prototype', () => {
    for (const name of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const) {
      expect(Object.getOwnPropertyDescriptor(WebSocket, name)).toMatchObject({
        enumerable: true,
        writable: false,
        configurable: false,
      });
      expect(Object.getOwnPropertyDescriptor(WebSocket.prototype, name)).toMatchObject({ enumerable: true });
    }
    for (const name of ['binaryType', 'bufferedAmount', 'extensions', 'isPaused', 'protocol', 'readyState', 'url']) {
      const descriptor = Object.getOwnPropertyDescriptor(WebSocket.prototype, name);
      expect(descriptor?.enumerable).toBe(true);
      expect(typeof descriptor?.get).toBe('function');
    }
  });

  test("bufferedAmount counts what the socket's own write queue still holds", async () => {
    const { client: c, peer } = await pair();
    c.pause();
    const socket = (peer as unknown as { _socket: Duplex })._socket;
    const chunk = Buffer.alloc(256 * 1024);
    for (let i = 0; i < 64 && socket.writableLength === 0; i++) {
      peer.send(chunk);
      await delay(5);
    }
    expect(socket.writableLength).toBeGreaterThan(0);
    expect(peer.bufferedAmount).toBeGreaterThanOrEqual(socket.writableLength);
  });

  test.each([
    ['a bad Upgrade header', { Upgrade: 'foo' }, 'Invalid Upgrade header'],
    [
      'a bad Sec-WebSocket-Accept header',
      { 'Sec-WebSocket-Accept': 'CxYS6+NgJSBG74mdgLvGscRvpns=' },
      'Invalid Sec-WebSocket-Accept header',
    ],
    [
      'an unrequested subprotocol',
      { 'Sec-WebSocket-Protocol': 'x' },
      'Server sent a subprotocol but none was requested',
    ],
  ])("the client reports %s with ws's message", async (_what, headers, message) => {
    const raw = await rawServer((peer) => peer.accept(headers));
    cleanups.push(raw.close);
    const c = new WebSocket(raw.url);
    const [error] = (await once(c, 'error')) as [Error];
    expect(error.message).toBe(message);
  });

  describe('createWebSocketStream', () => {
    test('a write while CLOSING errors and destroys the stream', async () => {
      const { client: c } = await pair();
      const duplex = createWebSocketStream(c);
      const errored = new Promise<[Error, boolean]>((resolve) =>
        duplex.on('error', (err) => resolve([err, duplex.destroyed])),
      );
      c.close();
      duplex.write('hi');
      const [error, destroyed] = await errored;
      expect(error.message).toBe('WebSocket is not open: readyState 2 (CLOSING)');
      expect(destroyed).toBe(true);
      await once(duplex, 'close');
    });

    test("the stream is destroyed after both 'end' and 'finish'", async () => {
      const { wss, client: c } = await pair();
      void wss;
      const duplex = createWebSocketStream(c);
      const events: string[] = [];
      duplex.on('end', () => events.push('end'));
      duplex.on('finish', () => events.push('finish'));
      duplex.on('close', () => events.push(`close:${duplex.destroyed}`));
      duplex.resume();
      duplex.end();
      await within(once(duplex, 'close'), 5000, 'stream close');
      expect(events).toEqual(['finish', 'end', 'close:true']);
    });

    test('a socket error destroys the stream with it, seen by the listener', async () => {
      const { client: c, peer } = await pair();
      const duplex = createWebSocketStream(c);
      const errored = new Promise<[Error, boolean]>((resolve) =>
        duplex.on('error', (err) => resolve([err, duplex.destroyed])),
      );
      (peer as unknown as { _socket: Duplex })._socket.write(frame(OP.binary, 'x', { rsv2: true }));
      const [error, destroyed] = await errored;
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error & { code: string }).code).toBe('WS_ERR_UNEXPECTED_RSV_2_3');
      expect(destroyed).toBe(true);
    });
  });
});

describe('wskit only', () => {
  test('isAlive, rtt and lastActivity are free for the application', () => {
    const socket = new wskit.WebSocket(null);
    const app = socket as unknown as { isAlive: boolean; rtt: number; lastActivity: number };
    app.isAlive = false;
    app.rtt = 5;
    app.lastActivity = 7;
    expect([app.isAlive, app.rtt, app.lastActivity]).toEqual([false, 5, 7]);
    expect(socket.heartbeatAlive).toBe(true);
    expect('isAlive' in wskit.WebSocket.prototype).toBe(false);
  });
});
