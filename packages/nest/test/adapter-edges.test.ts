// WskitAdapter edges from its documented options: onError receives handler errors instead of the
// client-facing reply (a reply that cannot be serialized is one), the adapter constructed without an
// application serves port gateways on servers of its own, and closeClient() closes with 1013.
import 'reflect-metadata';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type AddressInfo as NetAddress } from 'node:net';
import { WebSocket } from '@wskit/core';
import { WskitAdapter } from '@wskit/nest';
import { connect } from './client-helpers.js';

@WebSocketGateway({ path: '/edges' })
class EdgesGateway {
  @SubscribeMessage('big')
  big(): { event: string; data: unknown } {
    // JSON.stringify throws on a BigInt: the handler's error, reported, never an uncaught exception.
    return { event: 'big', data: 10n };
  }

  @SubscribeMessage('ok')
  ok(): { event: string; data: unknown } {
    return { event: 'ok', data: 1 };
  }
}

@Module({ providers: [EdgesGateway] })
class EdgesModule {}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as NetAddress;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('onError', () => {
  let app: INestApplication;
  let base: string;
  const reported: { code: string; event?: string }[] = [];

  beforeAll(async () => {
    app = await NestFactory.create(EdgesModule, new ExpressAdapter(), { logger: false });
    app.useWebSocketAdapter(
      new WskitAdapter(app, {
        shutdownTimeout: 200,
        onError: (error) => reported.push({ code: error.code, event: error.event }),
      }),
    );
    await app.listen(0, '127.0.0.1');
    base = `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
  });

  test('a reply that cannot be serialized goes to onError, the client gets nothing and stays connected', async () => {
    const client = await connect(`${base}/edges`);
    client.send({ event: 'big' });
    client.send({ event: 'ok' });
    expect(await client.next()).toEqual({ event: 'ok', data: 1 });
    expect(reported).toEqual([{ code: 'HANDLER_ERROR', event: 'big' }]);
    client.ws.close();
  });
});

describe('an adapter without an application', () => {
  test('a gateway with a port gets a server of its own; one without a port is an error', async () => {
    const port = await freePort();
    const adapter = new WskitAdapter(undefined, { shutdownTimeout: 200 });
    const server = adapter.create(port, {}) as unknown as { close?: () => void };
    expect(server).toBeDefined();
    expect(() => adapter.create(0, {})).toThrow(/needs the application/);
    await adapter.close(server as never);
    await adapter.dispose?.();
  });

  test('closeClient() closes a socket that is still open with 1013 (try again later), and leaves a closed one', async () => {
    const app = await NestFactory.create(EdgesModule, new ExpressAdapter(), { logger: false });
    const adapter = new WskitAdapter(app, { shutdownTimeout: 200 });
    app.useWebSocketAdapter(adapter);
    await app.listen(0, '127.0.0.1');
    const url = `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/edges`;
    const socket = new WebSocket(url);
    await once(socket, 'open');
    const closing = once(socket, 'close');
    adapter.closeClient(socket);
    expect((await closing)[0]).toBe(1013);
    expect(() => adapter.closeClient(socket)).not.toThrow();
    await app.close();
  });
});
