/**
 * The framework step of the core's upgrade pipeline for Express: each WebSocket upgrade request runs
 * through the app's normal Express pipeline with the real `http.ServerResponse` the pipeline bound to the
 * raw socket. Middleware that answers sends a genuine HTTP response, a ws route that is reached takes
 * the socket over, and a request no route takes gets the `unmatched` policy (404, or left to the
 * server's other `upgrade` listeners) — or the status of an unhandled error.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { statusOf, type PendingUpgrade } from '@wskit/core';

/** What Express apps (4 and 5) expose to run a request through their router. */
export interface RequestHandlingApp {
  handle(req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void): void;
}

export function dispatchThroughApp(app: RequestHandlingApp, upgrade: PendingUpgrade): void {
  app.handle(upgrade.req, upgrade.res, (error?: unknown) => {
    if (upgrade.settled) return;
    const noRoute = error === undefined || error === null || error === 'route' || error === 'router';
    if (noRoute) upgrade.unmatched();
    else upgrade.reject(statusOf(error));
  });
}
