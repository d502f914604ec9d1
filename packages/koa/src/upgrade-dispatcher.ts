/**
 * One `upgrade` listener per HTTP server that turns owned upgrade requests into ordinary requests of
 * that server: each is given a real `ServerResponse` bound to the raw socket and handed to the server's
 * own `request` listeners (for a Koa app, `app.callback()`), so the whole middleware chain runs first
 * and anything it answers is a genuine HTTP response.
 *
 * Ownership: a WebSocket upgrade request is owned when some attached plugin's `shouldHandle(req)` accepts it AND no
 * other `upgrade` listener claimed the socket. Listeners run synchronously in registration order, so
 * the decision is deferred by one tick and then a socket that another listener started to use (an
 * `error`/`data` listener added, bytes written, ended or destroyed) is left alone. Node leaves none of
 * those on a freshly upgraded socket.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import {
  createUpgradeResponse,
  isHttp2Server,
  listenForWebSocketStreams,
  routeAsGet,
  writeHttpError,
  type Http2ServerLike,
} from '@wskit/core';
import { isWebSocketRequest, setPendingUpgrade } from './upgrade-request.js';

export type UpgradeServer = HttpServer | HttpsServer | Http2ServerLike;
export type ShouldHandle = (req: IncomingMessage) => boolean;

interface Dispatcher {
  owners: Set<ShouldHandle>;
  listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  stopStreams: (() => void) | null;
}

const KEY = Symbol.for('wskit.koa.dispatcher');
type Tagged = UpgradeServer & { [KEY]?: Dispatcher };

export function isAttached(server: UpgradeServer): boolean {
  return (server as Tagged)[KEY] !== undefined;
}

/** Installs (once per server) the dispatcher and registers `shouldHandle`; returns the undo. */
export function attachServer(server: UpgradeServer, shouldHandle: ShouldHandle): () => void {
  const tagged = server as Tagged;
  let dispatcher = tagged[KEY];
  if (!dispatcher) {
    const owners = new Set<ShouldHandle>();
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (!wanted(owners, req)) return;
      process.nextTick(() => dispatch(server, req, socket, head));
    };
    // HTTP/2 (RFC 8441): extended CONNECT streams go through the app as the GET they stand for.
    const stopStreams = isHttp2Server(server)
      ? listenForWebSocketStreams(server, (req, stream) => {
        routeAsGet(req);
        if (wantedStream(owners, req)) dispatch(server, req, stream, Buffer.alloc(0), true);
        else writeHttpError(stream, 404);
      })
      : null;
    dispatcher = { owners, listener, stopStreams };
    tagged[KEY] = dispatcher;
    server.on('upgrade', listener);
  }
  const current = dispatcher;
  // A wrapper so the same predicate can be registered by two plugin instances independently.
  const owner: ShouldHandle = (req) => shouldHandle(req);
  current.owners.add(owner);
  return () => {
    current.owners.delete(owner);
    if (current.owners.size === 0 && tagged[KEY] === current) {
      server.removeListener('upgrade', current.listener);
      current.stopStreams?.();
      delete tagged[KEY];
    }
  };
}

function wanted(owners: Set<ShouldHandle>, req: IncomingMessage): boolean {
  if (!isWebSocketRequest(req)) return false;
  for (const owner of owners) {
    try {
      if (owner(req)) return true;
    } catch {
      // A predicate that throws does not claim the request.
    }
  }
  return false;
}

function wantedStream(owners: Set<ShouldHandle>, req: IncomingMessage): boolean {
  for (const owner of owners) {
    try {
      if (owner(req)) return true;
    } catch {
      // As above.
    }
  }
  return false;
}

function claimedElsewhere(socket: Duplex): boolean {
  const raw = socket as Duplex & { bytesWritten?: number };
  return (
    socket.destroyed ||
    socket.writableEnded ||
    (raw.bytesWritten ?? 0) > 0 ||
    socket.listenerCount('error') > 0 ||
    socket.listenerCount('data') > 0 ||
    socket.listenerCount('readable') > 0
  );
}

function dispatch(server: UpgradeServer, req: IncomingMessage, socket: Duplex, head: Buffer, stream = false): void {
  // A stream is handed over once by the core (Node's compat request has already added listeners to it).
  if (!stream && claimedElsewhere(socket)) return;
  // Until the handshake takes over, a reset from the peer must not become an uncaught error.
  socket.on('error', () => socket.destroy());
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: unknown) => void)[];
  if (handlers.length === 0) {
    writeHttpError(socket, 404);
    return;
  }
  const res = createUpgradeResponse(req, socket);
  setPendingUpgrade(req, { socket, head, release: () => res.release() });
  for (const handler of handlers) handler.call(server, req, res);
}
