/**
 * A real `http.ServerResponse` bound to the raw socket of an upgrade request, so that a framework's
 * own pipeline (auth middleware, hooks, guards, 404 handlers) can answer the request with a genuine
 * HTTP status before any handshake happens. Once the response is finished the socket is closed;
 * `release()` detaches it again when the pipeline decided to accept the upgrade instead.
 * For an HTTP/2 extended CONNECT stream (RFC 8441) it is Node's `Http2ServerResponse` for the stream.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isHttp2Stream } from './handshake.js';
import { compatResponse, nodeHttp2 } from './http2.js';

export interface UpgradeResponse extends ServerResponse {
  /** Detaches the socket so the WebSocket handshake can take it over. False if a response was already started. */
  release(): boolean;
}

export function createUpgradeResponse(req: IncomingMessage, socket: Duplex): UpgradeResponse {
  if (isHttp2Stream(socket)) {
    const res = (compatResponse(socket) ?? new (nodeHttp2().Http2ServerResponse)(socket)) as unknown as UpgradeResponse;
    // Nothing to detach: the stream stays the stream; a response once started wins.
    res.release = () => !res.headersSent && !res.writableEnded;
    // A finished refusal resets the stream (NO_ERROR) so a client that keeps its side open is let go.
    res.once('finish', () => {
      if (!socket.destroyed) socket.close();
    });
    return res;
  }
  const res = new ServerResponse(req) as UpgradeResponse;
  const raw = socket as Socket;
  res.shouldKeepAlive = false;
  res.assignSocket(raw);
  let released = false;
  res.release = () => {
    if (released) return true;
    if (res.headersSent || res.writableEnded) return false;
    released = true;
    res.detachSocket(raw);
    return true;
  };
  res.on('finish', () => {
    if (released) return;
    released = true;
    res.detachSocket(raw);
    // Let the response drain, then close; a peer that keeps the connection open is cut off.
    raw.end();
    const timer = setTimeout(() => raw.destroy(), 1000);
    timer.unref();
    raw.once('close', () => clearTimeout(timer));
  });
  return res;
}
