import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyAuth from '@fastify/auth';
import { WebSocket } from '@wskit/core';
import websocket from '@wskit/fastify';
import { closed, collect, connect, listen, nextMessage, refusal } from './helpers.js';

describe('@wskit/fastify: Fastify lifecycle before the handshake', () => {
  let app: FastifyInstance;
  let url: { ws: string; http: string };
  const order: string[] = [];

  beforeAll(async () => {
    app = Fastify();
    await app.register(websocket);
    await app.register(fastifyAuth);
    app.decorate('verifyToken', (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      if (request.headers['x-token'] === 'secret') done();
      else done(Object.assign(new Error('bad token'), { statusCode: 401 }));
    });
    app.addHook('onRequest', async (request) => {
      if (request.url.startsWith('/order')) order.push('onRequest');
    });
    app.get(
      '/order',
      {
        websocket: true,
        preParsing: async (_request, _reply, payload) => {
          order.push('preParsing');
          return payload;
        },
        preValidation: async () => {
          order.push('preValidation');
        },
        preHandler: async () => {
          // Slow on purpose: the client must not be open before this hook is done.
          await new Promise((resolve) => setTimeout(resolve, 50));
          order.push('preHandler');
        },
      },
      (socket, request) => {
        order.push(`handler ws=${String(request.ws)}`);
        socket.send('hi');
      },
    );
    app.get(
      '/guarded',
      {
        websocket: true,
        onRequest: (request, reply, done) => {
          if (request.headers.authorization !== 'Bearer ok') {
            reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'no' });
            return;
          }
          done();
        },
      },
      (socket) => socket.send('welcome'),
    );
    app.register(async (scope) => {
      scope.addHook('onRequest', scope.auth([(scope as FastifyInstance & { verifyToken: never }).verifyToken]));
      scope.get('/auth', { websocket: true }, (socket) => socket.send('authed'));
    });
    app.get(
      '/rooms/:room',
      {
        websocket: true,
        schema: {
          params: { type: 'object', properties: { room: { type: 'string', pattern: '^[a-z]+$' } } },
          querystring: {
            type: 'object',
            required: ['nick'],
            properties: { nick: { type: 'string', minLength: 2 }, n: { type: 'integer' } },
          },
          headers: { type: 'object', properties: { 'x-version': { type: 'integer', minimum: 2 } } },
        },
      },
      (socket, request) => {
        const params = request.params as { room: string };
        const query = request.query as { nick: string; n?: number };
        socket.send(JSON.stringify({ room: params.room, nick: query.nick, n: query.n }));
      },
    );
    app.route({
      method: 'GET',
      url: '/both',
      handler: async () => ({ via: 'http' }),
      wsHandler: (socket) => socket.send('via ws'),
    });
    app.get('/plain', async () => 'plain http');
    app.get('/throws', { websocket: true }, async () => {
      throw new Error('handler failed');
    });
    app.register(async (scope) => {
      scope.setErrorHandler((error, _request, reply) => {
        reply.code(403).send({ handledBy: 'scope', message: error instanceof Error ? error.message : String(error) });
      });
      scope.addHook('preHandler', async (request) => {
        if (request.headers['x-allow'] !== 'yes') throw new Error('refused in preHandler');
      });
      scope.get('/errors', { websocket: true }, (socket) => socket.send('allowed'));
    });
    app.register(
      async (scope) => {
        scope.decorate('scopeName', 'child');
        scope.addHook('onRequest', async (request, reply) => {
          if (request.headers['x-child'] !== '1') return reply.code(418).send('child hook');
        });
        scope.get('/inner', { websocket: true }, function (socket, request) {
          socket.send(`${this.prefix}|${String(this.hasDecorator('scopeName'))}|${request.url}`);
        });
      },
      { prefix: '/child' },
    );
    app.get('/outer', { websocket: true }, function (socket) {
      socket.send(`outer|${String(this.hasDecorator('scopeName'))}`);
    });
    url = await listen(app);
  });

  afterAll(() => app.close());

  test('onRequest, preParsing, preValidation and preHandler run before the handshake, handler after', async () => {
    order.length = 0;
    const ws = collect(new WebSocket(`${url.ws}/order`));
    ws.on('open', () => order.push('client open'));
    const first = await nextMessage(ws);
    expect(first).toBe('hi');
    expect(order).toEqual(['onRequest', 'preParsing', 'preValidation', 'preHandler', 'handler ws=true', 'client open']);
    ws.close();
  });

  test('reply.code(401) in a hook is a genuine HTTP response and no socket is opened', async () => {
    const refused = await refusal(connect(`${url.ws}/guarded`));
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(refused.body)).toEqual({ error: 'no' });
    const ws = await connect(`${url.ws}/guarded`, undefined, { headers: { Authorization: 'Bearer ok' } });
    expect(await nextMessage(ws)).toBe('welcome');
    ws.close();
  });

  test('@fastify/auth refuses with 401 and lets a valid token through', async () => {
    expect((await refusal(connect(`${url.ws}/auth`))).status).toBe(401);
    const ws = await connect(`${url.ws}/auth`, undefined, { headers: { 'x-token': 'secret' } });
    expect(await nextMessage(ws)).toBe('authed');
    ws.close();
  });

  test('JSON-schema validation of params, query and headers: 400 before the handshake, coerced values after', async () => {
    const missing = await refusal(connect(`${url.ws}/rooms/lobby`));
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body).message).toMatch(/nick/);
    expect((await refusal(connect(`${url.ws}/rooms/lobby?nick=x`))).status).toBe(400);
    expect((await refusal(connect(`${url.ws}/rooms/L0bby?nick=ann`))).status).toBe(400);
    const badHeader = await refusal(
      connect(`${url.ws}/rooms/lobby?nick=ann`, undefined, { headers: { 'x-version': '1' } }),
    );
    expect(badHeader.status).toBe(400);
    expect(JSON.parse(badHeader.body).message).toMatch(/x-version/);
    const ws = await connect(`${url.ws}/rooms/lobby?nick=ann&n=7`, undefined, { headers: { 'x-version': '3' } });
    expect(JSON.parse(await nextMessage(ws))).toEqual({ room: 'lobby', nick: 'ann', n: 7 });
    ws.close();
  });

  test('unknown paths get Fastify 404; a WebSocket-only route answers plain HTTP with 404', async () => {
    const refused = await refusal(connect(`${url.ws}/nowhere`));
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 404, message: 'Route GET:/nowhere not found' });
    expect((await fetch(`${url.http}/outer`)).status).toBe(404);
  });

  test('a non-WebSocket route answers an upgrade request with its HTTP response', async () => {
    const refused = await refusal(connect(`${url.ws}/plain`));
    expect(refused.status).toBe(200);
    expect(refused.body).toBe('plain http');
  });

  test('route({ handler, wsHandler }) serves HTTP and WebSocket on one URL', async () => {
    const res = await fetch(`${url.http}/both`);
    expect(await res.json()).toEqual({ via: 'http' });
    const ws = await connect(`${url.ws}/both`);
    expect(await nextMessage(ws)).toBe('via ws');
    ws.close();
    // The derived HEAD route stays HTTP.
    expect((await fetch(`${url.http}/both`, { method: 'HEAD' })).status).toBe(200);
  });

  test('errors thrown by hooks go through the encapsulated setErrorHandler', async () => {
    const refused = await refusal(connect(`${url.ws}/errors`));
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toEqual({ handledBy: 'scope', message: 'refused in preHandler' });
    const ws = await connect(`${url.ws}/errors`, undefined, { headers: { 'x-allow': 'yes' } });
    expect(await nextMessage(ws)).toBe('allowed');
    ws.close();
  });

  test('a throwing handler closes the socket with 1011', async () => {
    const ws = await connect(`${url.ws}/throws`);
    expect((await closed(ws)).code).toBe(1011);
  });

  test('encapsulated plugin routes run their own hooks, with a prefix and `this` bound to the scope', async () => {
    expect((await refusal(connect(`${url.ws}/child/inner`))).status).toBe(418);
    const inner = await connect(`${url.ws}/child/inner?x=1`, undefined, { headers: { 'x-child': '1' } });
    expect(await nextMessage(inner)).toBe('/child|true|/child/inner?x=1');
    inner.close();
    // The child's hook and decorator do not leak to the parent's route.
    const outer = await connect(`${url.ws}/outer`);
    expect(await nextMessage(outer)).toBe('outer|false');
    outer.close();
  });
});
