// @ts-check
// Plain CommonJS JavaScript, checked by tsc (checkJs): `const WebSocket = require(...)` as in ws's README.
const WebSocket = require('@wskit/core');
const { WebSocketServer } = require('@wskit/core');

const wss = new WebSocketServer({ port: 0 });
wss.on('connection', (ws) => {
  ws.on('close', () => wss.close());
});
/** @type {WebSocket} */
const client = new WebSocket('ws://127.0.0.1:1');
const stream = WebSocket.createWebSocketStream(client);
/** @type {import('@wskit/core').ServerOptions} */
const options = { noServer: true };
const { createRedisBackplane } = require('@wskit/redis');
/** @type {(client: unknown) => import('@wskit/redis').RedisBackplane} */
const backplane = (client) => createRedisBackplane(wss, { client, mode: 'sharded' });
module.exports = { wss, stream, options, Server: WebSocket.Server, backplane };
