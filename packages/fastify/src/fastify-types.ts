/**
 * Module augmentation of fastify: the `websocket`/`wsOptions` route options, `wsHandler` on full route
 * declarations, a shorthand overload whose handler receives the socket, and the decorators.
 */
import type { ClientSet, WebSocket, WebSocketServer } from '@wskit/core';
import type {
  ContextConfigDefault,
  FastifyBaseLogger,
  FastifySchema,
  FastifyTypeProvider,
  FastifyTypeProviderDefault,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RouteGenericInterface,
} from 'fastify';
import type { InjectWSContext, InjectWSHooks, WebSocketHandler, WebSocketOptions } from './options.js';

declare module 'fastify' {
  interface RouteShorthandOptions<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
    ContextConfig = ContextConfigDefault,
    SchemaCompiler extends FastifySchema = FastifySchema,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
  > {
    /** The route's handler is a WebSocket handler `(socket, request)`; plain HTTP requests get 404. */
    websocket?: boolean;
    /** WebSocket options of this route, overriding the plugin's `options`. */
    wsOptions?: WebSocketOptions;
    /** WebSocket handler next to an HTTP `handler` on the same URL. */
    wsHandler?: WebSocketHandler<
      RawServer,
      RawRequest,
      RouteGeneric,
      ContextConfig,
      SchemaCompiler,
      TypeProvider,
      Logger
    >;
  }

  interface RouteShorthandMethod<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
  > {
    <
      RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
      ContextConfig = ContextConfigDefault,
      const SchemaCompiler extends FastifySchema = FastifySchema,
    >(
      path: string,
      opts: RouteShorthandOptions<
        RawServer,
        RawRequest,
        RawReply,
        RouteGeneric,
        ContextConfig,
        SchemaCompiler,
        TypeProvider,
        Logger
      > & {
        websocket: true;
      },
      handler: WebSocketHandler<
        RawServer,
        RawRequest,
        RouteGeneric,
        ContextConfig,
        SchemaCompiler,
        TypeProvider,
        Logger
      >,
    ): FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider>;
  }

  interface FastifyInstance<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
  > {
    /** The WebSocket server of routes without their own `wsOptions`. */
    websocketServer: WebSocketServer;
    /**
     * Connects a client over an in-memory stream pair, through the full hook chain. Rejects with an
     * `InjectWSError` (statusCode, headers, body) when the upgrade was answered with an HTTP response.
     */
    injectWS(path?: string, context?: InjectWSContext, hooks?: InjectWSHooks): Promise<WebSocket>;
    /** Open sockets of the WebSocket route declared with this URL (prefix included), or of all routes. */
    websocketClients(url?: string): ClientSet;
  }

  interface FastifyRequest {
    /** True when the request is a WebSocket upgrade. */
    ws: boolean;
    /** Open sockets of the WebSocket route this request matched (null for non-WebSocket requests). */
    websocketClients: ClientSet | null;
  }
}
