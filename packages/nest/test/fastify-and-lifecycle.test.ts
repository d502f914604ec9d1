import 'reflect-metadata';
import { Injectable, Module, type CanActivate, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { UseConnectionGuards, WskitAdapter } from '@wskit/nest';
import { connect, refusal } from './client-helpers.js';
import { TestAppModule } from './test-app.js';

function portOf(app: INestApplication): number {
  return (app.getHttpServer().address() as AddressInfo).port;
}

describe('platform-fastify', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await NestFactory.create(TestAppModule, new FastifyAdapter(), { logger: false });
    app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 500 }));
    await app.listen(0, '127.0.0.1');
    base = `ws://127.0.0.1:${portOf(app)}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  test('gateways on two paths, guard refusal and pass, 404, and HTTP still served', async () => {
    const chat = await connect(`${base}/chat`);
    chat.send({ event: 'sum', data: [2, 3], id: 1 });
    expect(await chat.next()).toEqual({ event: 'sum', data: 5, id: 1 });
    expect((await refusal(`${base}/rooms/x?token=bad`)).status).toBe(401);
    expect((await refusal(`${base}/rooms/x`)).status).toBe(403);
    const room = await connect(`${base}/rooms/x?token=good`);
    room.send({ event: 'whoami' });
    expect(await room.next()).toMatchObject({ data: { room: 'x', token: 'good', user: 'alice' } });
    expect((await refusal(`${base}/elsewhere`)).status).toBe(404);
    const res = await fetch(`http://127.0.0.1:${portOf(app)}/health`);
    expect(await res.text()).toBe('ok');
    chat.ws.close();
    room.ws.close();
  });
});

test('app.close() closes every socket with 1001 and later upgrades are not served', async () => {
  const app = await NestFactory.create(TestAppModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 500 }));
  await app.listen(0, '127.0.0.1');
  const base = `ws://127.0.0.1:${portOf(app)}`;
  const a = await connect(`${base}/chat`);
  const b = await connect(`${base}/rooms/r?token=good`);
  const started = Date.now();
  await app.close();
  expect(await a.closed).toEqual({ code: 1001, reason: 'Server shutting down' });
  expect(await b.closed).toMatchObject({ code: 1001 });
  // bounded: well under the shutdown timeout, as the clients answer the close handshake
  expect(Date.now() - started).toBeLessThan(5000);
  await expect(connect(`${base}/chat`)).rejects.toThrow();
});

/** Finds a free port by binding port 0 and releasing it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

test('an explicit gateway port equal to the application port shares the HTTP server', async () => {
  const port = await freePort();

  @WebSocketGateway(port, { path: '/same' })
  class SamePortGateway {
    @SubscribeMessage('ping')
    ping(): string {
      return 'pong';
    }
  }

  @Module({ providers: [SamePortGateway] })
  class SamePortModule {}

  const app = await NestFactory.create(SamePortModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 200 }));
  await app.listen(port, '127.0.0.1');
  try {
    const client = await connect(`ws://127.0.0.1:${port}/same`);
    client.send({ event: 'ping' });
    expect(await client.next()).toBe('pong');
    client.ws.close();
  } finally {
    await app.close();
  }
});

test('an explicit gateway port other than the application port gets its own server', async () => {
  const port = await freePort();

  @WebSocketGateway(port, { path: '/own' })
  class OwnPortGateway {
    @SubscribeMessage('ping')
    ping(): string {
      return 'pong';
    }
  }

  @Module({ providers: [OwnPortGateway] })
  class OwnPortModule {}

  const app = await NestFactory.create(OwnPortModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 200 }));
  await app.listen(0, '127.0.0.1');
  try {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const client = await connect(`ws://127.0.0.1:${port}/own`);
    client.send({ event: 'ping' });
    expect(await client.next()).toBe('pong');
    expect((await refusal(`ws://127.0.0.1:${port}/other`)).status).toBe(404);
    expect((await refusal(`ws://127.0.0.1:${portOf(app)}/own`)).status).toBe(404);
    client.ws.close();
  } finally {
    await app.close();
  }
  // the adapter's own server is closed with the application
  await expect(connect(`ws://127.0.0.1:${port}/own`)).rejects.toThrow();
});

test('@UseConnectionGuards works below @WebSocketGateway too, with getClass() and DI-free guards', async () => {
  const seen: unknown[] = [];

  @Injectable()
  class HeaderGuard implements CanActivate {
    canActivate(context: import('@nestjs/common').ExecutionContext): boolean {
      seen.push(context.getClass());
      const req = context.switchToHttp().getRequest<import('node:http').IncomingMessage>();
      return req.headers['x-pass'] === 'yes';
    }
  }

  @WebSocketGateway({ path: '/below' })
  @UseConnectionGuards(HeaderGuard)
  class BelowGateway {}

  @Module({ providers: [BelowGateway] })
  class BelowModule {}

  const app = await NestFactory.create(BelowModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 200 }));
  await app.listen(0, '127.0.0.1');
  try {
    const base = `ws://127.0.0.1:${portOf(app)}`;
    expect((await refusal(`${base}/below`)).status).toBe(403);
    const client = await connect(`${base}/below`, { 'x-pass': 'yes' });
    client.ws.close();
    expect(seen).toEqual([BelowGateway, BelowGateway]);
  } finally {
    await app.close();
  }
});
