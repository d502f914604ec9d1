/**
 * `app.use(websocket(options))`: on upgrade requests that reached the Koa chain (through the upgrade
 * dispatcher, see upgrade-dispatcher.ts), later middleware finds `ctx.ws` and `await ctx.ws()`
 * performs the handshake. Everything upstream has already run against the request, and anything the
 * chain answers instead (401, 403, Koa's 404) goes out as a real HTTP response.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type Koa from 'koa';
import {
  ClientSet,
  OPEN,
  TopicHub,
  closeAll,
  isPeerError,
  pendingUpgradeOf,
  type BroadcastOptions,
  type BufferLike,
  type Data,
  type PublishOptions,
  type TopicHubOptions,
  type UpgradeServer,
  type WebSocket,
  type Http2ServerLike,
} from '@wskit/core';
import type { AcceptWebSocket } from './context.js';
import { hookListen } from './listen-hook.js';
import { messagesReady } from './message-gate.js';
import { mergeRoute, normalizeRoute, type RouteOptions, type ServerShape } from './route-options.js';
import { ServerPool } from './server-pool.js';
import { attachServer, type ShouldHandle } from './upgrade-dispatcher.js';
import { isWebSocketRequest } from './upgrade-request.js';

/** The upgrade a request carries: the pipeline's, or (first request of an unattached server) Node's own socket. */
interface RouteUpgrade {
  accept(
    ws: ServerPool,
    shape: ServerShape,
    ready: (ws: WebSocket) => unknown,
    onError: (error: unknown, ws: WebSocket) => void,
  ): Promise<WebSocket | null>;
}

export type WebSocketErrorHook = (error: unknown, ws: WebSocket, ctx: Koa.Context) => void;

export interface KoaWebSocketOptions extends ServerShape {
  /**
   * Which upgrade requests on an attached server this plugin takes into the Koa chain. Default: every
   * request no other `upgrade` listener claimed. Requests it declines are left alone.
   */
  shouldHandle?: ShouldHandle;
  /**
   * Errors after the handshake (the route throwing, a listener throwing, socket errors): the socket is
   * closed with 1011. Default: the app's 'error' event. Protocol errors caused by the peer are not
   * errors of the app: they go to `onDebug`.
   */
  onError?: WebSocketErrorHook;
  /** Debug-level reports: protocol errors of peers (1002/1007/1009), resets before the handshake. Default: none. */
  onDebug?: (message: string, error: unknown) => void;
  /** Attach to the server a request arrived on and wrap `ctx.app.listen`. Default true. */
  autoAttach?: boolean;
  /** How long the middleware chain may take to answer or call `ctx.ws()` before 408 (ms). Default 10000. */
  upgradeTimeout?: number;
  /** Bounded wait for close handshakes in `close()` before terminating (ms). Default 5000. */
  shutdownTimeout?: number;
  /** Close reason sent with 1001 by `close()`. Default 'Server shutting down'. */
  closeReason?: string;
  /** Topic pub/sub settings (compression policy, slow consumers, canSubscribe), or a TopicHub to share. */
  topics?: TopicHub | TopicHubOptions;
}

export interface CloseOptions {
  code?: number;
  reason?: string;
  timeout?: number;
}

export interface KoaWebSocketMiddleware {
  (ctx: Koa.Context, next: Koa.Next): Promise<void>;
  /** Every open socket accepted by this plugin. */
  readonly clients: ClientSet<WebSocket>;
  /** Sends to every open socket of this plugin (framed once); returns how many it reached. */
  broadcast(data: Exclude<Data, Blob>, options?: BroadcastOptions<WebSocket>): number;
  /** The plugin's topic hub: sockets of every route subscribe here with `ws.subscribe(topic)`. */
  readonly topics: TopicHub;
  /** Sends to every subscriber of `topic`, whatever route it came through; returns how many it was queued for. */
  publish(topic: string, data: Exclude<BufferLike, Blob>, options?: PublishOptions): number;
  /** Listens for upgrades on this server, or on every server this app's `listen()` creates. */
  /** An HTTP/2 server (http2.createSecureServer(app.callback())) also takes RFC 8441 WebSocket streams. */
  attach(target: UpgradeServer | Http2ServerLike | Koa): this;
  /** Stops accepting (503), closes every socket with 1001, waits a bounded time, terminates the rest. */
  close(options?: CloseOptions): Promise<void>;
}

const acceptAll: ShouldHandle = () => true;

export function websocket(options: KoaWebSocketOptions = {}): KoaWebSocketMiddleware {
  const {
    shouldHandle = acceptAll,
    onError,
    onDebug,
    autoAttach = true,
    upgradeTimeout = 10_000,
    shutdownTimeout = 5000,
    closeReason = 'Server shutting down',
    topics: topicOptions,
    ...routeDefaults
  } = options;
  const defaults = normalizeRoute(routeDefaults);
  const clients = new ClientSet<WebSocket>();
  const topics = topicOptions instanceof TopicHub ? topicOptions : new TopicHub(topicOptions);
  const pool = new ServerPool(topics);
  const attached = new Map<UpgradeServer, () => void>();
  const hookedApps = new Map<Koa, () => void>();
  let closing = false;

  const attachTo = (server: UpgradeServer): void => {
    if (closing || attached.has(server)) return;
    attached.set(server, attachServer(server, { shouldHandle, upgradeTimeout, onDebug }));
  };
  const hookApp = (app: Koa): void => {
    if (closing || hookedApps.has(app)) return;
    hookedApps.set(app, hookListen(app, attachTo));
  };

  const report = (error: unknown, ws: WebSocket, ctx: Koa.Context): void => {
    if (isPeerError(error)) {
      onDebug?.('websocket peer error', error);
      return;
    }
    if (onError) {
      try {
        onError(error, ws, ctx);
        return;
      } catch (hookError) {
        error = hookError;
      }
    }
    if (ws.readyState === OPEN) ws.close(1011, 'Internal server error');
    ctx.app.emit('error', error instanceof Error ? error : new Error(String(error)), ctx);
  };

  const accept = async (
    ctx: Koa.Context,
    upgrade: RouteUpgrade,
    route: RouteOptions,
    chainSettled: Promise<void>,
  ): Promise<WebSocket> => {
    if (closing) throw Object.assign(new Error('Server is shutting down'), { status: 503, expose: true });
    const { clients: routeClients, ...shape } = normalizeRoute(route);
    const ws = await upgrade.accept(
      pool,
      shape,
      (socket) => messagesReady(socket, chainSettled),
      (error, socket) => report(error, socket, ctx),
    );
    if (!ws) throw new Error('ctx.ws(): the upgrade was answered, refused or abandoned before the handshake');
    ctx.respond = false;
    clients.track(ws);
    routeClients?.track(ws);
    if (closing) ws.close(1001, closeReason);
    return ws;
  };

  const middleware = async (ctx: Koa.Context, next: Koa.Next): Promise<void> => {
    if (autoAttach && !closing) observe(ctx);
    const upgrade = attachedUpgrade(ctx) ?? unattachedUpgrade(ctx, shouldHandle);
    if (!upgrade) return next();

    let settle!: () => void;
    const chainSettled = new Promise<void>((resolve) => (settle = resolve));
    let accepting: Promise<WebSocket> | undefined;
    const ws: AcceptWebSocket = (route = {}) =>
      (accepting ??= accept(ctx, upgrade, mergeRoute(defaults, route), chainSettled));
    ctx.ws = ws;
    try {
      await next();
    } catch (error) {
      if (!accepting) throw error;
      // The socket is no longer Koa's to answer on: the error goes to the hook instead.
      const socket = await accepting.catch(() => undefined);
      if (socket) report(error, socket, ctx);
      else throw error;
    } finally {
      settle();
    }
  };

  function observe(ctx: Koa.Context): void {
    hookApp(ctx.app);
    const server = (ctx.req.socket as Socket & { server?: NetServer }).server;
    if (server && typeof server.listeners === 'function') attachTo(server as UpgradeServer);
  }

  return Object.assign(middleware, {
    clients,
    broadcast(data: Exclude<Data, Blob>, broadcastOptions?: BroadcastOptions<WebSocket>): number {
      return clients.broadcast(data, broadcastOptions);
    },
    topics,
    publish(topic: string, data: Exclude<BufferLike, Blob>, publishOptions?: PublishOptions): number {
      return topics.publish(topic, data, publishOptions);
    },
    attach(this: KoaWebSocketMiddleware, target: UpgradeServer | Http2ServerLike | Koa) {
      if (typeof (target as Koa).callback === 'function') hookApp(target as Koa);
      else attachTo(target as UpgradeServer); // the core's pipeline tells an HTTP/2 server apart
      return this;
    },
    async close(closeOptions: CloseOptions = {}): Promise<void> {
      closing = true;
      for (const undo of attached.values()) undo();
      attached.clear();
      for (const undo of hookedApps.values()) undo();
      hookedApps.clear();
      await closeAll(clients, {
        code: closeOptions.code ?? 1001,
        reason: closeOptions.reason ?? closeReason,
        timeout: closeOptions.timeout ?? shutdownTimeout,
      });
      pool.close();
    },
  }) as KoaWebSocketMiddleware;
}

function attachedUpgrade(ctx: Koa.Context): RouteUpgrade | undefined {
  const pending = pendingUpgradeOf(ctx.req);
  if (!pending) return undefined;
  return {
    accept: (pool, shape, ready, onError) =>
      pending.accept(pool.serverFor(shape), ready, (error, ws) => onError(error, ws)),
  };
}

/**
 * An upgrade request that reached Koa as an ordinary request: Node does that while no `upgrade`
 * listener exists on the server, i.e. before this plugin was attached to it. The socket is still
 * driven by Node's HTTP parser, which is why attaching (explicitly, or automatically on the first
 * request) is the normal path; this one only covers the first connection of an unattached server.
 */
function unattachedUpgrade(ctx: Koa.Context, shouldHandle: ShouldHandle): RouteUpgrade | undefined {
  const req = ctx.req as Koa.Context['req'] & { upgrade?: boolean };
  if (req.upgrade || !isWebSocketRequest(req) || !shouldHandle(req)) return undefined;
  const res = ctx.res;
  return {
    async accept(pool, shape, ready, onError) {
      if (res.headersSent || res.writableEnded) return null;
      const ws = await pool.handshake(shape, req, req.socket, Buffer.alloc(0)).catch(() => null);
      if (ws) pool.adopt(ws, ready, onError);
      return ws;
    },
  };
}
