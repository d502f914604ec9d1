/**
 * The Fastify and Nest plugins' hubs with the backplane: `fastify.websocketServer.publish()` and a Nest gateway's
 * `@WebSocketServer() server.publish()` reach the other app's subscribers through one Redis.
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import {
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type OnGatewayConnection,
} from '@nestjs/websockets';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { WebSocket } from '@wskit/core';
import websocket from '@wskit/fastify';
import { WskitAdapter, type GatewayServer } from '@wskit/nest';
import { createRedisBackplane, type RedisBackplane } from '@wskit/redis';
import { collect, nextMessage } from '../../../test/helpers/inbox.js';
import { makeClient } from './clients.js';
import { startRedis } from './redis-server.js';

@WebSocketGateway({ path: '/room' })
class RoomGateway implements OnGatewayConnection {
  @WebSocketServer() server!: GatewayServer;

  handleConnection(socket: WebSocket): void {
    socket.subscribe('shared');
  }

  @SubscribeMessage('say')
  say(@MessageBody() text: string): void {
    this.server.publish('shared', `nest: ${text}`);
  }
}

@Module({ providers: [RoomGateway] })
class RoomModule {}

async function subscribed(...backplanes: RedisBackplane[]): Promise<void> {
  for (let i = 0; i < 200 && backplanes.some((b) => b.stats().subscriptions === 0); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const b of backplanes) await b.synced();
}

test('fastify.websocketServer.publish and a Nest gateway’s server.publish reach each other through Redis', async () => {
  const redis = await startRedis();
  const c1 = await makeClient('redis', redis.url);
  const c2 = await makeClient('ioredis', redis.url);
  let nest: INestApplication | undefined;
  const fastify = Fastify();
  try {
    await fastify.register(websocket);
    fastify.get('/x', { websocket: true }, (socket) => {
      socket.subscribe('shared');
      socket.on('message', (data: Buffer) => fastify.websocketServer.publish('shared', `fastify: ${String(data)}`));
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const b1 = createRedisBackplane(fastify, { client: c1.client });
    expect(b1.hub).toBe(fastify.websocketServer.topicHub);

    nest = await NestFactory.create(RoomModule, new ExpressAdapter(), { logger: false });
    const adapter = new WskitAdapter(nest, { shutdownTimeout: 200 });
    nest.useWebSocketAdapter(adapter);
    await nest.listen(0, '127.0.0.1');
    const b2 = createRedisBackplane(adapter, { client: c2.client });
    expect(b2.hub).toBe(adapter.topics);

    const fastifyPort = (fastify.server.address() as AddressInfo).port;
    const nestPort = (nest.getHttpServer().address() as AddressInfo).port;
    const onFastify = collect(new WebSocket(`ws://127.0.0.1:${fastifyPort}/x`));
    const onNest = collect(new WebSocket(`ws://127.0.0.1:${nestPort}/room`));
    await Promise.all([new Promise((r) => onFastify.once('open', r)), new Promise((r) => onNest.once('open', r))]);
    await subscribed(b1, b2);

    onFastify.send('hi');
    expect(await nextMessage(onFastify)).toBe('fastify: hi');
    expect(await nextMessage(onNest)).toBe('fastify: hi');
    onNest.send(JSON.stringify({ event: 'say', data: 'hello' }));
    expect(await nextMessage(onFastify)).toBe('nest: hello');
    expect(await nextMessage(onNest)).toBe('nest: hello');
    // Each message went through Redis once and was delivered once in each process.
    expect(b1.stats()).toMatchObject({ published: 1, received: 2, delivered: 2 });
    expect(b2.stats()).toMatchObject({ published: 1, received: 2, delivered: 2 });

    onFastify.terminate();
    onNest.terminate();
    await b1.close();
    await b2.close();
  } finally {
    await nest?.close();
    await fastify.close();
    await c1.close();
    await c2.close();
    await redis.stop();
  }
});
