// @wskit/express: express-session and a requireLogin middleware run on the upgrade request, inside a
// Router mounted at /express, before the handshake — a missing session is a real 401.
import http from 'node:http';
import express from 'express';
import session from 'express-session';
import { wskitExpress } from '@wskit/express';
import { BAD_NAME, LOG_IN_FIRST, ROOM, SOCKET_OPTIONS, nameFrom } from '../common.mjs';

export async function create({ prefix, hub, secret }) {
  const { app, Router, attach, close } = wskitExpress(express(), { ...SOCKET_OPTIONS, shutdownTimeout: 2000 });
  const router = Router();
  router.use(
    session({
      name: 'wskit.express',
      secret,
      resave: false,
      saveUninitialized: false,
      cookie: { path: prefix, httpOnly: true, sameSite: 'lax' },
    }),
  );
  router.use(express.json({ limit: '4kb' }));

  router.post('/login', (req, res) => {
    const name = nameFrom(req.body);
    if (!name) return void res.status(400).json({ error: BAD_NAME });
    req.session.name = name;
    res.json({ name });
  });
  router.post('/logout', (req, res) =>
    req.session.destroy(() => res.clearCookie('wskit.express', { path: prefix }).json({ name: null })),
  );
  router.get('/me', (req, res) => void res.json({ name: req.session.name ?? null }));

  const requireLogin = (req, res, next) => (req.session.name ? next() : res.status(401).json({ error: LOG_IN_FIRST }));
  router.param('room', (req, res, next, room) =>
    ROOM.test(room) ? next() : res.status(400).json({ error: 'bad room name' }),
  );
  // A plain GET reaches the same middleware (so a logged-out probe gets the same 401) and then 426.
  router.ws('/rooms/:room', requireLogin, (ws, req) => hub.join(ws, { name: req.session.name, room: req.params.room }));
  router.use((_req, res) => void res.status(404).json({ error: 'not found' }));
  app.use(prefix, router);

  // Never listens: the demo's front server hands it the requests and upgrades under /express.
  const server = attach(http.createServer(app));
  return {
    handle: (req, res) => server.emit('request', req, res),
    upgrade: (req, socket, head) => server.emit('upgrade', req, socket, head),
    close,
  };
}
