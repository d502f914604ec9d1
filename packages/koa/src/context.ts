/** Adds `ctx.ws` to Koa's context type: present only on WebSocket upgrade requests. */
import type { WebSocket } from '@wskit/core';
import type { RouteOptions } from './route-options.js';

/** Performs the handshake (once; later calls return the same promise) and resolves with the socket. */
export type AcceptWebSocket = (options?: RouteOptions) => Promise<WebSocket>;

declare module 'koa' {
  interface ExtendableContext {
    /** Present only on WebSocket upgrade requests; `await ctx.ws()` performs the handshake. */
    ws?: AcceptWebSocket;
  }
}
