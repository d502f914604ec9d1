/**
 * What the four plugins share through the core's upgrade pipeline, checked the same way on each:
 * `wss://` on a self-signed certificate (made by the test), non-WebSocket upgrades answered (426/405),
 * one 408 deadline for a pipeline that never settles, a throwing 'message' listener → error hook and
 * 1011 (the process lives), and a peer's protocol error (1009) kept out of the error hook.
 */
import 'reflect-metadata';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import Koa from 'koa';
import { Injectable, Module, UseGuards, type CanActivate, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import { WebSocket } from '@wskit/core';
import { wskitExpress } from '@wskit/express';
import fastifyWebSocket from '@wskit/fastify';
import { websocket as koaWebSocket } from '@wskit/koa';
import { WskitAdapter } from '@wskit/nest';
import { selfSignedCertificate } from '../helpers/tls.js';

interface Harness {
  port: number;
  errors: unknown[];
  close(): Promise<void>;
}

interface StartOptions {
  tls: boolean;
}

const MAX_PAYLOAD = 64;
const UPGRADE_TIMEOUT = 300;

function serverFor(tls: boolean, handler?: http.RequestListener): http.Server {
  if (!tls) return http.createServer(handler);
  const { key, cert } = selfSignedCertificate();
  return https.createServer({ key, cert }, handler) as unknown as http.Server;
}

async function listen(server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const onMessageThrow = (ws: WebSocket): void => {
  ws.on('message', () => {
    throw new Error('listener broke');
  });
};
const echo = (ws: WebSocket): void => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
};

async function startExpress({ tls }: StartOptions): Promise<Harness> {
  const errors: unknown[] = [];
  const app = express();
  app.use('/hang', () => {});
  const plugin = wskitExpress(app, {
    maxPayload: MAX_PAYLOAD,
    upgradeTimeout: UPGRADE_TIMEOUT,
    onError: (e) => errors.push(e),
  });
  plugin.app.ws('/echo', (ws) => echo(ws));
  plugin.app.ws('/throw', (ws) => onMessageThrow(ws));
  const server = plugin.attach(serverFor(tls, app));
  const port = await listen(server);
  return {
    port,
    errors,
    async close() {
      await plugin.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function startFastify({ tls }: StartOptions): Promise<Harness> {
  const errors: unknown[] = [];
  const app = (tls ? Fastify({ https: selfSignedCertificate() }) : Fastify()) as unknown as FastifyInstance;
  await app.register(fastifyWebSocket, {
    options: { maxPayload: MAX_PAYLOAD },
    upgradeTimeout: UPGRADE_TIMEOUT,
    errorHandler: (e) => errors.push(e),
  });
  app.get('/echo', { websocket: true }, (ws) => echo(ws));
  app.get('/throw', { websocket: true }, (ws) => onMessageThrow(ws));
  app.get('/hang', { websocket: true, onRequest: () => new Promise(() => {}) }, () => {});
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as AddressInfo).port, errors, close: () => app.close() };
}

async function startKoa({ tls }: StartOptions): Promise<Harness> {
  const errors: unknown[] = [];
  const app = new Koa();
  app.silent = true;
  const ws = koaWebSocket({ maxPayload: MAX_PAYLOAD, upgradeTimeout: UPGRADE_TIMEOUT, onError: (e) => errors.push(e) });
  app.use(ws);
  app.use(async (ctx) => {
    if (ctx.path === '/hang') return new Promise(() => {});
    if (!ctx.ws) return;
    const socket = await ctx.ws();
    if (ctx.path === '/throw') onMessageThrow(socket);
    else echo(socket);
  });
  const server = serverFor(tls, app.callback());
  ws.attach(server);
  const port = await listen(server);
  return {
    port,
    errors,
    async close() {
      await ws.close({ timeout: 200 });
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

@WebSocketGateway({ path: '/echo' })
class EchoGateway implements OnGatewayConnection {
  handleConnection(ws: WebSocket): void {
    echo(ws);
  }
}

@WebSocketGateway({ path: '/throw' })
class ThrowGateway implements OnGatewayConnection {
  handleConnection(ws: WebSocket): void {
    onMessageThrow(ws);
  }
}

@Injectable()
class NeverGuard implements CanActivate {
  canActivate(): Promise<boolean> {
    return new Promise(() => {});
  }
}

@WebSocketGateway({ path: '/hang' })
@UseGuards(NeverGuard)
class HangGateway {}

@Module({ providers: [EchoGateway, ThrowGateway, HangGateway, NeverGuard] })
class NestAppModule {}

async function startNest({ tls }: StartOptions): Promise<Harness> {
  const errors: unknown[] = [];
  const app: INestApplication = await NestFactory.create(NestAppModule, new ExpressAdapter(), {
    logger: { log() {}, warn() {}, debug() {}, verbose() {}, error: (e: unknown) => errors.push(e) },
    ...(tls ? { httpsOptions: selfSignedCertificate() } : {}),
  });
  app.useWebSocketAdapter(
    new WskitAdapter(app, { ws: { maxPayload: MAX_PAYLOAD }, upgradeTimeout: UPGRADE_TIMEOUT, shutdownTimeout: 500 }),
  );
  await app.listen(0, '127.0.0.1');
  return { port: (app.getHttpServer().address() as AddressInfo).port, errors, close: () => app.close() };
}

const plugins: [string, (options: StartOptions) => Promise<Harness>][] = [
  ['@wskit/express', startExpress],
  ['@wskit/fastify', startFastify],
  ['@wskit/koa', startKoa],
  ['@wskit/nest', startNest],
];

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { rejectUnauthorized: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Writes a raw request; resolves with what came back before the server closed (or `<held>` after 10 s). */
function raw(port: number, tls: boolean, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket: Duplex = tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false })
      : netConnect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${data}<held>`);
    }, 10_000);
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.write(head);
  });
}

const upgradeHead = (path: string, method = 'GET', protocol = 'websocket'): string =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

describe.each(plugins)('%s', (_name, start) => {
  describe.each([
    ['ws://', false],
    ['wss://', true],
  ])('over %s', (scheme, tls) => {
    let h: Harness;
    beforeAll(async () => {
      h = await start({ tls });
    });
    afterAll(() => h?.close());
    const url = (path: string): string => `${scheme}127.0.0.1:${h.port}${path}`;

    test('an echo round trip', async () => {
      const ws = await open(url('/echo'));
      ws.send('hello');
      const [data] = (await once(ws, 'message')) as [Buffer];
      expect(String(data)).toBe('hello');
      ws.close();
    });

    test('non-WebSocket upgrades are answered at once: 426 for another protocol, 405 for PUT', async () => {
      expect(await raw(h.port, tls, upgradeHead('/echo', 'GET', 'h2c'))).toMatch(/^HTTP\/1\.1 426 /);
      expect(await raw(h.port, tls, upgradeHead('/echo', 'GET', 'foo'))).toMatch(/^HTTP\/1\.1 426 /);
      expect(await raw(h.port, tls, upgradeHead('/echo', 'PUT'))).toMatch(/^HTTP\/1\.1 405 /);
    });

    test('a pipeline that never settles is answered 408 at the deadline', async () => {
      expect(await raw(h.port, tls, upgradeHead('/hang'))).toMatch(/^HTTP\/1\.1 408 /);
    });

    test("a throwing 'message' listener reaches the error hook and closes with 1011", async () => {
      const before = h.errors.length;
      const ws = await open(url('/throw'));
      ws.send('x');
      const [code] = (await once(ws, 'close')) as [number];
      expect(code).toBe(1011);
      expect(h.errors.length).toBe(before + 1);
      expect(String((h.errors[before] as Error)?.message ?? h.errors[before])).toMatch(/listener broke/);
    });

    test('a peer exceeding maxPayload gets 1009 and is not reported as an error', async () => {
      const before = h.errors.length;
      const ws = await open(url('/echo'));
      ws.send('x'.repeat(MAX_PAYLOAD * 2));
      const [code] = (await once(ws, 'close')) as [number];
      expect(code).toBe(1009);
      await new Promise((r) => setTimeout(r, 50));
      expect(h.errors.length).toBe(before);
    });
  });
});
