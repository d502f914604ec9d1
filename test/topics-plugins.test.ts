/**
 * Topics through every plugin: sockets of two routes (the second with its own options, so its own core
 * server, and its own canSubscribe) subscribe in the framework's handler, and a publish made in the
 * framework's idiom from one route reaches the topic's subscribers on both.
 */
import 'reflect-metadata';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer as NestWebSocketServer,
} from '@nestjs/websockets';
import { WebSocket as WsClient } from 'ws';
import { TopicHub, type BufferLike, type CanSubscribe, type WebSocket } from '@wskit/core';
import { wskitExpress } from '@wskit/express';
import { fastifyWebSocket } from '@wskit/fastify';
import { websocket } from '@wskit/koa';
import { GatewayServer, WskitAdapter } from '@wskit/nest';

type Publish = (topic: string, data: Exclude<BufferLike, Blob>) => number;

/** Route protocol: "sub:T" answers "sub:T:<result>", "pub:T:TEXT" publishes TEXT to T and answers "pub:<count>". */
function serve(ws: WebSocket, publish: Publish): void {
  ws.on('message', async (raw: Buffer) => {
    const [command, topic = '', text = ''] = raw.toString().split(':');
    if (command === 'sub') ws.send(`sub:${topic}:${String(await ws.subscribe(topic))}`);
    else if (command === 'unsub') ws.send(`unsub:${topic}:${String(ws.unsubscribe(topic))}`);
    else if (command === 'pub') ws.send(`pub:${publish(topic, text)}`);
  });
}

/** Route b refuses "secret". */
const routeB: CanSubscribe = (_ws, topic) => topic !== 'secret';

interface App {
  base: string;
  close: () => Promise<void>;
  /** How a command goes on the wire (Nest: a `{ event, data }` message). */
  encode?: (text: string) => string;
}

class Client {
  readonly inbox: string[] = [];
  private waiters: Array<() => void> = [];
  constructor(
    readonly ws: WsClient,
    private readonly encode: (text: string) => string,
  ) {
    ws.on('message', (data: Buffer) => {
      this.inbox.push(data.toString());
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(url: string, encode: (text: string) => string = (text) => text): Promise<Client> {
    const client = new Client(new WsClient(url), encode);
    await once(client.ws, 'open');
    return client;
  }
  /** Sends `text` and resolves with the next message matching `prefix` (5 s bound). */
  async ask(text: string, prefix: string): Promise<string> {
    this.ws.send(this.encode(text));
    return this.take(prefix);
  }
  take(prefix: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${prefix}" message; got ${JSON.stringify(this.inbox)}`)),
        5000,
      );
      const check = (): void => {
        const at = this.inbox.findIndex((m) => m.startsWith(prefix));
        if (at < 0) {
          this.waiters.push(check);
          return;
        }
        clearTimeout(timer);
        resolve(this.inbox.splice(at, 1)[0]!);
      };
      check();
    });
  }
}

const address = (server: Server): string => `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function expressApp(): Promise<App> {
  const plugin = wskitExpress(express());
  plugin.app.ws('/a', (ws) => serve(ws, plugin.publish));
  plugin.app.ws('/b', { canSubscribe: routeB, maxPayload: 4096 }, (ws) => serve(ws, plugin.publish));
  const server = plugin.app.listen(0, '127.0.0.1') as Server;
  await once(server, 'listening');
  return {
    base: address(server),
    close: async () => {
      await plugin.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function fastifyApp(): Promise<App> {
  const app = Fastify();
  await app.register(fastifyWebSocket);
  const publish: Publish = (topic, data) => app.websocketServer.publish(topic, data);
  app.get('/a', { websocket: true }, (socket) => serve(socket, publish));
  app.get('/b', { websocket: true, wsOptions: { canSubscribe: routeB } }, (socket) => serve(socket, publish));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { base: address(app.server), close: () => app.close() };
}

async function koaApp(): Promise<App> {
  const app = new Koa();
  const ws = websocket();
  app.use(ws);
  app.use(async (ctx) => {
    if (!ctx.ws) return;
    if (ctx.path === '/a') serve(await ctx.ws(), ws.publish);
    else if (ctx.path === '/b') serve(await ctx.ws({ canSubscribe: routeB }), ws.publish);
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: address(server),
    close: async () => {
      await ws.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Nest's idiom: `{ event, data }` messages to @SubscribeMessage handlers, publish through @WebSocketServer(). */
class TopicGateway {
  @NestWebSocketServer() server!: GatewayServer;

  @SubscribeMessage('sub')
  async sub(@ConnectedSocket() client: WebSocket, @MessageBody() topic: string): Promise<void> {
    client.send(`sub:${topic}:${String(await client.subscribe(topic))}`);
  }

  @SubscribeMessage('unsub')
  unsub(@ConnectedSocket() client: WebSocket, @MessageBody() topic: string): void {
    client.send(`unsub:${topic}:${String(client.unsubscribe(topic))}`);
  }

  @SubscribeMessage('pub')
  pub(@ConnectedSocket() client: WebSocket, @MessageBody() body: string): void {
    const [topic = '', text = ''] = body.split(':');
    client.send(`pub:${this.server.publish(topic, text)}`);
  }
}

@WebSocketGateway({ path: '/a' })
class GatewayA extends TopicGateway {}

@WebSocketGateway({ path: '/b', canSubscribe: routeB })
class GatewayB extends TopicGateway {}

@Module({ providers: [GatewayA, GatewayB] })
class TopicsModule {}

async function nestApp(): Promise<App> {
  const app = await NestFactory.create(TopicsModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 500 }));
  await app.listen(0, '127.0.0.1');
  const encode = (text: string): string => {
    const colon = text.indexOf(':');
    return JSON.stringify({ event: text.slice(0, colon), data: text.slice(colon + 1) });
  };
  return { base: address(app.getHttpServer() as Server), close: () => app.close(), encode };
}

describe.each([
  ['express', expressApp],
  ['fastify', fastifyApp],
  ['koa', koaApp],
  ['nest', nestApp],
])('topics in %s', (_name, start) => {
  test('a publish from one route reaches subscribers on every route; route canSubscribe applies', async () => {
    const app = await start();
    try {
      const a = await Client.open(`${app.base}/a`, app.encode);
      const b = await Client.open(`${app.base}/b`, app.encode);
      const b2 = await Client.open(`${app.base}/b`, app.encode);
      expect(await a.ask('sub:room', 'sub:')).toBe('sub:room:true');
      expect(await b.ask('sub:room', 'sub:')).toBe('sub:room:true');
      expect(await a.ask('sub:secret', 'sub:')).toBe('sub:secret:true');
      expect(await b.ask('sub:secret', 'sub:')).toBe('sub:secret:false');
      // From route a: both routes' subscribers; b2 (not subscribed) gets nothing.
      expect(await a.ask('pub:room:hello', 'pub:')).toBe('pub:2');
      expect(await a.take('hello')).toBe('hello');
      expect(await b.take('hello')).toBe('hello');
      // From route b (publisher need not be subscribed to the topic).
      expect(await b2.ask('pub:secret:psst', 'pub:')).toBe('pub:1');
      expect(await a.take('psst')).toBe('psst');
      expect(b.inbox).toEqual([]);
      expect(b2.inbox).toEqual([]);
      for (const c of [a, b, b2]) c.ws.close();
    } finally {
      await app.close();
    }
  });
});

describe('topics options in every plugin', () => {
  const bad = { compression: 'sometimes' as 'shared' };
  const badPolicy = { slowConsumer: { limit: -1, action: 'skip' as const } };

  test('invalid topics options are refused in the framework’s way (Fastify: register() rejects)', async () => {
    expect(() => wskitExpress(express(), { topics: bad })).toThrow(TypeError);
    expect(() => websocket({ topics: badPolicy })).toThrow(TypeError);
    expect(() => new WskitAdapter(undefined, { ws: { topics: bad } })).toThrow(TypeError);
    for (const topics of [bad, badPolicy]) {
      const app = Fastify();
      // No synchronous throw out of register(): the error comes out of ready().
      app.register(fastifyWebSocket, { options: { topics } });
      await expect(app.ready()).rejects.toThrow(TypeError);
      await app.close().catch(() => undefined);
    }
  });

  test('a hub or hub options given to the plugin is the one every route uses', async () => {
    const hub = new TopicHub({ compression: 'dedicated' });
    const plugin = wskitExpress(express(), { topics: hub });
    expect(plugin.topics).toBe(hub);
    await plugin.close();
    const koa = websocket({ topics: { slowConsumer: { limit: 1024, action: 'skip' } } });
    expect(koa.topics.slowConsumer).toEqual({ limit: 1024, action: 'skip' });
    await koa.close();
    const app = Fastify();
    await app.register(fastifyWebSocket, { options: { topics: hub } });
    expect(app.websocketServer.topicHub).toBe(hub);
    await app.close();
    expect(new WskitAdapter(undefined, { ws: { topics: hub } }).topics).toBe(hub);
  });
});

describe.each([
  ['express', expressApp],
  ['fastify', fastifyApp],
  ['koa', koaApp],
  ['nest', nestApp],
])('topics in %s: unsubscribe and close', (_name, start) => {
  test('an unsubscribed or closed socket gets no more publishes; the topic goes with its last subscriber', async () => {
    const app = await start();
    try {
      const a = await Client.open(`${app.base}/a`, app.encode);
      const b = await Client.open(`${app.base}/b`, app.encode);
      expect(await a.ask('sub:room', 'sub:')).toBe('sub:room:true');
      expect(await b.ask('sub:room', 'sub:')).toBe('sub:room:true');
      expect(await a.ask('unsub:room', 'unsub:')).toBe('unsub:room:true');
      expect(await a.ask('pub:room:one', 'pub:')).toBe('pub:1');
      expect(await b.take('one')).toBe('one');
      b.ws.close();
      await once(b.ws, 'close');
      // b's server side leaves the topic once its close completes.
      const deadline = Date.now() + 5000;
      let count = '';
      while (Date.now() < deadline && (count = await a.ask('pub:room:two', 'pub:')) !== 'pub:0') {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(count).toBe('pub:0');
      expect(a.inbox).toEqual([]);
      a.ws.close();
    } finally {
      await app.close();
    }
  });
});
