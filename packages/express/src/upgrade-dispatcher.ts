/**
 * The one `upgrade` listener per HTTP server. It runs each WebSocket upgrade request through the app's
 * normal Express pipeline with a real `http.ServerResponse` bound to the raw socket: middleware that
 * answers sends a genuine HTTP response (and the socket is closed), a ws route that is reached takes
 * the socket over, and a request no route takes gets a 404 (or the status of an unhandled error) —
 * or, with `unmatched: 'ignore'`, is left to the server's other `upgrade` listeners.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createUpgradeResponse, writeHttpError } from '@wskit/core';
import type { UnmatchedUpgrade } from './options.js';
import { markUpgrade, type UpgradeContext } from './upgrade-context.js';

/** What Express apps (4 and 5) expose to run a request through their router. */
export interface RequestHandlingApp {
  handle(req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void): void;
}

export interface DispatcherState {
  /** True once shutdown started: new upgrades are refused with 503. */
  isClosing(): boolean;
  /** How long the pipeline may take to answer or reach a ws route (ms). */
  pipelineTimeout: number;
  /** False leaves the request untouched (another listener's). */
  shouldHandle?: ((req: IncomingMessage) => boolean) | undefined;
  /** What a WebSocket upgrade that no route took and nobody answered gets. */
  unmatched: UnmatchedUpgrade;
}

export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

const ignore = (): void => {};

export function createUpgradeListener(
  app: RequestHandlingApp,
  state: DispatcherState,
  listenerCount: () => number,
): UpgradeListener {
  return (req, socket, head) => {
    if (state.shouldHandle) {
      let mine: boolean;
      try {
        mine = state.shouldHandle(req);
      } catch {
        // A throwing filter must not crash the server from inside an event listener.
        writeHttpError(socket, 500);
        return;
      }
      if (!mine) return;
    }
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      // Another protocol: leave it to whoever else listens, or refuse it ourselves.
      if (listenerCount() <= 1) writeHttpError(socket, 400);
      return;
    }
    if (state.isClosing()) {
      writeHttpError(socket, 503);
      return;
    }
    // A peer that vanishes mid-pipeline must not crash the process; the core takes over on handshake.
    socket.on('error', ignore);
    const res = createUpgradeResponse(req, socket);
    const timer = setTimeout(() => {
      if (context.claimed) return;
      context.claimed = true;
      if (res.headersSent) socket.destroy();
      else answer(res, 408);
    }, state.pipelineTimeout);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    const context: UpgradeContext = {
      socket,
      head,
      res,
      claimed: false,
      onClaim: () => {
        clearTimeout(timer);
        socket.removeListener('error', ignore);
      },
    };
    markUpgrade(req, context);
    app.handle(req, res, (error?: unknown) => {
      if (context.claimed) return;
      context.claimed = true;
      clearTimeout(timer);
      if (res.headersSent) {
        if (!res.writableEnded) socket.destroy();
        return;
      }
      const noRoute = error === undefined || error === null || error === 'route' || error === 'router';
      if (noRoute && state.unmatched === 'ignore') {
        // Another `upgrade` listener may own this path: hand the socket back untouched.
        res.release();
        socket.removeListener('error', ignore);
        return;
      }
      answer(res, noRoute ? 404 : statusOf(error));
    });
  };
}

function statusOf(error: unknown): number {
  if (typeof error === 'object' && error !== null) {
    const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
    const code = typeof status === 'number' ? status : statusCode;
    if (typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 599) return code;
  }
  return 500;
}

function answer(res: ServerResponse, status: number): void {
  const body = STATUS_CODES[status] ?? 'Error';
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
