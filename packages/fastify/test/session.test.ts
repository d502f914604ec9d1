import Fastify, { type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import websocket from '@wskit/fastify';
import { closed, connect, listen, nextMessage, refusal } from './helpers.js';

declare module 'fastify' {
  interface Session {
    user?: string;
  }
}

// In-jest (not a child process): needs jest.config.mjs to transform the ESM-only `cookie` package
// that @fastify/cookie 11 requires.
describe('@wskit/fastify with @fastify/cookie + @fastify/session', () => {
  let app: FastifyInstance;
  let url: { ws: string; http: string };

  beforeAll(async () => {
    app = Fastify();
    await app.register(fastifyCookie);
    await app.register(fastifySession, {
      secret: 'a session secret that is at least 32 chars long',
      cookie: { secure: false },
      saveUninitialized: false,
    });
    await app.register(websocket);
    app.post('/login', async (request) => {
      request.session.user = 'alice';
      return { ok: true };
    });
    app.get(
      '/me',
      {
        websocket: true,
        preHandler: async (request, reply) => {
          if (!request.session.user) return reply.code(401).send({ error: 'login first' });
        },
      },
      (socket, request) => {
        socket.send(JSON.stringify({ user: request.session.user, sessionId: request.session.sessionId }));
      },
    );
    url = await listen(app);
  });

  afterAll(() => app.close());

  test('the session cookie from an HTTP login reaches request.session on the upgrade; without it, 401', async () => {
    const login = await fetch(`${url.http}/login`, { method: 'POST' });
    expect(login.status).toBe(200);
    const setCookie = login.headers.get('set-cookie');
    expect(setCookie).toMatch(/^sessionId=/);
    const cookie = setCookie!.split(';')[0]!;

    const ws = await connect(`${url.ws}/me`, undefined, { headers: { cookie } });
    const seen = JSON.parse(await nextMessage(ws)) as { user: string; sessionId: string };
    expect(seen.user).toBe('alice');
    expect(cookie).toContain(seen.sessionId);
    const done = closed(ws);
    ws.close();
    await done;

    const anonymous = await refusal(connect(`${url.ws}/me`));
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toEqual({ error: 'login first' });

    const forged = await refusal(connect(`${url.ws}/me`, undefined, { headers: { cookie: 'sessionId=forged.value' } }));
    expect(forged.status).toBe(401);
  });
});
