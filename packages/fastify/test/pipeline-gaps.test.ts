/**
 * Gaps against @fastify/websocket found by running its suite, each fixed on the shared upgrade pipeline:
 * another listener's response on the socket, socket and listener errors reaching errorHandler,
 * schema.hide, injectWS hooks, option validation, routes declared before the plugin.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket, { type WebSocketPluginOptions } from '@wskit/fastify';
import { closed, connect, listen, nextMessage, refusal } from './helpers.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** A Fastify app whose log lines (JSON) are collected. */
function appWithLog(level = 'debug'): { app: FastifyInstance; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as { level: number; msg: string });
      callback();
    },
  });
  const app = Fastify({ logger: { level, stream } });
  apps.push(app);
  return { app, lines };
}

test('another upgrade listener that already bound a response to the socket does not crash the process', async () => {
  const app = Fastify();
  apps.push(app);
  await app.register(websocket);
  app.get('/ws', { websocket: true }, (socket) => socket.send('ours'));
  // Registered before the plugin's: takes /theirs with its own response, as a second plugin would.
  app.server.prependListener('upgrade', (req: IncomingMessage, socket: Duplex) => {
    if (req.url !== '/theirs') return;
    const res = new ServerResponse(req);
    res.assignSocket(socket as never);
    res.writeHead(409, { Connection: 'close' }).end('theirs');
    res.on('finish', () => socket.end());
  });
  const url = await listen(app);
  expect((await refusal(connect(`${url.ws}/theirs`))).status).toBe(409);
  const ws = await connect(`${url.ws}/ws`);
  expect(await nextMessage(ws)).toBe('ours');
  ws.close();
});

test('errors after the handshake reach errorHandler: a throwing listener (closed 1011) and a socket error', async () => {
  const seen: string[] = [];
  const app = Fastify();
  apps.push(app);
  await app.register(websocket, {
    errorHandler(error, socket, request) {
      seen.push(`${(error as Error).message} ${request.url} ${socket.readyState}`);
    },
  });
  app.get('/throw', { websocket: true }, (socket) => {
    socket.on('message', () => {
      throw new Error('listener broke');
    });
  });
  app.get('/fail', { websocket: true }, (socket) => {
    socket.on('message', () => socket.emit('error', new Error('socket failed')));
  });
  const url = await listen(app);
  const a = await connect(`${url.ws}/throw`);
  const aClosed = closed(a);
  a.send('x');
  expect((await aClosed).code).toBe(1011);
  const b = await connect(`${url.ws}/fail`);
  b.send('x');
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(seen).toEqual(['listener broke /throw 1', 'socket failed /fail 1']);
  b.close();
});

test('protocol errors caused by the peer are logged at debug level, never at error level', async () => {
  const { app, lines } = appWithLog();
  await app.register(websocket, { options: { maxPayload: 8 } });
  app.get('/small', { websocket: true }, (socket) => {
    socket.on('message', () => {});
  });
  const url = await listen(app);
  const ws = await connect(`${url.ws}/small`);
  const closing = closed(ws);
  ws.send('more than eight bytes');
  expect((await closing).code).toBe(1009);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  expect(lines.some((l) => l.level === 20 && l.msg === 'websocket peer error')).toBe(true);
});

test('websocket routes carry schema.hide = true (for @fastify/swagger); wsHandler routes stay visible', async () => {
  const app = Fastify();
  apps.push(app);
  const schemas: Record<string, unknown> = {};
  await app.register(websocket);
  app.addHook('onRoute', (route) => {
    if (route.method === 'GET') schemas[route.url] = route.schema;
  });
  app.get('/only', { websocket: true, schema: { querystring: { type: 'object' } } }, () => {});
  app.route({ method: 'GET', url: '/both', handler: () => 'http', wsHandler: () => {} });
  await app.ready();
  expect(schemas['/only']).toMatchObject({ querystring: { type: 'object' }, hide: true });
  expect((schemas['/both'] as { hide?: boolean } | undefined)?.hide).toBeUndefined();
});

test('injectWS({ onInit, onOpen }): a message the handler sends at once is seen by a listener added in onInit', async () => {
  const app = Fastify();
  apps.push(app);
  await app.register(websocket);
  app.get('/hello', { websocket: true }, (socket) => socket.send('hello at once'));
  for (let i = 0; i < 5; i++) {
    const got: string[] = [];
    const order: string[] = [];
    let first!: () => void;
    const arrived = new Promise<void>((resolve) => (first = resolve));
    const ws = await app.injectWS('/hello', {
      onInit(client) {
        order.push('init');
        client.on('message', (data) => {
          got.push(String(data));
          first();
        });
      },
      onOpen() {
        order.push('open');
      },
    });
    await arrived;
    expect(got).toEqual(['hello at once']);
    expect(order).toEqual(['init', 'open']);
    ws.terminate();
  }
});

test.each<[string, WebSocketPluginOptions]>([
  ['a negative shutdownTimeout', { shutdownTimeout: -1 }],
  ['a close reason longer than 123 bytes', { closeReason: 'x'.repeat(124) }],
  ['a non-function errorHandler', { errorHandler: 'nope' as never }],
  ['a non-function shouldHandle', { shouldHandle: 42 as never }],
])('bad plugin options (%s) reject register()', async (_name, options) => {
  const app = Fastify();
  apps.push(app);
  await expect(app.register(websocket, options).ready()).rejects.toThrow();
});

test('the deprecated closeTimeout still works as shutdownTimeout', async () => {
  const app = Fastify();
  await app.register(websocket, { closeTimeout: 100 });
  app.get('/stuck', { websocket: true }, () => {});
  const url = await listen(app);
  const ws = await connect(`${url.ws}/stuck`);
  // The client never reads again, so it never answers the close frame.
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const started = Date.now();
  await app.close();
  expect(Date.now() - started).toBeLessThan(3000);
  ws.terminate();
});

test('a websocket: true route declared before the plugin: upgrades are refused with a 500 that names the cause, logged once', async () => {
  const { app, lines } = appWithLog('error');
  let calls = 0;
  app.get(
    '/early',
    { websocket: true } as never,
    (() => {
      calls++;
    }) as never,
  );
  await app.register(websocket);
  app.get('/late', { websocket: true }, (socket) => socket.send('late'));
  const url = await listen(app);
  for (let i = 0; i < 2; i++) {
    const refused = await refusal(connect(`${url.ws}/early`));
    expect(refused.status).toBe(500);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'WS_ERR_ROUTE_BEFORE_PLUGIN' });
  }
  // The handler, which would have run with (request, reply), never runs for an upgrade.
  expect(calls).toBe(0);
  expect(
    lines.filter((l) => l.level === 50 && /GET \/early was declared before @wskit\/fastify/.test(l.msg)),
  ).toHaveLength(1);
  const ws = await connect(`${url.ws}/late`);
  expect(await nextMessage(ws)).toBe('late');
  ws.close();
});

test('a route declared right after a register() that was not awaited is in the same case', async () => {
  const app = Fastify();
  apps.push(app);
  void app.register(websocket);
  app.get('/ws', { websocket: true } as never, (() => {}) as never);
  // Declared in a plugin that loads after @wskit/fastify: a WebSocket route.
  void app.register(async (scope) => {
    scope.get('/scoped', { websocket: true }, (socket) => socket.send('scoped'));
  });
  const url = await listen(app);
  expect((await refusal(connect(`${url.ws}/ws`))).status).toBe(500);
  const ws = await connect(`${url.ws}/scoped`);
  expect(await nextMessage(ws)).toBe('scoped');
  ws.close();
});

test("a protocol error the peer caused reaches the socket's 'error' listeners, not errorHandler", async () => {
  const seen: unknown[] = [];
  const onSocket: unknown[] = [];
  const app = Fastify();
  apps.push(app);
  await app.register(websocket, {
    errorHandler(error) {
      seen.push(error);
    },
  });
  app.get('/ws', { websocket: true }, (socket, request) => {
    socket.on('error', (error) => onSocket.push({ code: (error as { code?: unknown }).code, ws: request.ws }));
  });
  const url = await listen(app);
  const ws = await connect(`${url.ws}/ws`);
  const closing = closed(ws);
  // A frame with RSV2 set and no extension that defines it: a protocol error of the peer's making (1002).
  (ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.from([0xa2, 0x00]));
  expect((await closing).code).toBe(1002);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(onSocket).toEqual([{ code: 'WS_ERR_UNEXPECTED_RSV_2_3', ws: true }]);
  expect(seen).toEqual([]);
});

test('injectWS(path, context, { onInit, onOpen }): the hooks as a third argument, as in @fastify/websocket', async () => {
  const app = Fastify();
  apps.push(app);
  await app.register(websocket);
  app.get('/hello', { websocket: true }, (socket) => socket.send('at once'));
  const order: string[] = [];
  let first!: (data: string) => void;
  const arrived = new Promise<string>((resolve) => (first = resolve));
  const ws = await app.injectWS(
    '/hello',
    {},
    {
      onInit(client) {
        order.push('init');
        client.once('message', (data) => first(String(data)));
      },
      onOpen: () => order.push('open'),
    },
  );
  expect(await arrived).toBe('at once');
  expect(order).toEqual(['init', 'open']);
  ws.terminate();
});

test.each<[string, (app: FastifyInstance) => void, string]>([
  [
    'a non-function errorHandler',
    (app) => void app.register(websocket, { errorHandler: {} as never }),
    'invalid errorHandler function',
  ],
  [
    'a non-function preClose',
    (app) => void app.register(websocket, { preClose: 'no' as never }),
    'invalid preClose function',
  ],
  [
    'a websocket route on POST',
    (app) => {
      void app.register(websocket);
      void app.register(async (scope) => {
        scope.post('/echo', { websocket: true } as never, () => {});
      });
    },
    'websocket handler can only be declared in GET method',
  ],
  [
    'a wsHandler that is not a function',
    (app) => {
      void app.register(websocket);
      void app.register(async (scope) => {
        scope.route({ method: 'GET', url: '/x', handler: () => 'http', wsHandler: 'no' as never });
      });
    },
    'invalid wsHandler function',
  ],
])('%s fails ready() with the message @fastify/websocket uses', async (_name, setup, message) => {
  const app = Fastify();
  apps.push(app);
  setup(app);
  await expect(app.ready()).rejects.toThrow(message);
});
