// ESM consumer: default and named imports of every package, type positions included.
import WebSocket, { WebSocketServer, createWebSocketStream, type RawData, type ServerOptions } from '@wskit/core';
import express from 'express';
import wskitExpressDefault, { wskitExpress } from '@wskit/express';
import Fastify from 'fastify';
import fastifyWebSocket from '@wskit/fastify';
import Koa from 'koa';
import koaWebsocket, { websocket } from '@wskit/koa';
import { WskitAdapter } from '@wskit/nest';
import { RedisBackplane, keySlot, type BackplaneMode, type BackplaneStats } from '@wskit/redis';

const options: ServerOptions = { port: 0, maxPayload: 1024 };
const wss = new WebSocketServer(options);
wss.on('connection', (ws: WebSocket) => {
  ws.on('message', (data: RawData) => ws.send(String(data)));
});
const client: WebSocket = new WebSocket('ws://127.0.0.1:1');
const stream = createWebSocketStream(client);
stream.destroy();
const state: number = WebSocket.OPEN;

const { app } = wskitExpress(express());
app.ws('/echo', (ws) => ws.on('message', (data) => ws.send(data)));
const fastify = Fastify();
void fastify.register(fastifyWebSocket);
const koa = new Koa();
koa.use(websocket());

const mode: BackplaneMode = 'streams';
const stats = (backplane: RedisBackplane): BackplaneStats => backplane.stats();
const slot: number = keySlot('wskit:room');

export const used = [state, wskitExpressDefault, koaWebsocket, WskitAdapter, mode, stats, slot];
