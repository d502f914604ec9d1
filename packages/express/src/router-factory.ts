/**
 * Finds the `Router` factory of the Express copy that made an app, so routers created through the
 * plugin come from the same Express major as the app (4 and 5 ship different routers). Read-only: it
 * looks at the app's own router instance and patches nothing.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
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
  // Express 5 keeps no reference to its Router constructor: resolve `express` as the application would
  // and accept it only if its routers share the prototype of this app's router (the same copy).
  let appRouterProto: unknown;
  try {
    appRouterProto = protoOfRouter((app as { router: object }).router);
  } catch {
    return null;
  }
  try {
    const requireFromApp = createRequire(join(process.cwd(), 'index.js'));
    const candidate = (requireFromApp('express') as ExpressModule).Router;
    if (typeof candidate === 'function' && protoOfRouter(candidate()) === appRouterProto) return candidate;
  } catch {
    // not resolvable from here
  }
  return null;
}

/** The shared prototype every router of one Express copy inherits from (router → instance → shared). */
function protoOfRouter(router: object): unknown {
  return Object.getPrototypeOf(Object.getPrototypeOf(router) as object);
}
