// CommonJS consumer: ws's `import WebSocket = require('ws')` shape, the class and its namespace.
import WebSocket = require('@wskit/core');
import express = require('express');
import { wskitExpress } from '@wskit/express';
import { fastifyWebSocket } from '@wskit/fastify';
import { websocket } from '@wskit/koa';
import redis = require('@wskit/redis');

const wss: WebSocket.WebSocketServer = new WebSocket.Server({ port: 0 });
const same: typeof WebSocket.WebSocketServer = WebSocket.WebSocketServer;
wss.on('connection', (ws: WebSocket) => {
  const data: WebSocket.RawData = Buffer.from('x');
  ws.send(data);
});
const options: WebSocket.ServerOptions = { noServer: true };
const client: WebSocket = new WebSocket.WebSocket('ws://127.0.0.1:1');
WebSocket.createWebSocketStream(client).destroy();
const open: number = WebSocket.OPEN;

const hub: WebSocket.TopicHub = redis.resolveHub(wss);
const mode: redis.BackplaneMode = 'pubsub';

export = [same, options, open, wskitExpress(express()), fastifyWebSocket, websocket, hub, mode];
