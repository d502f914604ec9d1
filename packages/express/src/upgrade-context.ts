/**
 * Whether a request is travelling through the Express pipeline as a WebSocket upgrade: the core's
 * pipeline marks it. Its presence is what tells a ws route (an ordinary GET route) that it may take the socket.
 */
import type { IncomingMessage } from 'node:http';
import { pendingUpgradeOf } from '@wskit/core';

/** True for a request that arrived as a WebSocket upgrade (useful to guard plain GET handlers). */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return pendingUpgradeOf(req) !== undefined;
}
