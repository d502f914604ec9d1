/**
 * Makes `app.listen()` attach the WebSocket dispatcher to the server it creates. The wrapper is an own
 * property of that one app instance; Koa's prototype is left untouched.
 */
import type { Server } from 'node:http';
import type Koa from 'koa';

const KEY = Symbol.for('wskit.koa.listen');

type ListenHooks = Set<(server: Server) => void>;
type Hooked = Koa & { [KEY]?: ListenHooks };

/** Registers `onServer` for every later `app.listen()`; returns the undo. */
export function hookListen(app: Koa, onServer: (server: Server) => void): () => void {
  const hooked = app as Hooked;
  let hooks = hooked[KEY];
  if (!hooks) {
    const registered: ListenHooks = new Set();
    hooks = registered;
    hooked[KEY] = registered;
    const original = app.listen;
    const listen = function (this: Koa, ...args: unknown[]): Server {
      const server = (original as (...a: unknown[]) => Server).apply(this, args);
      // listen() binds asynchronously, so no connection can arrive before the hooks ran.
      for (const hook of registered) hook(server);
      return server;
    };
    Object.defineProperty(app, 'listen', { value: listen, configurable: true, writable: true, enumerable: false });
  }
  const current = hooks;
  current.add(onServer);
  return () => {
    current.delete(onServer);
  };
}
