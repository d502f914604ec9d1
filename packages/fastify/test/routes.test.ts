import { connect as tcpConnect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { WebSocket } from '@wskit/core';
import websocket from '@wskit/fastify';
import { closed, collect, connect, listen, messages, nextMessage, refusal } from './helpers.js';

describe('@wskit/fastify: per-route options, early messages, client sets and broadcast', () => {
  let app: FastifyInstance;
  let url: { ws: string; http: string };
  const handlerErrors: string[] = [];

  beforeAll(async () => {
    app = Fastify();
    await app.register(websocket, {
      options: { maxPayload: 1024 },
      errorHandler(error, socket, request) {
        handlerErrors.push(`${request.url}: ${error instanceof Error ? error.message : String(error)}`);
        socket.close(4500, 'custom');
      },
    });
    const echo = (socket: WebSocket): void => {
      socket.on('message', (data: Buffer, binary: boolean) => socket.send(data, { binary }));
    };
    app.get('/echo', { websocket: true }, echo);
    app.get('/small', { websocket: true, wsOptions: { maxPayload: 16 } }, echo);
    app.get(
      '/proto',
      {
        websocket: true,
        wsOptions: {
          perMessageDeflate: true,
          handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false),
        },
      },
      (socket) => socket.send(`${socket.protocol}|${socket.extensions}`),
    );
    app.get('/beat', { websocket: true, wsOptions: { heartbeat: { interval: 40, timeout: 40 } } }, () => {});
    app.get('/slow', { websocket: true }, async (socket) => {
      // Messages sent while the handler is still busy must be held, not dropped.
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.on('message', (data: Buffer) => socket.send(`got ${data.toString()}`));
    });
    app.get('/fails', { websocket: true }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('async failure');
    });
    for (const room of ['a', 'b']) {
      app.get(`/room-${room}`, { websocket: true }, (socket, request) => {
        socket.on('message', (data: Buffer) => {
          const sent = request.websocketClients!.broadcast(`${room}:${data.toString()}`, { except: socket });
          socket.send(`sent to ${sent}`);
        });
      });
    }
    url = await listen(app);
  });

  afterAll(() => app.close());

  test('per-route maxPayload closes with 1009 where the plugin default accepts', async () => {
    const big = 'x'.repeat(100);
    const normal = await connect(`${url.ws}/echo`);
    normal.send(big);
    expect(await nextMessage(normal)).toBe(big);
    normal.close();

    const small = await connect(`${url.ws}/small`);
    small.send('short');
    expect(await nextMessage(small)).toBe('short');
    const closing = closed(small);
    small.send(big);
    expect((await closing).code).toBe(1009);

    const limited = await connect(`${url.ws}/echo`);
    const limitedClose = closed(limited);
    limited.send('y'.repeat(2000));
    expect((await limitedClose).code).toBe(1009);
  });

  test('per-route subprotocol selection and compression', async () => {
    const ws = await connect(`${url.ws}/proto`, ['chat.v1', 'chat.v2']);
    expect(ws.protocol).toBe('chat.v2');
    expect(ws.extensions).toMatch(/permessage-deflate/);
    expect(await nextMessage(ws)).toBe('chat.v2|permessage-deflate');
    ws.close();
    // The plugin default has no compression.
    const plain = await connect(`${url.ws}/echo`);
    expect(plain.extensions).toBe('');
    plain.close();
  });

  test('per-route heartbeat terminates a client that does not answer pings', async () => {
    const silent = await connect(`${url.ws}/beat`, undefined, { autoPong: false });
    const started = Date.now();
    const { code } = await closed(silent, 5000);
    expect(code).toBe(1006);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  });

  test('messages sent before an async handler attached its listener are held and delivered in order', async () => {
    const ws = collect(new WebSocket(`${url.ws}/slow`));
    ws.on('open', () => {
      ws.send('1');
      ws.send('2');
      ws.send('3');
    });
    expect(await messages(ws, 3)).toEqual(['got 1', 'got 2', 'got 3']);
    ws.close();
  });

  test('a rejecting handler goes to the plugin errorHandler, which may close with its own code', async () => {
    const ws = await connect(`${url.ws}/fails`);
    expect(await closed(ws)).toEqual({ code: 4500, reason: 'custom' });
    expect(handlerErrors).toEqual(['/fails: async failure']);
  });

  test('per-route client sets: broadcast reaches the route, not other routes', async () => {
    const a1 = await connect(`${url.ws}/room-a`);
    const a2 = await connect(`${url.ws}/room-a`);
    const a3 = await connect(`${url.ws}/room-a`);
    const b1 = await connect(`${url.ws}/room-b`);
    expect(app.websocketClients('/room-a').size).toBe(3);
    expect(app.websocketClients('/room-b').size).toBe(1);
    expect(app.websocketClients().size).toBeGreaterThanOrEqual(4);
    expect(() => app.websocketClients('/missing')).toThrow(/No WebSocket route/);

    const bHeard: string[] = [];
    b1.on('message', (data: Buffer) => bHeard.push(data.toString()));
    a1.send('hello');
    expect(await nextMessage(a1)).toBe('sent to 2');
    expect(await nextMessage(a2)).toBe('a:hello');
    expect(await nextMessage(a3)).toBe('a:hello');

    // Broadcast from outside a handler, and sets shrink when sockets close.
    expect(app.websocketClients('/room-b').broadcast('to b')).toBe(1);
    expect(await nextMessage(b1)).toBe('to b');
    expect(bHeard).toEqual(['to b']);
    const a3Closed = closed(a3);
    a3.close();
    await a3Closed;
    await new Promise((resolve) => setImmediate(resolve));
    expect(app.websocketClients('/room-a').size).toBe(2);
    for (const ws of [a1, a2, b1]) ws.close();
  });

  test('app.websocketServer is decorated and emits connection', async () => {
    expect(app.websocketServer).toBeDefined();
    const seen = new Promise<string>((resolve) =>
      app.websocketServer.once('connection', (_ws, req) => resolve(req.url ?? '')),
    );
    const ws = await connect(`${url.ws}/echo?who=me`);
    expect(await seen).toBe('/echo?who=me');
    ws.close();
  });
});

describe('@wskit/fastify: upgrade deadline and malformed handshakes', () => {
  let app: FastifyInstance;
  let url: { ws: string; http: string };
  let releaseHook: () => void = () => {};

  beforeAll(async () => {
    app = Fastify();
    await app.register(websocket, { options: { handshakeTimeout: 200 } });
    app.get(
      '/stuck',
      {
        websocket: true,
        preHandler: () => new Promise<void>((resolve) => (releaseHook = resolve)),
      },
      (socket) => socket.send('too late'),
    );
    app.get('/ok', { websocket: true }, (socket) => socket.send('ok'));
    url = await listen(app);
  });

  afterAll(() => app.close());

  test('an upgrade whose hooks never finish is answered 408 at the handshake deadline', async () => {
    const started = Date.now();
    const refused = await refusal(connect(`${url.ws}/stuck`));
    expect(refused.status).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    // The hook finishing afterwards must not upgrade the answered socket.
    releaseHook();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(app.websocketClients('/stuck').size).toBe(0);
    const ws = await connect(`${url.ws}/ok`);
    expect(await nextMessage(ws)).toBe('ok');
    ws.close();
  });

  test('a handshake that passed the hooks but is malformed gets 400 from the core', async () => {
    const port = (app.server.address() as { port: number }).port;
    const response = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(port, '127.0.0.1');
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      socket.write(
        'GET /ok HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: too-short\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
  });
});
