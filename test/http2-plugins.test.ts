/**
 * The plugins over HTTP/2 (RFC 8441): Fastify with `http2: true` + https, Koa on
 * http2.createSecureServer(app.callback()), and Nest gateways on the Fastify platform with http2. A WebSocket arrives as an extended CONNECT stream and goes
 * through the framework like an HTTP/1.1 upgrade: routes (params), hooks/middleware, and refusals as real
 * HTTP/2 statuses; the wskit client connects with `http2: true`.
 */
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import Koa from 'koa';
import Router from '@koa/router';
import { WebSocket } from '@wskit/core';
import fastifyWebSocket from '@wskit/fastify';
import { websocket as koaWebSocket } from '@wskit/koa';
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WskitAdapter } from '@wskit/nest';
import { TestAppModule } from '../packages/nest/test/test-app.js';
import { selfSignedCertificate } from './helpers/tls.js';

const settings = { enableConnectProtocol: true };

function connect(port: number, path: string, headers: Record<string, string> = {}): WebSocket {
  return new WebSocket(`wss://127.0.0.1:${port}${path}`, { http2: true, rejectUnauthorized: false, headers });
}

function outcome(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data: Buffer) => {
      resolve(`message ${String(data)}`);
      ws.close();
    });
    ws.once('error', (error: Error) => resolve(error.message));
  });
}

/** A plain HTTP/2 GET on the same server (the page side of the app still works). */
async function get(port: number, path: string): Promise<[number, string]> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  try {
    const req = session.request({ ':path': path });
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    const [head] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    await once(req, 'end');
    return [Number(head[':status']), body];
  } finally {
    session.close();
  }
}

describe('@wskit/fastify with http2: true', () => {
  let app: FastifyInstance;
  let port: number;
  const sessions = new Set<http2.Http2Session>();

  beforeAll(async () => {
    app = Fastify({ http2: true, https: { ...selfSignedCertificate(), settings } } as unknown as Parameters<
      typeof Fastify
    >[0]) as unknown as FastifyInstance;
    (app.server as unknown as http2.Http2SecureServer).on('session', (s) => sessions.add(s));
    await app.register(fastifyWebSocket);
    app.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/private') && request.headers.authorization !== 'Bearer ok') {
        await reply.code(401).header('www-authenticate', 'Bearer').send('no');
      }
    });
    app.get('/rooms/:room', { websocket: true }, (socket, request) => {
      socket.send(`${(request.params as { room: string }).room} ${request.method} ${request.raw.httpVersion}`);
    });
    app.get('/private', { websocket: true }, (socket) => socket.send('secret'));
    app.get('/page', async () => 'page body');
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of sessions) s.destroy();
    await app.close();
  });

  test('a route with params, reached as the GET it stands for', async () => {
    expect(await outcome(connect(port, '/rooms/42'))).toBe('message 42 GET 2.0');
  });

  test('an onRequest hook refuses with 401; with the token the socket opens', async () => {
    expect(await outcome(connect(port, '/private'))).toBe('Unexpected server response: 401');
    expect(await outcome(connect(port, '/private', { Authorization: 'Bearer ok' }))).toBe('message secret');
  });

  test('an unknown path is 404; ordinary HTTP/2 requests still work', async () => {
    expect(await outcome(connect(port, '/nowhere'))).toBe('Unexpected server response: 404');
    expect(await get(port, '/page')).toEqual([200, 'page body']);
  });
});

describe('@wskit/koa on http2.createSecureServer(app.callback())', () => {
  let server: http2.Http2SecureServer;
  let port: number;
  let ws: ReturnType<typeof koaWebSocket>;
  const sessions = new Set<http2.Http2Session>();

  beforeAll(async () => {
    const app = new Koa();
    app.silent = true;
    ws = koaWebSocket();
    app.use(ws);
    app.use(async (ctx, next) => {
      if (ctx.path.startsWith('/private') && ctx.get('authorization') !== 'Bearer ok') {
        ctx.status = 403;
        ctx.body = 'forbidden';
        return;
      }
      await next();
    });
    const router = new Router();
    router.get('/rooms/:room', async (ctx) => {
      if (!ctx.ws) ctx.throw(426);
      const socket = await ctx.ws!();
      socket.send(`${ctx.params.room} ${ctx.method} ${ctx.req.httpVersion}`);
    });
    router.get('/private', async (ctx) => {
      if (!ctx.ws) ctx.throw(426);
      (await ctx.ws!()).send('secret');
    });
    router.get('/page', (ctx) => {
      ctx.body = 'page body';
    });
    app.use(router.routes());
    server = http2.createSecureServer({ ...selfSignedCertificate(), settings }, app.callback());
    server.on('session', (s) => sessions.add(s));
    ws.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await ws.close({ timeout: 200 });
    for (const s of sessions) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  test('a @koa/router route with params, reached as the GET it stands for', async () => {
    expect(await outcome(connect(port, '/rooms/7'))).toBe('message 7 GET 2.0');
  });

  test('middleware refuses with 403; with the token the socket opens', async () => {
    expect(await outcome(connect(port, '/private'))).toBe('Unexpected server response: 403');
    expect(await outcome(connect(port, '/private', { Authorization: 'Bearer ok' }))).toBe('message secret');
  });

  test('an unrouted path is 404; ordinary HTTP/2 requests still work', async () => {
    expect(await outcome(connect(port, '/nowhere'))).toBe('Unexpected server response: 404');
    expect(await get(port, '/page')).toEqual([200, 'page body']);
  });
});

describe('@wskit/koa on HTTP/2 without attach(server): attached by the first ordinary request', () => {
  let server: http2.Http2SecureServer;
  let port: number;
  let ws: ReturnType<typeof koaWebSocket>;
  const sessions = new Set<http2.Http2Session>();

  beforeAll(async () => {
    const app = new Koa();
    app.silent = true;
    ws = koaWebSocket();
    app.use(ws);
    app.use(async (ctx) => {
      if (!ctx.ws) {
        ctx.body = `page ${ctx.req.httpVersion}`;
        return;
      }
      (await ctx.ws()).send(`socket ${ctx.path}`);
    });
    server = http2.createSecureServer({ ...selfSignedCertificate(), settings }, app.callback());
    server.on('session', (s) => sessions.add(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await ws.close({ timeout: 200 });
    for (const s of sessions) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  test("a WebSocket before any request gets Node's 405; after a page load on the server, WebSockets open", async () => {
    // Node's compat layer answers CONNECT itself (never calling app.callback()) until a listener exists.
    expect(await outcome(connect(port, '/early'))).toBe('Unexpected server response: 405');
    // The page a browser loads first: its request reaches the middleware, which attaches to the server.
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    try {
      const page = session.request({ ':path': '/' });
      let body = '';
      page.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      await once(page, 'end');
      expect(body).toBe('page 2.0');
      // On the page's own session (as Chromium does), and on a new one.
      const onPageSession = new WebSocket(`wss://127.0.0.1:${port}/same`, { http2: session });
      expect(await outcome(onPageSession)).toBe('message socket /same');
      expect(await outcome(connect(port, '/fresh'))).toBe('message socket /fresh');
    } finally {
      session.close();
    }
  });
});

describe('@wskit/nest on the Fastify platform with http2', () => {
  let app: INestApplication;
  let port: number;
  const sessions = new Set<http2.Http2Session>();

  beforeAll(async () => {
    const adapter = new FastifyAdapter({
      http2: true,
      https: { ...selfSignedCertificate(), settings },
    } as ConstructorParameters<typeof FastifyAdapter>[0]);
    app = await NestFactory.create(TestAppModule, adapter, { logger: false });
    app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 500 }));
    (app.getHttpServer() as http2.Http2SecureServer).on('session', (s) => sessions.add(s));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of sessions) s.destroy();
    await app?.close();
  });

  /** Sends one gateway message and resolves with the reply, or with the handshake error. */
  function ask(path: string, message: object): Promise<unknown> {
    const ws = connect(port, path);
    return new Promise((resolve) => {
      ws.once('open', () => ws.send(JSON.stringify(message)));
      ws.once('message', (data: Buffer) => {
        resolve(JSON.parse(String(data)));
        ws.close();
      });
      ws.once('error', (error: Error) => resolve(error.message));
    });
  }

  test('gateways with params, guards refusing (401, 403) and passing, 404, over HTTP/2', async () => {
    expect(await ask('/chat', { event: 'sum', data: [2, 3], id: 1 })).toEqual({ event: 'sum', data: 5, id: 1 });
    expect(await ask('/rooms/x?token=bad', { event: 'whoami' })).toBe('Unexpected server response: 401');
    expect(await ask('/rooms/x', { event: 'whoami' })).toBe('Unexpected server response: 403');
    expect(await ask('/rooms/x?token=good', { event: 'whoami' })).toMatchObject({
      data: { room: 'x', token: 'good', user: 'alice' },
    });
    expect(await ask('/elsewhere', { event: 'whoami' })).toBe('Unexpected server response: 404');
    expect(await get(port, '/health')).toEqual([200, 'ok']);
  });
});
