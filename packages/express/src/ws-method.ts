/**
 * `app.ws()` / `router.ws()`: registers a WebSocket endpoint as an ordinary Express GET route, so the
 * app's own router matches it (params, prefixes, `app.param`) and runs its middleware first. The last
 * handler of that route is a gate: on an upgrade request (marked by the dispatcher) it takes the socket
 * and performs the handshake; on a plain GET it answers 426 Upgrade Required, unless a plain GET route
 * was declared on the same path of the same app or router (see http-get.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ParamsDictionary, RouteParameters } from 'express-serve-static-core';
import { pendingUpgradeOf, type WebSocket, type WebSocketServer } from '@wskit/core';
import type { SocketOptions } from './options.js';
import { pathKey, separateHttpGets } from './http-get.js';
import { WsRoute, type PathParams } from './ws-route.js';

/** The handler of a ws route; `req.params` is typed from the path, as `app.get` types it. */
export type WsHandler<P = ParamsDictionary> = (ws: WebSocket, req: Request<P>, route: WsRoute) => unknown;

/** The params a path declares (`/rooms/:room` → `{ room: string }`), as Express's own types infer them. */
export type ParamsOf<Path> = Path extends string ? RouteParameters<Path> : ParamsDictionary;
/**
 * Route middleware. Typed as plain request handlers so inline functions get their parameter types;
 * an error-handling middleware `(err, req, res, next)` also works at runtime (cast it).
 */
export type Middleware = RequestHandler;
export type MiddlewareArg = Middleware | ReadonlyArray<Middleware>;

export interface WsMethod {
  <Path extends PathParams>(path: Path, ...stack: [...MiddlewareArg[], WsHandler<ParamsOf<Path>>]): WsRoute;
  <Path extends PathParams>(
    path: Path,
    options: SocketOptions,
    ...stack: [...MiddlewareArg[], WsHandler<ParamsOf<Path>>]
  ): WsRoute;
}

export interface WithWebSocket {
  ws: WsMethod;
}

/** Anything with Express's `get(path, ...handlers)` route method: an app, a Router, a sub-app. */
export interface Routable {
  get(...args: unknown[]): unknown;
}

/** What the plugin provides to the routes it registers. */
export interface RouteHost {
  /** The server that does handshakes with these options (the shared default one when undefined). */
  serverFor(options: SocketOptions | undefined): WebSocketServer;
  /** Hands the socket to the pipeline: tracking, the error hook and holding early messages. */
  accept(route: WsRoute, req: Request, handler: WsHandler): void;
}

const UPGRADE_REQUIRED = 'Upgrade Required';

export function createWsMethod(target: Routable, host: RouteHost): WsMethod {
  const { registerGet, httpPaths } = separateHttpGets(target);
  return ((path: PathParams, ...rest: unknown[]): WsRoute => {
    let options: SocketOptions | undefined;
    if (rest.length > 0 && isOptions(rest[0])) options = rest.shift() as SocketOptions;
    const handler = rest.pop();
    if (typeof handler !== 'function') throw new TypeError('ws(): the last argument must be the socket handler');
    const middleware = rest.flat(1);
    for (const fn of middleware) {
      if (typeof fn !== 'function') throw new TypeError('ws(): middleware must be functions');
    }
    const route = new WsRoute(path, host.serverFor(options));
    const key = pathKey(path);
    registerGet(
      path,
      ...middleware,
      gate(route, handler as WsHandler, host, () => httpPaths.has(key)),
    );
    return route;
  }) as WsMethod;
}

function isOptions(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function gate(route: WsRoute, handler: WsHandler, host: RouteHost, sharesPath: () => boolean): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!pendingUpgradeOf(req as IncomingMessage)) {
      // An HTTP GET route declared on the same path (before or after this one) answers plain requests.
      if (sharesPath()) {
        next('route');
        return;
      }
      res.statusCode = 426;
      res.setHeader('Upgrade', 'websocket');
      res.setHeader('Connection', 'Upgrade');
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(UPGRADE_REQUIRED));
      res.end(UPGRADE_REQUIRED);
      return;
    }
    host.accept(route, req, handler);
  };
}
