#!/usr/bin/env node
// Express chat rooms on @wskit/express: log in over HTTP (express-session), then join a room over
// WebSocket; the session middleware and the login check run before the handshake.
// Usage (after `npm run build`): node examples/express-chat/index.mjs [--port 8080]
//   GET  /                    a minimal page
//   POST /login?name=ada      starts a session (cookie)
//   WS   /rooms/:room         401 without a session; messages go to everyone in the same room
import express from 'express';
import session from 'express-session';
import { wskitExpress } from '@wskit/express';

const args = process.argv.slice(2);
const at = args.indexOf('--port');
const port = Number(at >= 0 ? args[at + 1] : (process.env.PORT ?? 8080));

const { app } = wskitExpress(express(), {
  maxPayload: 16 * 1024,
  perMessageDeflate: true,
  heartbeat: { interval: 30_000, timeout: 10_000 },
  shutdownTimeout: 2000,
});

app.use(session({ secret: 'example only, use a real secret', resave: false, saveUninitialized: false }));

app.get('/', (_req, res) => {
  res.type('html').send(`<!doctype html><title>wskit express chat</title>
<p>POST /login?name=you, then open ws://host/rooms/lobby</p>`);
});

app.post('/login', (req, res) => {
  const name = String(req.query.name ?? '').trim();
  if (!/^[\w-]{1,32}$/.test(name)) {
    res.status(400).json({ error: 'name must be 1-32 letters, digits, _ or -' });
    return;
  }
  req.session.name = name;
  res.json({ name });
});

const requireLogin = (req, res, next) => {
  if (req.session.name) next();
  else res.status(401).json({ error: 'log in first' });
};

app.ws('/rooms/:room', requireLogin, (ws, req, route) => {
  const { room } = req.params;
  const name = req.session.name;
  const inRoom = (client) => client.room === room;
  ws.room = room;
  route.broadcast(JSON.stringify({ type: 'join', room, name }), { filter: inRoom });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    route.broadcast(JSON.stringify({ type: 'message', room, name, text: data.toString() }), { filter: inRoom });
  });
  ws.on('close', () => route.broadcast(JSON.stringify({ type: 'leave', room, name }), { filter: inRoom }));
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`READY ${server.address().port}`);
});

// server.close() makes the plugin close every socket with 1001 first (bounded by shutdownTimeout).
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
