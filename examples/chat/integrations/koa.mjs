// @wskit/koa: koa-session and @koa/router run on the upgrade request like on any other; the route
// answers 401 itself (ctx.throw) before calling ctx.ws().
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import session from 'koa-session';
import { websocket } from '@wskit/koa';
import { BAD_NAME, LOG_IN_FIRST, ROOM, SOCKET_OPTIONS, UPGRADE_REQUIRED, nameFrom, readJson } from '../common.mjs';

export async function create({ prefix, hub, secret }) {
  const app = new Koa();
  app.keys = [secret];
  const ws = websocket({ ...SOCKET_OPTIONS, shutdownTimeout: 2000 });
  app.use(ws);
  app.use(session({ key: 'wskit.koa', signed: true, path: prefix, httpOnly: true, sameSite: 'lax' }, app));

  const router = new Router({ prefix });
  router.post('/login', async (ctx) => {
    const name = nameFrom(await readJson(ctx.req));
    if (!name) ctx.throw(400, BAD_NAME);
    ctx.session.name = name;
    ctx.body = { name };
  });
  router.post('/logout', (ctx) => {
    ctx.session = null;
    ctx.body = { name: null };
  });
  router.get('/me', (ctx) => {
    ctx.body = { name: ctx.session.name ?? null };
  });
  router.get('/rooms/:room', async (ctx) => {
    const name = ctx.session.name;
    if (!name) ctx.throw(401, LOG_IN_FIRST);
    if (!ROOM.test(ctx.params.room)) ctx.throw(400, 'bad room name');
    if (!ctx.ws) ctx.throw(426, UPGRADE_REQUIRED);
    hub.join(await ctx.ws(), { name, room: ctx.params.room });
  });
  app.use(router.routes()).use(router.allowedMethods());

  // Never listens: the demo's front server hands it the requests and upgrades under /koa.
  const server = http.createServer(app.callback());
  ws.attach(server);
  return {
    handle: (req, res) => server.emit('request', req, res),
    upgrade: (req, socket, head) => server.emit('upgrade', req, socket, head),
    close: () => ws.close({ timeout: 2000 }),
  };
}
