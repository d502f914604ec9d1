/**
 * The marker the upgrade dispatcher puts on an upgrade request before running it through the Express
 * pipeline. Its presence is what tells a ws route (an ordinary GET route) that it may take the socket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpgradeResponse } from '@wskit/core';

export interface UpgradeContext {
  socket: Duplex;
  head: Buffer;
  res: UpgradeResponse;
  /** Set once a ws route has taken the socket, so nothing else answers on it. */
  claimed: boolean;
  /** Called when a route claims the socket (stops the pipeline timeout). */
  onClaim: () => void;
}

const CONTEXT = Symbol.for('wskit.express.upgrade');

type Marked = IncomingMessage & { [CONTEXT]?: UpgradeContext };

export function markUpgrade(req: IncomingMessage, context: UpgradeContext): void {
  (req as Marked)[CONTEXT] = context;
}

export function upgradeContext(req: IncomingMessage): UpgradeContext | undefined {
  return (req as Marked)[CONTEXT];
}

/** True for a request that arrived as a WebSocket upgrade (useful to guard plain GET handlers). */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return upgradeContext(req) !== undefined;
}
