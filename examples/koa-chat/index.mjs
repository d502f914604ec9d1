#!/usr/bin/env node
// Koa chat: log in over HTTP (session cookie), then join a room over WebSocket.
// Usage: npm run build && node examples/koa-chat/index.mjs --port N   (prints READY <port>)
//   GET /login?name=ann     sets the session
//   ws  /rooms/:room        requires the session (401 otherwise); messages go to everyone in the room
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import session from 'koa-session';
import { ClientSet, websocket } from '@wskit/koa';

const args = process.argv.slice(2);
const portIndex = args.indexOf('--port');
const port = portIndex >= 0 ? Number(args[portIndex + 1]) : 3000;

const app = new Koa();
app.keys = ['example-only-secret'];
const ws = websocket({ maxPayload: 64 * 1024, heartbeat: { interval: 30_000, timeout: 10_000 } });
app.use(ws);
app.use(session({ signed: true }, app));

const rooms = new Map();
const roomFor = (name) => {
  let room = rooms.get(name);
  if (!room) rooms.set(name, (room = new ClientSet()));
  return room;
};

const router = new Router();
router.get('/login', (ctx) => {
  const name = String(ctx.query.name ?? '').trim();
  if (!name) ctx.throw(400, 'name required');
  ctx.session.user = name;
  ctx.body = `hello ${name}`;
});
router.get('/rooms/:room', async (ctx) => {
  if (!ctx.ws) ctx.throw(426, 'WebSocket required');
  const user = ctx.session.user;
  if (!user) ctx.throw(401, 'log in first');
  const room = roomFor(ctx.params.room);
  const socket = await ctx.ws({ clients: room });
  room.broadcast(`* ${user} joined`, { except: socket });
  socket.on('message', (data, isBinary) => {
    if (!isBinary) room.broadcast(`${user}: ${String(data)}`);
  });
  socket.on('close', () => {
    room.broadcast(`* ${user} left`);
    if (room.size === 0) rooms.delete(ctx.params.room);
  });
});
app.use(router.routes()).use(router.allowedMethods());

const server = http.createServer(app.callback());
ws.attach(server);
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));

const stop = async () => {
  await ws.close({ timeout: 2000 });
  server.close(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
