/**
 * Public option and handler types of the plugin. Kept free of runtime code so that the module
 * augmentation of fastify (fastify-types.ts) and the implementation can both depend on them.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { ClientOptions, ServerOptions, WebSocket } from '@wskit/core';
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
  request: FastifyRequest<RouteGeneric, RawServer, RawRequest, SchemaCompiler, TypeProvider, ContextConfig, Logger>,
) => void | Promise<unknown>;

/** Called when a WebSocket handler throws or rejects; the socket is closed with 1011 afterwards if still open. */
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
  /** Handler errors (throw/reject). Default: log with `request.log.error`; the socket closes with 1011. */
  errorHandler?: WebSocketErrorHandler;
  /**
   * Runs first when the app closes, instead of the default "close every socket with 1001". Whatever is
   * still open afterwards is closed with 1001 and terminated after `closeTimeout`, so shutdown stays bounded.
   */
  preClose?: WebSocketPreClose;
  /** How long shutdown waits for close handshakes before terminating sockets (ms). Default 5000. */
  closeTimeout?: number;
  /** Close reason sent with 1001 on shutdown. Default 'Server shutting down'. */
  closeReason?: string;
}

/** What `injectWS` sends: extra request headers, subprotocols, and client options of the core WebSocket. */
export interface InjectWSContext extends Omit<ClientOptions, 'createConnection' | 'headers'> {
  headers?: Record<string, string>;
  protocols?: string | string[];
}
