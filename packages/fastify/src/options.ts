/**
 * Public option and handler types of the plugin. Kept free of runtime code so that the module
 * augmentation of fastify (fastify-types.ts) and the implementation can both depend on them.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { ClientOptions, ClientSet, ServerOptions, WebSocket } from '@wskit/core';
import type {
  ContextConfigDefault,
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  FastifyTypeProvider,
  FastifyTypeProviderDefault,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RouteGenericInterface,
} from 'fastify';

/**
 * WebSocket server options (those of `@wskit/core`'s WebSocketServer, `ws` compatible) that make sense
 * for a server driven by Fastify's router: no own port/server/path, always noServer.
 */
export type WebSocketOptions = Omit<ServerOptions, 'port' | 'host' | 'backlog' | 'server' | 'noServer' | 'path'>;

/** The handler of a WebSocket route: the open socket and the request that passed the route's hooks. */
export type WebSocketHandler<
  RawServer extends RawServerBase = RawServerDefault,
  RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
  RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
  ContextConfig = ContextConfigDefault,
  SchemaCompiler extends FastifySchema = FastifySchema,
  TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
  Logger extends FastifyBaseLogger = FastifyBaseLogger,
> = (
  this: FastifyInstance<RawServer, RawRequest, RawReplyDefaultExpression<RawServer>, Logger, TypeProvider>,
  socket: WebSocket,
  // On a WebSocket route the route's client set always exists.
  request: FastifyRequest<RouteGeneric, RawServer, RawRequest, SchemaCompiler, TypeProvider, ContextConfig, Logger> & {
    websocketClients: ClientSet;
  },
) => void | Promise<unknown>;

/**
 * Called when a WebSocket handler throws or rejects, a listener on the socket throws (the socket is closed
 * with 1011 afterwards if still open), or the socket fails after the handshake. Protocol errors caused by
 * the peer (1002/1007/1009) are not: they are logged at debug level.
 */
export type WebSocketErrorHandler = (
  this: FastifyInstance,
  error: unknown,
  socket: WebSocket,
  request: FastifyRequest,
  reply: FastifyReply,
) => void;

/** Replaces the plugin's own first shutdown step; either call `done` or return a promise (called once). */
export type WebSocketPreClose = (this: FastifyInstance, done: (error?: Error) => void) => void | Promise<unknown>;

export interface WebSocketPluginOptions {
  /** Defaults for every WebSocket route; a route's `wsOptions` override them. */
  options?: WebSocketOptions & {
    /** Listen for upgrades on this server instead of `fastify.server` (e.g. a second listener). */
    server?: HttpServer | HttpsServer;
  };
  /**
   * Handler errors (throw/reject), exceptions thrown by the socket's listeners and socket errors after the
   * handshake. Errors the peer caused (protocol errors 1002/1007/1009, resets) are logged at debug level
   * instead, for every plugin alike. Default: log with `request.log.error`; the socket closes with 1011.
   */
  errorHandler?: WebSocketErrorHandler;
  /**
   * Runs first when the app closes, instead of the default "close every socket with 1001". Whatever is
   * still open afterwards is closed with 1001 and terminated after `closeTimeout`, so shutdown stays bounded.
   */
  preClose?: WebSocketPreClose;
  /** How long shutdown waits for close handshakes before terminating sockets (ms). Default 5000. */
  shutdownTimeout?: number;
  /** @deprecated the old name of `shutdownTimeout`. */
  closeTimeout?: number;
  /** Close reason sent with 1001 on shutdown. Default 'Server shutting down'. */
  closeReason?: string;
  /** How long the hooks may take to answer or reach the route before the upgrade is answered 408 (ms). Default 10000. */
  upgradeTimeout?: number;
  /** Which upgrade requests go through Fastify; false leaves the socket to another `upgrade` listener. Default: all. */
  shouldHandle?: (req: IncomingMessage) => boolean;
}

/** What `injectWS` sends: extra request headers, subprotocols, and client options of the core WebSocket. */
export interface InjectWSContext extends Omit<ClientOptions, 'createConnection' | 'headers'> {
  headers?: Record<string, string>;
  protocols?: string | string[];
  /** Called with the client socket before the handshake: listeners added here see the server's first message. */
  onInit?: (ws: WebSocket) => void;
  /** Called with the client socket on 'open', before the promise resolves. */
  onOpen?: (ws: WebSocket) => void;
}

/** `injectWS`'s third argument, as in @fastify/websocket: the same hooks as `InjectWSContext`'s (these win). */
export interface InjectWSHooks {
  onInit?: (ws: WebSocket) => void;
  onOpen?: (ws: WebSocket) => void;
}
