/**
 * `wskitExpress(app, options)`: WebSocket routes for an Express 4 or 5 app, without touching Express's
 * prototypes. It adds `ws()` to the app (and to routers made or adopted through it), hooks the
 * `upgrade` event of the app's HTTP server(s) once each, and owns shutdown of every socket it accepted.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Router, RouterOptions } from 'express';
import {
  ClientSet,
  TopicHub,
  UpgradePipeline,
  WebSocketServer,
  closeAll,
  pendingUpgradeOf,
  type BufferLike,
  type PublishOptions,
  type ServerOptions,
  type WebSocket,
} from '@wskit/core';
import type { ErrorHook, SocketOptions, WskitExpressOptions } from './options.js';
import { routerFactoryOf, type RouterFactory } from './router-factory.js';
import { dispatchThroughApp, type RequestHandlingApp } from './upgrade-dispatcher.js';
import { createWsMethod, type RouteHost, type Routable, type WithWebSocket, type WsMethod } from './ws-method.js';
import type { WsRoute } from './ws-route.js';

export type AnyServer = HttpServer | HttpsServer;

export interface WskitExpressSetup extends WskitExpressOptions {
  /** Router factory (`express.Router`) for `Router()`; found from the app when omitted. */
  Router?: RouterFactory;
}

export interface WskitExpress<A> {
  /** The same app, now with `app.ws()`; `app.listen()` hooks the server it creates. */
  app: A & WithWebSocket;
  /** The shared noServer WebSocketServer for routes without their own options. */
  wss: WebSocketServer;
  /** Every socket accepted by any route of this plugin. */
  clients: ReadonlySet<WebSocket>;
  /** Every ws route registered through this plugin, in registration order. */
  routes: readonly WsRoute[];
  /** Adds `ws()` to this router / sub-app (the instance only). */
  applyTo<T extends Routable>(target: T): T & WithWebSocket;
  /** A new Express router (same Express copy as the app) with `ws()`. */
  Router(options?: RouterOptions): Router & WithWebSocket;
  /** Hooks a server created elsewhere (`http.createServer(app)`); idempotent per server. */
  attach<S extends AnyServer>(server: S): S;
  /** Stops accepting, closes every socket with 1001, waits up to `shutdownTimeout`, then terminates. */
  close(): Promise<void>;
  /** The app's one topic hub: sockets of every route subscribe here (`ws.subscribe(topic)`). */
  topics: TopicHub;
  /** Sends to every subscriber of `topic` on any route of the app; returns how many sockets it was queued for. */
  publish(topic: string, data: Exclude<BufferLike, Blob>, options?: PublishOptions): number;
}

export function wskitExpress<A extends Routable>(app: A, options: WskitExpressSetup = {}): WskitExpress<A> {
  const {
    server: initialServer,
    onError,
    onDebug,
    shutdownTimeout,
    closeReason,
    upgradeTimeout,
    Router: routerOption,
    shouldHandle,
    unmatched,
    ...socketDefaults
  } = options;
  const reportError: ErrorHook = onError ?? ((error) => console.error('[@wskit/express] websocket error:', error));
  // One hub for the app: a publish reaches the topic's subscribers on every route (each route may have its
  // own server); a route's `topics` option is ignored, its `canSubscribe` applies to its sockets.
  const topics =
    socketDefaults.topics instanceof TopicHub ? socketDefaults.topics : new TopicHub(socketDefaults.topics);
  const wss = new WebSocketServer({ ...toServerOptions(socketDefaults), topics });
  const servers = new Set<WebSocketServer>([wss]);
  const pipeline = new UpgradePipeline(
    {
      dispatch: (upgrade) => dispatchThroughApp(app as unknown as RequestHandlingApp, upgrade),
      onDebug: onDebug && ((message, error) => onDebug(message, error)),
    },
    {
      upgradeTimeout: upgradeTimeout ?? options.handshakeTimeout,
      shutdownTimeout,
      closeReason,
      unmatched,
      shouldHandle,
    },
  );
  const clients = pipeline.clients;
  /** The sockets each attached server accepted: closing one server shuts down only its own. */
  const clientsByServer = new Map<AnyServer, ClientSet<WebSocket>>();
  const routes: WsRoute[] = [];
  const detachers = new Map<AnyServer, () => void>();

  const host: RouteHost = {
    serverFor(routeOptions) {
      if (!routeOptions || Object.keys(routeOptions).length === 0) return wss;
      const merged: SocketOptions = { ...socketDefaults, ...routeOptions };
      // A route naming its protocols replaces an inherited selection function.
      if (routeOptions.protocols && !routeOptions.handleProtocols) delete merged.handleProtocols;
      const own = new WebSocketServer({ ...toServerOptions(merged), topics });
      servers.add(own);
      return own;
    },
    accept(route, req, handler) {
      const upgrade = pendingUpgradeOf(req);
      if (!upgrade || upgrade.settled) return;
      const origin = upgrade.server;
      void upgrade.accept(
        route.wss,
        (ws) => {
          route.clients.track(ws);
          if (origin) clientsByServer.get(origin)?.track(ws);
          return handler(ws, req, route);
        },
        (error, ws) => reportError(error, ws, req),
      );
    },
  };

  const applyTo = <T extends Routable>(target: T): T & WithWebSocket => {
    const method = createWsMethod(target, host);
    const withWs = target as T & WithWebSocket;
    withWs.ws = ((...args: Parameters<typeof method>) => {
      const route = method(...args);
      routes.push(route);
      return route;
    }) as WsMethod;
    return withWs;
  };

  const attach = <S extends AnyServer>(server: S): S => {
    if (detachers.has(server) || pipeline.closing) return server;
    pipeline.attach(server);
    const own = new ClientSet<WebSocket>();
    clientsByServer.set(server, own);
    // Closing the server shuts its sockets down too (an instance property, not a prototype patch):
    // upgraded sockets would otherwise keep `server.close()` from ever completing. Only this server's.
    const hadOwnClose = Object.prototype.hasOwnProperty.call(server, 'close');
    const ownClose = server.close as (this: S, callback?: (error?: Error) => void) => S;
    const wrappedClose = function (this: S, callback?: (error?: Error) => void): S {
      detachers.get(server)?.();
      void closeAll(own, { code: 1001, reason: pipeline.closeReason, timeout: pipeline.shutdownTimeout });
      if (detachers.size === 0) void shutdown();
      return ownClose.call(this, callback);
    };
    server.close = wrappedClose as S['close'];
    detachers.set(server, () => {
      detachers.delete(server);
      pipeline.detach(server);
      if (server.close !== wrappedClose) return;
      if (hadOwnClose) server.close = ownClose as S['close'];
      else delete (server as Partial<AnyServer>).close;
    });
    return server;
  };

  let closing: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    if (closing) return closing;
    for (const detach of [...detachers.values()]) detach();
    closing = pipeline.close().then(() => {
      for (const server of servers) server.close();
    });
    return closing;
  };

  const expressApp = applyTo(app);
  const listenable = expressApp as unknown as { listen?: (...args: unknown[]) => AnyServer };
  const ownListen = listenable.listen;
  if (typeof ownListen === 'function') {
    listenable.listen = function (this: unknown, ...args: unknown[]): AnyServer {
      return attach(ownListen.apply(this, args));
    };
  }
  if (initialServer) attach(initialServer);

  let routerFactory: RouterFactory | null | undefined = routerOption;
  return {
    app: expressApp,
    wss,
    clients,
    routes,
    applyTo,
    Router(routerOptions) {
      routerFactory ??= routerFactoryOf(app);
      if (!routerFactory) {
        throw new Error(
          "@wskit/express: cannot find this app's Router; pass { Router: express.Router } or use applyTo(express.Router())",
        );
      }
      return applyTo(routerFactory(routerOptions));
    },
    attach,
    close: shutdown,
    topics,
    publish: (topic, data, publishOptions) => topics.publish(topic, data, publishOptions),
  };
}

function toServerOptions(options: SocketOptions): ServerOptions {
  const { protocols, ...rest } = options;
  const serverOptions: ServerOptions = { ...rest, noServer: true };
  if (protocols && !serverOptions.handleProtocols) {
    const preferred = [...protocols];
    serverOptions.handleProtocols = (offered) => preferred.find((p) => offered.has(p)) ?? false;
  }
  return serverOptions;
}
