/**
 * The Nest adapter on the shared upgrade pipeline: the app's HTTP middleware (Express) and hooks
 * (Fastify) run on upgrades, gateway paths follow the platform's case rule, a guard that never settles
 * is cut off with 408, a throwing handleConnection closes that socket with 1011, exception replies carry
 * the message id, and setMessageParser() replaces the wire format.
 */
import 'reflect-metadata';
import {
  Injectable,
  Module,
  UseGuards,
  type CanActivate,
  type INestApplication,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { SubscribeMessage, WebSocketGateway, WsException, type OnGatewayConnection } from '@nestjs/websockets';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WskitAdapter } from '@wskit/nest';
import { connect, refusal } from './client-helpers.js';

const portOf = (app: INestApplication): number => (app.getHttpServer().address() as AddressInfo).port;

@WebSocketGateway({ path: '/feeds/public' })
class PublicGateway {
  @SubscribeMessage('ping')
  ping(): string {
    return 'pong';
  }

  @SubscribeMessage('fail')
  fail(): never {
    throw new WsException('no way');
  }
}

@WebSocketGateway({ path: '/feeds/admin' })
class AdminGateway {
  @SubscribeMessage('ping')
  ping(): string {
    return 'admin pong';
  }
}

@Injectable()
class NeverGuard implements CanActivate {
  canActivate(): Promise<boolean> {
    return new Promise(() => {});
  }
}

@WebSocketGateway({ path: '/stuck' })
@UseGuards(NeverGuard)
class StuckGateway {}

@WebSocketGateway({ path: '/fragile' })
class FragileGateway implements OnGatewayConnection {
  handleConnection(): void {
    throw new Error('handleConnection broke');
  }
}

/** `/feeds/admin*` needs `x-admin: yes`, via middleware — over HTTP and, now, over WebSocket. */
function adminOnly(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  if (req.headers['x-admin'] === 'yes') return next();
  res.statusCode = 403;
  res.end('admins only');
}

@Module({ providers: [PublicGateway, AdminGateway, StuckGateway, FragileGateway, NeverGuard] })
class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(adminOnly).forRoutes('feeds/admin');
  }
}

describe('platform-express', () => {
  let app: INestApplication;
  let base: string;
  const seen: string[] = [];

  beforeAll(async () => {
    app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
    app.use((req: IncomingMessage, _res: ServerResponse, next: () => void) => {
      seen.push(`global ${req.url}`);
      next();
    });
    app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 500, upgradeTimeout: 300 }));
    await app.listen(0, '127.0.0.1');
    base = `ws://127.0.0.1:${portOf(app)}`;
  });
  afterAll(() => app?.close());

  test('app.use and forRoutes middleware run before the handshake: a path closed over HTTP is closed over WebSocket', async () => {
    const refused = await refusal(`${base}/feeds/admin`);
    expect(refused).toEqual({ status: 403, body: 'admins only' });
    const admin = await connect(`${base}/feeds/admin`, { 'x-admin': 'yes' });
    admin.send({ event: 'ping' });
    expect(await admin.next()).toBe('admin pong');
    expect(seen).toContain('global /feeds/admin');
    admin.ws.close();
  });

  test('gateway paths are case-insensitive like Express routes: /feeds/ADMIN is the guarded path', async () => {
    expect((await refusal(`${base}/feeds/ADMIN`)).status).toBe(403);
    const pub = await connect(`${base}/FEEDS/Public`);
    pub.send({ event: 'ping' });
    expect(await pub.next()).toBe('pong');
    pub.ws.close();
  });

  test('a guard that never settles is answered 408 at upgradeTimeout', async () => {
    expect((await refusal(`${base}/stuck`)).status).toBe(408);
  });

  test('a throwing handleConnection closes that socket with 1011; the app keeps serving', async () => {
    const fragile = await connect(`${base}/fragile`);
    expect((await fragile.closed).code).toBe(1011);
    const pub = await connect(`${base}/feeds/public`);
    pub.send({ event: 'ping' });
    expect(await pub.next()).toBe('pong');
    pub.ws.close();
  });

  test("an exception reply carries the failed message's id", async () => {
    const pub = await connect(`${base}/feeds/public`);
    pub.send({ event: 'fail', id: 42 });
    expect(await pub.next()).toMatchObject({
      event: 'exception',
      id: 42,
      data: { status: 'error', message: 'no way' },
    });
    pub.send({ event: 'fail' });
    const reply = (await pub.next()) as Record<string, unknown>;
    expect(reply).toMatchObject({ event: 'exception' });
    expect(reply.id).toBeUndefined();
    pub.ws.close();
  });

  test('non-WebSocket upgrades are answered, not held', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const http = require('node:http') as typeof import('node:http');
      const req = http.request({
        port: portOf(app),
        host: '127.0.0.1',
        path: '/feeds/public',
        headers: { Connection: 'Upgrade', Upgrade: 'h2c' },
      });
      req.on('response', (r) => resolve(r.statusCode ?? 0));
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(res).toBe(426);
  });
});

describe('platform-fastify', () => {
  let app: INestApplication;
  let base: string;
  const hooks: string[] = [];

  beforeAll(async () => {
    const adapter = new FastifyAdapter();
    adapter.getInstance().addHook('onRequest', async (request, reply) => {
      hooks.push(`onRequest ${request.url}`);
      if (request.url.startsWith('/feeds/admin') && request.headers['x-admin'] !== 'yes') {
        await reply.code(401).send('hook says no');
      }
    });
    app = await NestFactory.create(AppModule, adapter, { logger: false });
    app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 500 }));
    await app.listen(0, '127.0.0.1');
    base = `ws://127.0.0.1:${portOf(app)}`;
  });
  afterAll(() => app?.close());

  test("the app's Fastify hooks run before the handshake", async () => {
    expect(await refusal(`${base}/feeds/admin`, {})).toMatchObject({ status: 401 });
    const admin = await connect(`${base}/feeds/admin`, { 'x-admin': 'yes' });
    admin.send({ event: 'ping' });
    expect(await admin.next()).toBe('admin pong');
    expect(hooks).toContain('onRequest /feeds/admin');
    admin.ws.close();
  });

  test('gateway paths are case-sensitive like Fastify routes', async () => {
    expect((await refusal(`${base}/FEEDS/public`)).status).toBe(404);
  });
});

test('setMessageParser() replaces how messages are decoded', async () => {
  const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
  const adapter = new WskitAdapter(app, { shutdownTimeout: 500 });
  // "event:data" text frames instead of JSON; anything else is ignored.
  adapter.setMessageParser((data) => {
    const [event, rest] = String(data).split(':');
    return event ? { event, data: rest } : null;
  });
  app.useWebSocketAdapter(adapter);
  await app.listen(0, '127.0.0.1');
  try {
    const pub = await connect(`ws://127.0.0.1:${portOf(app)}/feeds/public`);
    pub.send('ping:x');
    expect(await pub.next()).toBe('pong');
    pub.ws.close();
  } finally {
    await app.close();
  }
});
