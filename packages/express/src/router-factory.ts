/**
 * Finds the `Router` factory of the Express copy that made an app, so routers created through the
 * plugin come from the same Express major as the app (4 and 5 ship different routers). Read-only: it
 * looks at the app's own router instance and patches nothing.
 */
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import type { Router, RouterOptions } from 'express';

export type RouterFactory = (options?: RouterOptions) => Router;

interface Express4App {
  lazyrouter(): void;
  _router: object;
}

interface ExpressModule {
  Router: RouterFactory;
}

export function routerFactoryOf(app: object): RouterFactory | null {
  if (typeof (app as Partial<Express4App>).lazyrouter === 'function') {
    // Express 4: a router's prototype is the Router factory function itself.
    (app as Express4App).lazyrouter();
    const proto: unknown = Object.getPrototypeOf((app as Express4App)._router);
    return typeof proto === 'function' ? (proto as RouterFactory) : null;
  }
  // Express 5 keeps no reference to its Router constructor: find, among the modules already loaded, the
  // Express (or `router`) copy whose routers share the prototype of this app's router — the copy that
  // made the app, wherever it lives (monorepos, another working directory). Nothing is resolved anew.
  let appRouterProto: unknown;
  try {
    appRouterProto = protoOfRouter((app as { router: object }).router);
  } catch {
    return null;
  }
  const known = factories.get(appRouterProto as object);
  if (known) return known;
  for (const loaded of Object.values(moduleCache())) {
    const exports: unknown = loaded?.exports;
    if (typeof exports !== 'function') continue;
    const candidate = (exports as Partial<ExpressModule>).Router ?? exports;
    if (typeof candidate !== 'function' || !looksLikeRouterFactory(candidate)) continue;
    try {
      if (protoOfRouter((candidate as RouterFactory)()) === appRouterProto) {
        factories.set(appRouterProto as object, candidate as RouterFactory);
        return candidate as RouterFactory;
      }
    } catch {
      // not a router factory after all
    }
  }
  return null;
}

const factories = new WeakMap<object, RouterFactory>();

/** The process-wide CommonJS module cache (Express is CommonJS, also when the app imports it from ESM). */
function moduleCache(): Record<string, { exports?: unknown } | undefined> {
  // The path only names a base for the require function; nothing is resolved from it.
  return createRequire(join(sep, 'wskit-module-cache.js')).cache as Record<string, { exports?: unknown } | undefined>;
}

/** Router factories (Express 5's, the `router` package) carry these on their prototype. */
function looksLikeRouterFactory(fn: object): boolean {
  const proto = (fn as { prototype?: Record<string, unknown> }).prototype;
  return typeof proto?.handle === 'function' && typeof proto.route === 'function' && typeof proto.use === 'function';
}

/** The shared prototype every router of one Express copy inherits from (router → instance → shared). */
function protoOfRouter(router: object): unknown {
  return Object.getPrototypeOf(Object.getPrototypeOf(router) as object);
}
