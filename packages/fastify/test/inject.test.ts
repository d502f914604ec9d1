import Fastify, { type FastifyInstance } from 'fastify';
import { InjectWSError, type WebSocketPluginOptions } from '@wskit/fastify';
import websocket from '@wskit/fastify';
import { closed, collect, nextMessage } from './helpers.js';

async function build(options: WebSocketPluginOptions = {}): Promise<{ app: FastifyInstance; hooks: string[] }> {
  const app = Fastify();
  const hooks: string[] = [];
  await app.register(websocket, options);
  app.addHook('onRequest', async (request) => {
    hooks.push(`onRequest ${request.url}`);
  });
  app.get(
    '/echo/:id',
    {
      websocket: true,
      schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } },
      preHandler: async (request, reply) => {
        hooks.push('preHandler');
        if (request.headers.authorization !== 'yes') return reply.code(401).send({ error: 'nope' });
      },
    },
    (socket, request) => {
      const { id } = request.params as { id: string };
      socket.on('message', (data: Buffer) => socket.send(`${id}:${data.toString()}`));
    },
  );
  app.get('/proto', { websocket: true, wsOptions: { handleProtocols: () => 'b' } }, (socket) =>
    socket.send(socket.protocol),
  );
  return { app, hooks };
}

describe('@wskit/fastify: app.injectWS', () => {
  test('connects over in-memory streams through the full hook chain without listening', async () => {
    const { app, hooks } = await build();
    const ws = collect(await app.injectWS('/echo/7?n=1', { headers: { authorization: 'yes' } }));
    expect(app.server.listening).toBe(false);
    expect(hooks).toEqual(['onRequest /echo/7?n=1', 'preHandler']);
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('7:ping');
    const big = 'z'.repeat(4 * 1024 * 1024);
    ws.send(big);
    expect(await nextMessage(ws)).toBe(`7:${big}`);
    const closing = closed(ws);
    await app.close();
    expect((await closing).code).toBe(1001);
  });

  test('rejects with the HTTP status (and body) when a hook refused', async () => {
    const { app } = await build();
    const error = await app.injectWS('/echo/7').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InjectWSError);
    expect((error as InjectWSError).statusCode).toBe(401);
    expect(JSON.parse((error as InjectWSError).body)).toEqual({ error: 'nope' });
    expect((error as Error).message).toBe('Unexpected server response: 401');

    const invalid = (await app
      .injectWS('/echo/7?n=abc', { headers: { authorization: 'yes' } })
      .catch((e: unknown) => e)) as InjectWSError;
    expect(invalid.statusCode).toBe(400);
    const missing = (await app.injectWS('missing').catch((e: unknown) => e)) as InjectWSError;
    expect(missing.statusCode).toBe(404);
    await app.close();
  });

  test('subprotocols and per-route options apply to injected clients', async () => {
    const { app } = await build();
    const ws = collect(await app.injectWS('/proto', { protocols: ['a', 'b'] }));
    expect(ws.protocol).toBe('b');
    expect(await nextMessage(ws)).toBe('b');
    ws.close();
    await app.close();
  });
});
