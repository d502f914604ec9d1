/**
 * The error policy of a socket accepted through a framework plugin: an exception thrown by one of its
 * listeners (a `'message'` handler that throws) is caught and reported instead of escaping the socket's
 * data callback as an uncaught exception, and the socket is closed with 1011; `'error'` events caused
 * by the peer (protocol violations, oversized or invalid UTF-8 messages, resets) are reported as such,
 * so plugins can log them at debug level while everything else reaches their error hook.
 *
 * The socket itself runs its listeners inside the guard (WebSocket#_listenerFault): no `emit` wrapper,
 * so the message path of a guarded socket costs one try/catch (a wrapper measured ~4% of echo msgs/s).
 */
import { WebSocketError } from './errors.js';
import type { WebSocket } from './websocket.js';

/** Why a route socket's problem is reported: a listener threw, the socket failed, or the peer broke the protocol. */
export type SocketProblem = 'listener' | 'socket' | 'peer';

export type SocketProblemHandler = (error: unknown, ws: WebSocket, kind: SocketProblem) => void;

/** The handler each guarded socket reports to (a second guardSocket() call replaces it). */
const handlers = new WeakMap<WebSocket, SocketProblemHandler>();

/** Close codes that mean the peer sent something wrong (not a fault of this server). */
const PEER_CLOSE_CODES = new Set([1002, 1003, 1007, 1009]);
/** Transport errors a vanishing or misbehaving peer causes. */
const PEER_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']);

/** True for an error the peer caused: a protocol violation it sent, or its connection dropping. */
export function isPeerError(error: unknown): boolean {
  if (error instanceof WebSocketError)
    return PEER_CLOSE_CODES.has(error.closeCode) || error.code === 'WS_ERR_SOCKET_CLOSED';
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && PEER_SOCKET_CODES.has(code);
}

/**
 * Installs the policy on `ws`: `onProblem` gets every exception thrown by a listener of an event the socket
 * emits (message, ping, pong, fragment, heartbeat, close, error; the socket is then closed with 1011) and
 * every `'error'` event, tagged `'peer'` when the peer caused it. Calling it again replaces the handler.
 */
export function guardSocket(ws: WebSocket, onProblem: SocketProblemHandler): void {
  const installed = handlers.has(ws);
  handlers.set(ws, onProblem);
  if (installed) return;
  ws._listenerFault = (error: unknown) => handlers.get(ws)!(error, ws, 'listener');
  ws.on('error', (error: Error) => handlers.get(ws)!(error, ws, isPeerError(error) ? 'peer' : 'socket'));
}
