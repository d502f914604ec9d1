/**
 * The plain GET routes of an app or router that has `ws()`: they answer HTTP requests only. `get` on
 * that instance is replaced (an own property; Express itself is not touched) by one that registers the
 * same route with each handler passing an upgrade request on (`next('route')`), so a page and a
 * WebSocket endpoint can share a path — `app.get('/', page)` and `app.ws('/', handler)` — whatever the
 * order of declaration. The ws route, in turn, leaves a plain GET to an HTTP route declared on the same
 * path instead of answering 426.
 */
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { pendingUpgradeOf } from '@wskit/core';
import type { PathParams } from './ws-route.js';

type Get = (...args: unknown[]) => unknown;
type Handler = (req: Request, res: Response, next: NextFunction) => unknown;
type ErrorHandler = (error: unknown, req: Request, res: Response, next: NextFunction) => unknown;

const isUpgrade = (req: Request): boolean => pendingUpgradeOf(req as IncomingMessage) !== undefined;

function httpOnly(fn: unknown): unknown {
  if (typeof fn !== 'function') return fn; // Express reports the mistake
  if (fn.length === 4) {
    const onError = fn as ErrorHandler;
    return (error: unknown, req: Request, res: Response, next: NextFunction) =>
      isUpgrade(req) ? next('route') : onError(error, req, res, next);
  }
  const handler = fn as Handler;
  return (req: Request, res: Response, next: NextFunction) =>
    isUpgrade(req) ? next('route') : handler(req, res, next);
}

/** A key for a route path as declared (a string, a RegExp or an array of them). */
export function pathKey(path: PathParams): string {
  return Array.isArray(path) ? path.map(String).join('\u0000') : String(path);
}

/**
 * Replaces `target.get` and returns the original (which ws routes register with) and the set of paths
 * plain GET routes were declared with.
 */
export function separateHttpGets(target: { get: Get }): { registerGet: Get; httpPaths: ReadonlySet<string> } {
  const original = target.get;
  const httpPaths = new Set<string>();
  // Not a router (applyTo on something else): nothing to separate; ws() fails as Express would.
  if (typeof original !== 'function') return { registerGet: (...args) => target.get(...args), httpPaths };
  const registerGet: Get = (...args) => original.apply(target, args);
  target.get = function get(this: unknown, ...args: unknown[]): unknown {
    // app.get('setting') reads a setting; only route declarations are changed.
    if (args.length < 2) return original.apply(this, args);
    const [path, ...handlers] = args;
    httpPaths.add(pathKey(path as PathParams));
    return original.call(this, path, ...handlers.flat(Infinity).map(httpOnly));
  };
  return { registerGet, httpPaths };
}
