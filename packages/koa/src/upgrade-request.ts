/**
 * The raw side of an upgrade request that is travelling through the Koa middleware chain: the socket,
 * the bytes read past the headers, and how to take the socket back from the HTTP response.
 * Stored on the request under a registry symbol (not in a module-level map) so the ESM and CJS builds,
 * if both end up loaded, still see each other's requests.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

export interface PendingUpgrade {
  socket: Duplex;
  head: Buffer;
  /** Detaches the socket from the HTTP response; false once a response has been started. */
  release(): boolean;
}

const KEY = Symbol.for('wskit.koa.upgrade');

type Tagged = IncomingMessage & { [KEY]?: PendingUpgrade };

export function setPendingUpgrade(req: IncomingMessage, upgrade: PendingUpgrade): void {
  (req as Tagged)[KEY] = upgrade;
}

export function getPendingUpgrade(req: IncomingMessage): PendingUpgrade | undefined {
  return (req as Tagged)[KEY];
}

/** True for a WebSocket upgrade request (GET with `Upgrade: websocket`), whatever Node did with it. */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return req.method === 'GET' && typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}
