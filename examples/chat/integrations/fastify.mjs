// @wskit/fastify: @fastify/cookie + @fastify/session and a preHandler hook run on the upgrade request;
// the route's JSON schema validates :room. One GET route, `websocket: true`.
import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import websocket from '@wskit/fastify';
import { BAD_NAME, LOG_IN_FIRST, ROOM, SOCKET_OPTIONS, nameFrom } from '../common.mjs';

export async function create({ prefix, hub, secret }) {
  const app = Fastify({ bodyLimit: 4096 });
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    cookieName: 'wskit.fastify',
    secret,
    cookie: { path: prefix, secure: false, httpOnly: true, sameSite: 'lax' },
    saveUninitialized: false,
  });
  await app.register(websocket, { options: SOCKET_OPTIONS, shutdownTimeout: 2000 });

  app.post(`${prefix}/login`, async (request, reply) => {
    const name = nameFrom(request.body);
    if (!name) return reply.code(400).send({ error: BAD_NAME });
    request.session.set('name', name);
    return { name };
  });
  app.post(`${prefix}/logout`, async (request) => {
    await request.session.destroy();
    return { name: null };
  });
  app.get(`${prefix}/me`, async (request) => ({ name: request.session.get('name') ?? null }));

  app.get(
    `${prefix}/rooms/:room`,
    {
      websocket: true,
      schema: { params: { type: 'object', properties: { room: { type: 'string', pattern: ROOM.source } } } },
      preHandler: async (request, reply) => {
        if (!request.session.get('name')) return reply.code(401).send({ error: LOG_IN_FIRST });
      },
    },
    (socket, request) => hub.join(socket, { name: request.session.get('name'), room: request.params.room }),
  );
  await app.ready();

  // Never listens: the demo's front server hands it the requests and upgrades under /fastify.
  return {
    handle: (req, res) => app.routing(req, res),
    upgrade: (req, socket, head) => app.server.emit('upgrade', req, socket, head),
    close: () => app.close(),
  };
}
