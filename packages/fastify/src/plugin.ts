/**
 * The plugin: one `upgrade` listener that dispatches every upgrade request through Fastify's router and
 * lifecycle with a real response bound to the socket, and an `onRoute` hook that turns WebSocket routes'
 * handlers into "upgrade here" handlers. Whatever the hooks answer (401, 400 from schema validation, the
 * error handler's reply, the 404 handler) is a genuine HTTP response on the upgrade socket.
 */
import { ClientSet, TopicHub, UpgradePipeline, WebSocketServer, pendingUpgradeOf } from '@wskit/core';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import './fastify-types.js';
import { createInjector } from './inject.js';
import type {
  InjectWSContext,
  InjectWSHooks,
  WebSocketErrorHandler,
  WebSocketHandler,
  WebSocketOptions,
  WebSocketPluginOptions,
  WebSocketPreClose,
} from './options.js';

type HttpHandler = (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => unknown;

const defaultErrorHandler: WebSocketErrorHandler = function (error, _socket, request) {
  request.log.error({ err: error }, 'websocket error');
};

function notFound(this: FastifyInstance, _request: FastifyRequest, reply: FastifyReply): void {
  // A WebSocket-only route does not exist for plain HTTP (as in @fastify/websocket).
  reply.code(404).send();
}

/** Calls a done-or-promise style function and settles once, whichever way it finishes first. */
function callOnce(fn: WebSocketPreClose, instance: FastifyInstance): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (error?: Error): void => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };
    const result = fn.call(instance, done);
    if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(
        () => done(),
        (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
      );
    } else if (fn.length === 0) {
      done();
    }
  });
}

const websocketPlugin: FastifyPluginCallback<WebSocketPluginOptions> = (fastify, opts, next) => {
  const { server: listenServer, ...defaults } = opts.options ?? {};
  if ((defaults as { noServer?: unknown }).noServer !== undefined) {
    next(new Error('@wskit/fastify always runs its WebSocket servers in noServer mode; do not pass options.noServer'));
    return;
  }
  if ((defaults as { path?: unknown }).path !== undefined) {
    next(new Error('@wskit/fastify routes by Fastify routes; declare a route instead of options.path'));
    return;
  }
  if (opts.errorHandler !== undefined && typeof opts.errorHandler !== 'function') {
    next(new TypeError('invalid errorHandler function'));
    return;
  }
  if (opts.preClose !== undefined && typeof opts.preClose !== 'function') {
    next(new TypeError('invalid preClose function'));
    return;
  }
  const errorHandler = opts.errorHandler ?? defaultErrorHandler;

  // One topic hub for the app: `fastify.websocketServer.publish()` (or any route server's) reaches the
  // topic's subscribers on every route; a route's wsOptions.canSubscribe applies to its sockets.
  let topics: TopicHub;
  let defaultServer: WebSocketServer;
  let pipeline: UpgradePipeline;
  try {
    // Bad options (topics' included) reject register() (and so ready()/listen()) instead of throwing out of
    // the plugin.
    topics = defaults.topics instanceof TopicHub ? defaults.topics : new TopicHub(defaults.topics);
    defaultServer = new WebSocketServer({ ...defaults, topics, noServer: true });
    pipeline = new UpgradePipeline(
      {
        dispatch: (upgrade) => fastify.routing(upgrade.req, upgrade.res),
        onDebug: (message, error) => fastify.log.debug({ err: error }, message),
      },
      {
        upgradeTimeout: opts.upgradeTimeout ?? defaults.handshakeTimeout,
        shutdownTimeout: opts.shutdownTimeout ?? opts.closeTimeout,
        closeReason: opts.closeReason,
        shouldHandle: opts.shouldHandle,
      },
    );
  } catch (error) {
    next(error instanceof Error ? error : new Error(String(error)));
    return;
  }
  const servers = new Set<WebSocketServer>([defaultServer]);
  const allClients = pipeline.clients;
  const clientsByUrl = new Map<string, ClientSet>();
  /** URLs of the routes declared since this plugin was loaded (its onRoute hook saw them). */
  const routesSeen = new Set<string>();
  /** Routes declared before the plugin that an upgrade reached (logged once each). */
  const routesReported = new Set<string>();

  const upgradeSource = listenServer ?? fastify.server;
  pipeline.attach(upgradeSource);
  const injector = createInjector((req, socket, head) => pipeline.handle(req, socket, head));

  fastify.decorate('websocketServer', defaultServer);
  fastify.decorate(
    'injectWS',
    async function injectWS(
      this: FastifyInstance,
      path = '/',
      context: InjectWSContext = {},
      hooks: InjectWSHooks = {},
    ) {
      await fastify.ready();
      // @fastify/websocket takes { onInit, onOpen } as a third argument; the context may carry them too.
      const onInit = hooks.onInit ?? context.onInit;
      const onOpen = hooks.onOpen ?? context.onOpen;
      return injector.inject(path, { ...context, onInit, onOpen });
    },
  );
  fastify.decorate('websocketClients', function websocketClients(url?: string): ClientSet {
    if (url === undefined) return allClients;
    const clients = clientsByUrl.get(url);
    if (!clients) throw new Error(`No WebSocket route is declared with the URL ${url}`);
    return clients;
  });
  fastify.decorateRequest('ws', {
    getter(this: FastifyRequest): boolean {
      return pendingUpgradeOf(this.raw) !== undefined;
    },
  });
  fastify.decorateRequest('websocketClients', {
    getter(this: FastifyRequest): ClientSet | null {
      const url = this.routeOptions.url;
      return (url !== undefined && clientsByUrl.get(url)) || null;
    },
  });

  // Fastify runs onRoute hooks when a route is declared, so a route declared before this plugin was loaded
  // (`app.get(url, { websocket: true }, …)` before `await app.register(websocket)`, or right after a
  // register() that was not awaited) never reaches onRoute: Fastify keeps no trace of its `websocket` flag,
  // so it cannot be made a WebSocket route afterwards, and its handler would run with (request, reply).
  // This plugin's hooks do apply to the routes of the instance it is registered in, whenever they were
  // declared, so an upgrade to such a route is answered here with an error that names the cause, before
  // any handler runs.
  fastify.addHook('onRequest', (request, reply, done) => {
    const url = request.routeOptions.url;
    if (url === undefined || request.is404 || routesSeen.has(url) || !pendingUpgradeOf(request.raw)) {
      done();
      return;
    }
    const message =
      `GET ${url} was declared before @wskit/fastify was loaded, so it is not a WebSocket route. ` +
      'Register the plugin first (await app.register(websocket)) or declare the route in a plugin ' +
      'registered after it.';
    if (!routesReported.has(url)) {
      routesReported.add(url);
      request.log.error(message);
    }
    reply
      .code(500)
      .send({ statusCode: 500, code: 'WS_ERR_ROUTE_BEFORE_PLUGIN', error: 'Internal Server Error', message });
  });

  function serverFor(wsOptions: WebSocketOptions | undefined): WebSocketServer {
    if (!wsOptions) return defaultServer;
    const server = new WebSocketServer({ ...defaults, ...wsOptions, topics, noServer: true });
    servers.add(server);
    return server;
  }

  fastify.addHook('onRoute', (route: RouteOptions) => {
    routesSeen.add(route.url);
    const isWebSocketOnly = route.websocket === true;
    if (!isWebSocketOnly && route.wsHandler === undefined) {
      if (route.wsOptions !== undefined) {
        throw new Error(`Route ${route.url}: wsOptions needs websocket: true or a wsHandler`);
      }
      return;
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.some((method) => method !== 'GET' && method !== 'HEAD')) {
      throw new Error('websocket handler can only be declared in GET method');
    }
    const wsHandler = (isWebSocketOnly ? route.handler : route.wsHandler) as unknown as WebSocketHandler;
    if (typeof wsHandler !== 'function') throw new TypeError('invalid wsHandler function');
    const httpHandler = (isWebSocketOnly ? notFound : route.handler) as HttpHandler;
    // WebSocket-only routes are not HTTP endpoints: hidden from @fastify/swagger, as with @fastify/websocket.
    if (isWebSocketOnly) route.schema = { ...route.schema, hide: true } as RouteOptions['schema'];
    if (!methods.includes('GET')) {
      // The HEAD twin Fastify derives from a GET route: never an upgrade.
      route.handler = httpHandler;
      return;
    }

    let clients = clientsByUrl.get(route.url);
    if (!clients) {
      clients = new ClientSet();
      clientsByUrl.set(route.url, clients);
    }
    const routeClients = clients;
    const wss = serverFor(route.wsOptions);

    route.handler = function websocketRouteHandler(
      this: FastifyInstance,
      request: FastifyRequest,
      reply: FastifyReply,
    ) {
      const upgrade = pendingUpgradeOf(request.raw);
      if (!upgrade) return httpHandler.call(this, request, reply);
      reply.hijack();
      // Resolves null when a response was already started, the deadline answered 408 or shutdown began (503).
      void upgrade.accept(
        wss,
        (ws) => {
          routeClients.track(ws);
          return wsHandler.call(this, ws, request as FastifyRequest & { websocketClients: ClientSet });
        },
        (error, ws) => errorHandler.call(this, error, ws, request, reply),
      );
    };
  });

  fastify.addHook('preClose', async function shutdownWebSockets(this: FastifyInstance) {
    pipeline.stop();
    if (opts.preClose) {
      try {
        await callOnce(opts.preClose, this);
      } catch (error) {
        fastify.log.error({ err: error }, 'websocket preClose failed');
      }
    }
    // Whatever preClose left open is closed here, so the HTTP server's close is never held up for long.
    await pipeline.close();
    await Promise.all([...servers].map((wss) => new Promise<void>((resolve) => wss.close(() => resolve()))));
  });

  fastify.addHook('onClose', (_instance, done) => {
    pipeline.detach(upgradeSource);
    injector.close();
    done();
  });

  next();
};

export const fastifyWebSocket = fp(websocketPlugin, { fastify: '5.x', name: '@wskit/fastify' });
