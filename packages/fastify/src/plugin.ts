/**
 * The plugin: one `upgrade` listener that dispatches every upgrade request through Fastify's router and
 * lifecycle with a real response bound to the socket, and an `onRoute` hook that turns WebSocket routes'
 * handlers into "upgrade here" handlers. Whatever the hooks answer (401, 400 from schema validation, the
 * error handler's reply, the 404 handler) is a genuine HTTP response on the upgrade socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ClientSet,
  WebSocketServer,
  closeAll,
  createUpgradeResponse,
  isHttp2Server,
  listenForWebSocketStreams,
  routeAsGet,
  runHandler,
  writeHttpError,
  type UpgradeResponse,
  type WebSocket,
} from '@wskit/core';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import './fastify-types.js';
import { createInjector } from './inject.js';
import type {
  WebSocketErrorHandler,
  WebSocketHandler,
  WebSocketOptions,
  WebSocketPluginOptions,
  WebSocketPreClose,
} from './options.js';

interface PendingUpgrade {
  socket: Duplex;
  head: Buffer;
  res: UpgradeResponse;
  /** The deadline passed and 408 was answered. */
  expired: boolean;
  /** Cancels the deadline. */
  stop: () => void;
}

type HttpHandler = (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => unknown;

const DEFAULT_CLOSE_TIMEOUT = 5000;
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

const defaultErrorHandler: WebSocketErrorHandler = function (error, _socket, request) {
  request.log.error({ err: error }, 'websocket handler failed');
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
      (result as PromiseLike<unknown>).then(() => done(), (error: unknown) => done(error instanceof Error ? error : new Error(String(error))));
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
    next(new TypeError('errorHandler must be a function'));
    return;
  }
  if (opts.preClose !== undefined && typeof opts.preClose !== 'function') {
    next(new TypeError('preClose must be a function'));
    return;
  }
  const errorHandler = opts.errorHandler ?? defaultErrorHandler;
  const closeTimeout = opts.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
  const closeReason = opts.closeReason ?? 'Server shutting down';

  const defaultServer = new WebSocketServer({ ...defaults, noServer: true });
  const servers = new Set<WebSocketServer>([defaultServer]);
  const allClients = new ClientSet();
  const clientsByUrl = new Map<string, ClientSet>();
  // Keyed by the raw request: Fastify hands the same IncomingMessage to every hook and the handler.
  const pending = new WeakMap<IncomingMessage, PendingUpgrade>();
  let closing = false;

  const handshakeTimeout = defaults.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node leaves upgrade sockets without an error listener; an aborted client must not crash the process.
    socket.on('error', () => socket.destroy());
    const res = createUpgradeResponse(req, socket);
    // Upgrade sockets are outside Node's request timeouts: a hook that never finishes must not hold one forever.
    const upgrade: PendingUpgrade = { socket, head, res, expired: false, stop: () => clearTimeout(timer) };
    const timer = setTimeout(() => {
      if (res.headersSent || !res.release()) return;
      upgrade.expired = true;
      writeHttpError(socket, 408, 'Request Timeout');
    }, handshakeTimeout);
    timer.unref();
    socket.once('close', upgrade.stop);
    res.once('finish', upgrade.stop);
    pending.set(req, upgrade);
    try {
      fastify.routing(req, res);
    } catch (error) {
      fastify.log.warn({ err: error }, 'websocket upgrade failed');
      socket.destroy();
    }
  };
  const upgradeSource = listenServer ?? fastify.server;
  upgradeSource.on('upgrade', onUpgrade);
  // HTTP/2 (`http2: true`, RFC 8441): extended CONNECT streams take the same path, routed as a GET.
  const stopStreams = isHttp2Server(upgradeSource)
    ? listenForWebSocketStreams(upgradeSource, (req, stream) => onUpgrade(routeAsGet(req), stream, Buffer.alloc(0)))
    : null;
  const injector = createInjector(onUpgrade);

  fastify.decorate('websocketServer', defaultServer);
  fastify.decorate('injectWS', async function injectWS(this: FastifyInstance, path = '/', context = {}) {
    await fastify.ready();
    return injector.inject(path, context);
  });
  fastify.decorate('websocketClients', function websocketClients(url?: string): ClientSet {
    if (url === undefined) return allClients;
    const clients = clientsByUrl.get(url);
    if (!clients) throw new Error(`No WebSocket route is declared with the URL ${url}`);
    return clients;
  });
  fastify.decorateRequest('ws', {
    getter(this: FastifyRequest): boolean {
      return pending.has(this.raw);
    },
  });
  fastify.decorateRequest('websocketClients', {
    getter(this: FastifyRequest): ClientSet | null {
      const url = this.routeOptions.url;
      return (url !== undefined && clientsByUrl.get(url)) || null;
    },
  });

  function serverFor(wsOptions: WebSocketOptions | undefined): WebSocketServer {
    if (!wsOptions) return defaultServer;
    const server = new WebSocketServer({ ...defaults, ...wsOptions, noServer: true });
    servers.add(server);
    return server;
  }

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const isWebSocketOnly = route.websocket === true;
    if (!isWebSocketOnly && route.wsHandler === undefined) {
      if (route.wsOptions !== undefined) {
        throw new Error(`Route ${route.url}: wsOptions needs websocket: true or a wsHandler`);
      }
      return;
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.some((method) => method !== 'GET' && method !== 'HEAD')) {
      throw new Error(`Route ${route.url}: a WebSocket route must use the GET method`);
    }
    const wsHandler = (isWebSocketOnly ? route.handler : route.wsHandler) as unknown as WebSocketHandler;
    if (typeof wsHandler !== 'function') throw new TypeError(`Route ${route.url}: the WebSocket handler must be a function`);
    const httpHandler = (isWebSocketOnly ? notFound : route.handler) as HttpHandler;
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

    route.handler = function websocketRouteHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const upgrade = pending.get(request.raw);
      if (!upgrade) return httpHandler.call(this, request, reply);
      if (closing) {
        reply.code(503).header('Connection', 'close').send();
        return;
      }
      reply.hijack();
      // False when a response was already started (or the deadline answered 408): nothing to upgrade.
      if (upgrade.expired || !upgrade.res.release()) return;
      upgrade.stop();
      wss.handleUpgrade(request.raw, upgrade.socket, upgrade.head, (ws: WebSocket) => {
        routeClients.track(ws);
        allClients.track(ws);
        ws.on('error', (error: Error) => request.log.error({ err: error }, 'websocket error'));
        wss.emit('connection', ws, request.raw);
        void runHandler(
          ws,
          () => wsHandler.call(this, ws, request),
          (error) => errorHandler.call(this, error, ws, request, reply),
        );
      });
    };
  });

  fastify.addHook('preClose', async function shutdownWebSockets(this: FastifyInstance) {
    closing = true;
    if (opts.preClose) {
      try {
        await callOnce(opts.preClose, this);
      } catch (error) {
        fastify.log.error({ err: error }, 'websocket preClose failed');
      }
    }
    // Whatever preClose left open is closed here, so the HTTP server's close is never held up for long.
    await closeAll(allClients, { code: 1001, reason: closeReason, timeout: closeTimeout });
    await Promise.all([...servers].map((wss) => new Promise<void>((resolve) => wss.close(() => resolve()))));
  });

  fastify.addHook('onClose', (_instance, done) => {
    upgradeSource.removeListener('upgrade', onUpgrade);
    stopStreams?.();
    injector.close();
    done();
  });

  next();
};

export const fastifyWebSocket = fp(websocketPlugin, { fastify: '5.x', name: '@wskit/fastify' });
