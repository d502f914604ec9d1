/**
 * Type tests, checked by the root `tsc --noEmit` (and by types.test.ts in jest): `{ websocket: true }`
 * selects the `(socket, request)` signature, route generics and type providers reach the request, and
 * each `@ts-expect-error` line must really be an error (an unused one fails too).
 */
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyTypeProvider } from 'fastify';
import type { ClientSet, WebSocket, WebSocketServer } from '@wskit/core';
import websocket, { InjectWSError, type WebSocketHandler } from '@wskit/fastify';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertTrue = <T extends true>(_proof?: T): void => {};

/** A tiny type provider: object schemas whose properties are `{ type: 'number' }` or anything else (string). */
interface TinyProvider extends FastifyTypeProvider {
  validator: this['schema'] extends { properties: infer P }
    ? { [K in keyof P]: P[K] extends { type: 'number' } ? number : string }
    : unknown;
  serializer: this['schema'] extends { properties: infer P }
    ? { [K in keyof P]: P[K] extends { type: 'number' } ? number : string }
    : unknown;
}

async function typeTests(): Promise<void> {
  const app = Fastify();
  await app.register(websocket, {
    options: { maxPayload: 1024, heartbeat: { interval: 30_000, timeout: 10_000 } },
    closeTimeout: 100,
    errorHandler(error, socket, request, reply) {
      assertTrue<Equal<typeof error, unknown>>();
      assertTrue<Equal<typeof socket, WebSocket>>();
      void [request.url, reply.statusCode];
    },
  });
  assertTrue<Equal<typeof app.websocketServer, WebSocketServer>>();
  assertTrue<Equal<ReturnType<typeof app.websocketClients>, ClientSet>>();

  app.get('/plain', { websocket: true }, function (socket, request) {
    assertTrue<Equal<typeof socket, WebSocket>>();
    assertTrue<Equal<typeof request.ws, boolean>>();
    // Non-nullable on a WebSocket route: `request.websocketClients.broadcast()` compiles under --strict.
    assertTrue<Equal<typeof request.websocketClients, ClientSet>>();
    request.websocketClients.broadcast('hi');
    const instance: FastifyInstance = this;
    void instance;
    socket.send('hi');
  });

  // Route generics flow into the request of the ws handler.
  app.get<{ Params: { room: string }; Querystring: { nick: string } }>(
    '/chat/:room',
    { websocket: true, wsOptions: { maxPayload: 4096 } },
    async (socket, request) => {
      assertTrue<Equal<typeof request.params, { room: string }>>();
      assertTrue<Equal<typeof request.query, { nick: string }>>();
      // @ts-expect-error not a declared param
      void request.params.nope;
      socket.send(request.params.room);
    },
  );

  // So does a type provider, from the route's schema.
  const typed = app.withTypeProvider<TinyProvider>();
  typed.get(
    '/count/:n',
    {
      websocket: true,
      schema: { params: { type: 'object', properties: { n: { type: 'number' }, label: { type: 'string' } } } },
    },
    (socket, request) => {
      assertTrue<Equal<typeof request.params.n, number>>();
      assertTrue<Equal<typeof request.params.label, string>>();
      // @ts-expect-error n is a number
      const asString: string = request.params.n;
      socket.send(String(asString));
    },
  );

  // Without `websocket: true` the ordinary (request, reply) signature applies; request.ws is still typed.
  app.get('/http', {}, async (request: FastifyRequest, reply) => {
    assertTrue<Equal<typeof request.ws, boolean>>();
    return reply.send({ ok: true });
  });

  const wsHandler: WebSocketHandler = (socket, request) => socket.send(request.url);
  app.route({ method: 'GET', url: '/both', handler: async () => ({ ok: true }), wsHandler });

  const client: WebSocket = await app.injectWS('/plain', { headers: { cookie: 'a=b' }, protocols: ['v1'] });
  client.terminate();
  const failure = new InjectWSError(401, {}, 'no');
  assertTrue<Equal<typeof failure.statusCode, number>>();

  // @ts-expect-error the ws handler gets a core WebSocket
  app.get('/typo', { websocket: true }, (socket) => socket.sendd('x'));
  // @ts-expect-error the first parameter of a ws handler is the socket, not a string
  app.get('/wrong-socket', { websocket: true }, (socket: string) => socket);
  // @ts-expect-error route ws options are typed
  app.get('/bad-option', { websocket: true, wsOptions: { maxPayload: 'big' } }, (socket) => socket.close());
  // @ts-expect-error a route cannot bind its own port
  app.get('/own-port', { websocket: true, wsOptions: { port: 1 } }, (socket) => socket.close());
  // @ts-expect-error wsHandler gets a core WebSocket
  app.route({ method: 'GET', url: '/both-typo', handler: async () => ({}), wsHandler: (socket) => socket.sendd('x') });
  // @ts-expect-error the plugin always runs noServer
  await app.register(websocket, { options: { noServer: true } });
  // @ts-expect-error websocketClients takes a URL string
  app.websocketClients(1);
  // @ts-expect-error request.ws is a boolean
  app.get('/flag', { websocket: true }, (socket, request) => socket.send(request.ws.toUpperCase()));
}
void typeTests;
