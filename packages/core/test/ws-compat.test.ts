/**
 * Behaviours ws 8 users rely on (from ws's doc/ws.md and README), each run against ws itself as the control
 * and against wskit: the same test, the same expectations.
 */
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
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

  // ─── Found by running ws's own test suite against wskit (see docs/migrating-from-ws.md) ───────────────

  test('send() without data sends an empty binary message', async () => {
    const { client: c, peer } = await pair();
    const message = once(peer, 'message');
    (c.send as (data?: unknown) => void)();
    const [data, isBinary] = (await message) as [Buffer, boolean];
    expect(isBinary).toBe(true);
    expect(Buffer.isBuffer(data) && data.length).toBe(0);
  });

  test("a message over maxPayload fails with ws's error text and code", async () => {
    const { client: c, peer } = await pair({ maxPayload: 1024 });
    const failed = new Promise<Error & { code?: string }>((resolve) => peer.on('error', resolve));
    c.send(Buffer.alloc(2048));
    const error = await failed;
    expect(error).toBeInstanceOf(RangeError);
    expect(error.code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(error.message).toBe('Max payload size exceeded');
    const [code] = await closeOf(c);
    expect(code).toBe(1009);
  });

  test('an upgrade request without Sec-WebSocket-Version gets 400 and the text ws gives', async () => {
    const { url } = await server();
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get(url.replace('ws:', 'http:'), {
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', resolve);
      req.on('error', reject);
    });
    let body = '';
    for await (const chunk of res) body += String(chunk);
    expect(res.statusCode).toBe(400);
    expect(body).toBe('Missing or invalid Sec-WebSocket-Version header');
  });

  test('a Blob that cannot be read fails its send and the connection', async () => {
    const file = path.join(os.tmpdir(), `wskit-blob-${process.pid}-${Date.now()}.txt`);
    fs.writeFileSync(file, 'x'.repeat(64));
    cleanups.push(() => fs.rmSync(file, { force: true }));
    const blob = await fs.openAsBlob(file);
    // The file changes after the Blob was made: reading it fails with NotReadableError.
    fs.writeFileSync(file, 'x'.repeat(32));
    const { client: c } = await pair();
    const errored = new Promise<Error>((resolve) => c.on('error', resolve));
    const called = new Promise<Error | undefined>((resolve) => c.send(blob, (err) => resolve(err ?? undefined)));
    const closed = closeOf(c);
    const [sendError, error] = await Promise.all([called, errored]);
    expect(sendError).toBe(error);
    expect(error).toBeInstanceOf(DOMException);
    expect(error.name).toBe('NotReadableError');
    const [code] = await within(closed, 5000, 'close');
    expect(code).toBe(1006);
  });

  test('terminate() while a Blob is read fails it and what follows it, in ws words', async () => {
    const { client: c } = await pair();
    const results: string[] = [];
    const done = new Promise<void>((resolve) => {
      c.send(new Blob(['foo']), (err) => results.push(`${c.readyState} ${err?.message}`));
      c.send('bar', (err) => {
        results.push(`${c.readyState} ${err?.message}`);
        resolve();
      });
    });
    const closed = closeOf(c);
    c.terminate();
    await within(done, 5000, 'callbacks');
    expect(results).toEqual([
      '2 The socket was closed while the blob was being read',
      '2 The socket was closed while the blob was being read',
    ]);
    await within(closed, 5000, 'close');
  });

  test("sends waiting for compression fail while CLOSING, before 'close', in ws words", async () => {
    const { url } = await server({ perMessageDeflate: true });
    const c = client(url, undefined, { perMessageDeflate: { threshold: 0 } });
    await once(c, 'open');
    const events: string[] = [];
    c.send('foo', (err) => events.push(`${c.readyState} ${err?.message}`));
    c.send('bar', (err) => events.push(`${c.readyState} ${err?.message}`));
    c.on('close', () => events.push('close'));
    const closed = closeOf(c);
    c.terminate();
    await within(closed, 5000, 'close');
    await delay(10);
    expect(events).toEqual([
      '2 The socket was closed while data was being compressed',
      '2 The socket was closed while data was being compressed',
      'close',
    ]);
  });

  test("close() after reading an 'unexpected-response' ends the attempt and leaves no connection open", async () => {
    const httpServer = http.createServer();
    httpServer.on('upgrade', (_req, socket) => {
      socket.on('end', () => socket.end());
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nfoo');
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    const c = new WebSocket(`ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}`);
    const events: string[] = [];
    c.on('error', (err) => events.push(err.message));
    c.on('unexpected-response', (_req: http.ClientRequest, res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (chunk) => (body += String(chunk)));
      res.on('end', () => {
        events.push(`${res.statusCode} ${body}`);
        c.close();
      });
    });
    await within(closeOf(c), 5000, 'close');
    expect(events).toEqual(['401 foo', 'WebSocket was closed before the connection was established']);
    // No connection of the attempt stays open (in a keep-alive pool, say): the server closes at once.
    await within(new Promise((resolve) => httpServer.close(resolve)), 2000, 'server close');
  });

  test('a redirect to an invalid URL fails with a SyntaxError', async () => {
    const httpServer = http.createServer();
    httpServer.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 302 Found\r\nLocation: ws://\r\n\r\n'));
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    cleanups.push(() => new Promise((resolve) => httpServer.close(resolve)));
    cleanups.push(() => httpServer.closeAllConnections());
    const c = new WebSocket(`ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}`, {
      followRedirects: true,
    });
    const errored = new Promise<Error>((resolve) => c.on('error', resolve));
    const closed = closeOf(c);
    const error = await within(errored, 5000, 'error');
    expect(error).toBeInstanceOf(SyntaxError);
    expect(error.message).toBe('Invalid URL: ws://');
    await within(closed, 5000, 'close');
  });

  test("a redirect to the same host sends the first URL's credentials again", async () => {
    const target = new WebSocketServer({ noServer: true });
    const httpServer = http.createServer();
    let port = 0;
    httpServer.on('upgrade', (req, socket, head) => {
      if (req.url !== '/final') {
        socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://other:secret@127.0.0.1:${port}/final\r\n\r\n`);
        return;
      }
      target.handleUpgrade(req, socket, head, (peer) => peer.send(String(req.headers.authorization)));
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    cleanups.push(() => new Promise((resolve) => httpServer.close(resolve)));
    cleanups.push(() => httpServer.closeAllConnections());
    port = (httpServer.address() as AddressInfo).port;
    const c = client(`ws://user:pass@127.0.0.1:${port}/start`, undefined, { followRedirects: true });
    const [data] = (await within(once(c, 'message'), 5000, 'message')) as [Buffer];
    expect(data.toString()).toBe(`Basic ${Buffer.from('user:pass').toString('base64')}`);
  });

  test('event attributes are enumerable accessors of the event prototypes', async () => {
    const { client: c, peer } = await pair();
    const seen = new Promise<[object, object]>((resolve) => {
      c.addEventListener('message', (message: object) => resolve([message, Object.getPrototypeOf(message)]));
    });
    peer.send('hi');
    const [message, proto] = await seen;
    const accessor = (target: object, name: string): [boolean, boolean] | undefined => {
      for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null) {
        const d = Object.getOwnPropertyDescriptor(o, name);
        if (d) return [d.enumerable === true, d.get !== undefined && d.set === undefined];
      }
      return undefined;
    };
    for (const name of ['data', 'type', 'target']) expect([name, accessor(proto, name)]).toEqual([name, [true, true]]);
    expect(Object.keys(message)).toEqual([]);
    const MessageEventClass = proto.constructor as new (type: string) => { data: unknown };
    expect(new MessageEventClass('message').data).toBeNull();
  });

  describe('createWebSocketStream', () => {
    test('a stream paused on a full buffer and then ended can still close: resume() reads the close', async () => {
      const { client: c, peer } = await pair();
      const duplex = createWebSocketStream(c);
      const received = once(c, 'message');
      peer.send(Buffer.alloc(64 * 1024));
      await received;
      expect(c.isPaused).toBe(true);
      const closed = once(duplex, 'close');
      duplex.end();
      await delay(10);
      expect(c.readyState).toBe(WebSocket.CLOSING);
      duplex.resume();
      await within(closed, 5000, 'stream close');
    });

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
