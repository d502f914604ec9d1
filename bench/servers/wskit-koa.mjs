// @wskit/koa echo on '/' through a Koa 3 middleware chain (the plugin under test).
import http from 'node:http';
import Koa from 'koa';
import { websocket } from '@wskit/koa';
import { MAX_PAYLOAD, announce, echo } from './plugin-common.mjs';

const app = new Koa();
const ws = websocket({ maxPayload: MAX_PAYLOAD });
app.use(ws);
app.use(async (ctx) => {
  if (ctx.ws) echo(await ctx.ws());
});
const server = http.createServer(app.callback());
ws.attach(server);
server.listen(0, '127.0.0.1', () => announce(server, '@wskit/koa', () => ws.clients));
