#!/usr/bin/env node
// Chat rooms on Fastify: log in over HTTP (a session cookie), then join /chat/:room over WebSocket.
// The session, the schema of :room and the login check all run as Fastify hooks before the handshake.
// Usage: node examples/fastify-chat/index.mjs [--port N] [--host 127.0.0.1]   (prints READY <port>)
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import websocket from '@wskit/fastify';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(option('port', '3000'));
const host = option('host', '127.0.0.1');

const app = Fastify();
await app.register(fastifyCookie);
await app.register(fastifySession, {
  secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
  cookie: { secure: false, httpOnly: true, sameSite: 'lax' },
  saveUninitialized: false,
});
await app.register(websocket, {
  options: { maxPayload: 16 * 1024, heartbeat: { interval: 30_000, timeout: 10_000 } },
  shutdownTimeout: 2000,
});

const NICK = '^[A-Za-z0-9_]{1,20}$';
const ROOM = '^[a-z0-9-]{1,30}$';
const roomOf = new WeakMap();

app.post(
  '/login',
  { schema: { body: { type: 'object', required: ['nick'], properties: { nick: { type: 'string', pattern: NICK } } } } },
  async (request) => {
    request.session.nick = request.body.nick;
    return { nick: request.body.nick };
  },
);

app.get(
  '/chat/:room',
  {
    websocket: true,
    schema: { params: { type: 'object', properties: { room: { type: 'string', pattern: ROOM } } } },
    preHandler: async (request, reply) => {
      if (!request.session.nick) return reply.code(401).send({ error: 'POST /login first' });
    },
    wsOptions: { maxPayload: 4096 },
  },
  (socket, request) => {
    const { room } = request.params;
    const nick = request.session.nick;
    const clients = request.websocketClients;
    const inRoom = (client) => roomOf.get(client) === room;
    roomOf.set(socket, room);
    clients.broadcast(JSON.stringify({ type: 'join', room, nick }), { filter: inRoom });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return socket.close(1003, 'text only');
      clients.broadcast(JSON.stringify({ type: 'say', room, nick, text: data.toString() }), { filter: inRoom });
    });
    socket.on('close', () => clients.broadcast(JSON.stringify({ type: 'leave', room, nick }), { filter: inRoom }));
  },
);

app.get('/', (_request, reply) => {
  reply.type('text/html').send(`<!doctype html><meta charset="utf-8"><title>wskit fastify chat</title>
<form id="login"><input name="nick" placeholder="nick" required> <input name="room" value="lobby"> <button>join</button></form>
<pre id="log"></pre><form id="say" hidden><input name="text" autocomplete="off"> <button>send</button></form>
<script>
const log = (line) => (document.getElementById('log').textContent += line + '\\n');
let ws = null; // one socket at a time: joining again (another room, a second click) replaces it
document.getElementById('login').onsubmit = async (event) => {
  event.preventDefault();
  const button = event.target.querySelector('button');
  button.disabled = true;
  try {
    const form = new FormData(event.target);
    const res = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nick: form.get('nick') }) });
    if (!res.ok) return log('login failed: ' + res.status);
    if (ws) {
      ws.onmessage = ws.onclose = null;
      ws.close(1000, 'joining again');
    }
    const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat/' + encodeURIComponent(form.get('room')));
    ws = socket;
    socket.onmessage = (e) => { const m = JSON.parse(e.data); log(m.type === 'say' ? m.nick + ': ' + m.text : '* ' + m.nick + ' ' + m.type + 's ' + m.room); };
    socket.onclose = (e) => log('closed ' + e.code);
    const say = document.getElementById('say');
    say.hidden = false;
    say.onsubmit = (e) => { e.preventDefault(); if (ws && ws.readyState === WebSocket.OPEN) ws.send(say.text.value); say.text.value = ''; };
  } finally {
    button.disabled = false;
  }
};
</script>`);
});

const stop = () => app.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

await app.listen({ port, host });
console.log(`READY ${app.server.address().port}`);
