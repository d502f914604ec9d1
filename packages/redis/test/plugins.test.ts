/** The plugins' publish goes through the backplane: an Express app and a Koa app on one Redis share topics. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import { WebSocket } from '@wskit/core';
import { wskitExpress } from '@wskit/express';
import { websocket } from '@wskit/koa';
import { createRedisBackplane } from '@wskit/redis';
import { collect, nextMessage } from '../../../test/helpers/inbox.js';
import { makeClient } from './clients.js';
import { startRedis } from './redis-server.js';

test('plugin.publish (Express) reaches a Koa app’s subscriber through Redis, and back', async () => {
  const redis = await startRedis();
  const c1 = await makeClient('redis', redis.url);
  const c2 = await makeClient('ioredis', redis.url);

  const plugin = wskitExpress(express());
  plugin.app.ws('/x', (ws) => {
    ws.subscribe('shared');
    ws.on('message', (data: Buffer) => plugin.publish('shared', `express: ${String(data)}`));
  });
  const expressServer = plugin.app.listen(0, '127.0.0.1');
  await once(expressServer, 'listening');
  const b1 = createRedisBackplane(plugin, { client: c1.client });

  const koa = new Koa();
  const ws = websocket();
  koa.use(ws);
  koa.use(async (ctx) => {
    const socket = await ctx.ws!();
    socket.subscribe('shared');
    socket.on('message', (data: Buffer) => ws.publish('shared', `koa: ${String(data)}`));
  });
  const koaServer = koa.listen(0, '127.0.0.1');
  await once(koaServer, 'listening');
  const b2 = createRedisBackplane(ws, { client: c2.client });

  const onExpress = collect(new WebSocket(`ws://127.0.0.1:${(expressServer.address() as AddressInfo).port}/x`));
  const onKoa = collect(new WebSocket(`ws://127.0.0.1:${(koaServer.address() as AddressInfo).port}/`));
  await Promise.all([once(onExpress, 'open'), once(onKoa, 'open')]);
  for (let i = 0; i < 100 && (b1.stats().subscriptions === 0 || b2.stats().subscriptions === 0); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  await b1.synced();
  await b2.synced();
  onExpress.send('hi');
  expect(await nextMessage(onExpress)).toBe('express: hi');
  expect(await nextMessage(onKoa)).toBe('express: hi');
  onKoa.send('hello');
  expect(await nextMessage(onExpress)).toBe('koa: hello');
  expect(await nextMessage(onKoa)).toBe('koa: hello');

  onExpress.terminate();
  onKoa.terminate();
  await b1.close();
  await b2.close();
  await plugin.close?.();
  expressServer.close();
  koaServer.close();
  await c1.close();
  await c2.close();
  await redis.stop();
});
