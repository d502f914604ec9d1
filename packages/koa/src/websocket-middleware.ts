/**
 * `app.use(websocket(options))`: on upgrade requests that reached the Koa chain (through the upgrade
 * dispatcher, see upgrade-dispatcher.ts), later middleware finds `ctx.ws` and `await ctx.ws()`
 * performs the handshake. Everything upstream has already run against the request, and anything the
 * chain answers instead (401, 403, Koa's 404) goes out as a real HTTP response.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type Koa from 'koa';
import { ClientSet, OPEN, closeAll, type BroadcastOptions, type Data, type WebSocket } from '@wskit/core';
import type { AcceptWebSocket } from './context.js';
import { hookListen } from './listen-hook.js';
import { holdMessagesUntilReady } from './message-gate.js';
import type { RouteOptions, ServerShape } from './route-options.js';
import { ServerPool } from './server-pool.js';
import { attachServer, type ShouldHandle, type UpgradeServer } from './upgrade-dispatcher.js';
import { getPendingUpgrade, isWebSocketRequest, type PendingUpgrade } from './upgrade-request.js';

export type WebSocketErrorHook = (error: unknown, ws: WebSocket, ctx: Koa.Context) => void;

export interface KoaWebSocketOptions extends ServerShape {
  /**
   * Which upgrade requests on an attached server this plugin takes into the Koa chain. Default: every
   * request no other `upgrade` listener claimed. Requests it declines are left alone.
   */
  shouldHandle?: ShouldHandle;
  /** Errors after the handshake (the route throwing, socket errors). Default: close 1011 + app 'error'. */
  onError?: WebSocketErrorHook;
  /** Attach to the server a request arrived on and wrap `ctx.app.listen`. Default true. */
  autoAttach?: boolean;
  /** Bounded wait for close handshakes in `close()` before terminating (ms). Default 5000. */
  shutdownTimeout?: number;
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
  /** Listens for upgrades on this server, or on every server this app's `listen()` creates. */
  attach(target: UpgradeServer | Koa): this;
  /** Stops accepting (503), closes every socket with 1001, waits a bounded time, terminates the rest. */
  close(options?: CloseOptions): Promise<void>;
}

const acceptAll: ShouldHandle = () => true;

export function websocket(options: KoaWebSocketOptions = {}): KoaWebSocketMiddleware {
  const { shouldHandle = acceptAll, onError, autoAttach = true, shutdownTimeout = 5000, ...defaults } = options;
  const clients = new ClientSet<WebSocket>();
  const pool = new ServerPool();
  const attached = new Map<UpgradeServer, () => void>();
  const hookedApps = new Map<Koa, () => void>();
  let closing = false;

  const attachTo = (server: UpgradeServer): void => {
    if (closing || attached.has(server)) return;
    attached.set(server, attachServer(server, shouldHandle));
  };
  const hookApp = (app: Koa): void => {
    if (closing || hookedApps.has(app)) return;
    hookedApps.set(app, hookListen(app, attachTo));
  };

  const report = (error: unknown, ws: WebSocket, ctx: Koa.Context): void => {
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
    upgrade: PendingUpgrade,
    route: RouteOptions,
    chainSettled: Promise<void>,
  ): Promise<WebSocket> => {
    if (closing) throw Object.assign(new Error('Server is shutting down'), { status: 503, expose: true });
    if (!upgrade.release()) throw new Error('ctx.ws() was called after a response was started');
    ctx.respond = false;
    const { clients: routeClients, ...shape } = route;
    const ws = await pool.handshake(shape, ctx.req, upgrade.socket, upgrade.head);
    clients.track(ws);
    routeClients?.track(ws);
    ws.on('error', (error: Error) => report(error, ws, ctx));
    holdMessagesUntilReady(ws, chainSettled);
    if (closing) ws.close(1001, 'Server shutting down');
    return ws;
  };

  const middleware = async (ctx: Koa.Context, next: Koa.Next): Promise<void> => {
    if (autoAttach && !closing) observe(ctx);
    const upgrade = getPendingUpgrade(ctx.req) ?? unattachedUpgrade(ctx, shouldHandle);
    if (!upgrade) return next();

    let settle!: () => void;
    const chainSettled = new Promise<void>((resolve) => (settle = resolve));
    let accepting: Promise<WebSocket> | undefined;
    const ws: AcceptWebSocket = (route = {}) =>
      (accepting ??= accept(ctx, upgrade, { ...defaults, ...route }, chainSettled));
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
    attach(this: KoaWebSocketMiddleware, target: UpgradeServer | Koa) {
      if (typeof (target as Koa).callback === 'function') hookApp(target as Koa);
      else attachTo(target as UpgradeServer);
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
        reason: closeOptions.reason ?? 'Server shutting down',
        timeout: closeOptions.timeout ?? shutdownTimeout,
      });
      pool.close();
    },
  }) as KoaWebSocketMiddleware;
}

/**
 * An upgrade request that reached Koa as an ordinary request: Node does that while no `upgrade`
 * listener exists on the server, i.e. before this plugin was attached to it. The socket is still
 * driven by Node's HTTP parser, which is why attaching (explicitly, or automatically on the first
 * request) is the normal path; this one only covers the first connection of an unattached server.
 */
function unattachedUpgrade(ctx: Koa.Context, shouldHandle: ShouldHandle): PendingUpgrade | undefined {
  const req = ctx.req as Koa.Context['req'] & { upgrade?: boolean };
  if (req.upgrade || !isWebSocketRequest(req) || !shouldHandle(req)) return undefined;
  const res = ctx.res;
  return {
    socket: req.socket,
    head: Buffer.alloc(0),
    release: () => !res.headersSent && !res.writableEnded,
  };
}
