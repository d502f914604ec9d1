/**
 * The error policy of a socket accepted through a framework plugin: an exception thrown by one of its
 * listeners (a `'message'` handler that throws) is caught and reported instead of escaping the socket's
 * data callback as an uncaught exception, and the socket is closed with 1011; `'error'` events caused
 * by the peer (protocol violations, oversized or invalid UTF-8 messages, resets) are reported as such,
 * so plugins can log them at debug level while everything else reaches their error hook.
 *
 * The guard is one shared `emit` installed as an own property: no closure per socket, no wrapper
 * object on the message path, one try/catch per event.
 */
import { EventEmitter } from 'node:events';
import { OPEN } from './constants.js';
import { WebSocketError } from './errors.js';
import type { WebSocket } from './websocket.js';

/** Why a route socket's problem is reported: a listener threw, the socket failed, or the peer broke the protocol. */
export type SocketProblem = 'listener' | 'socket' | 'peer';

export type SocketProblemHandler = (error: unknown, ws: WebSocket, kind: SocketProblem) => void;

const HANDLER = Symbol.for('wskit.listenerGuard');
const EMIT = Symbol.for('wskit.listenerGuard.emit');

type Emit = (this: WebSocket, event: string | symbol, ...args: unknown[]) => boolean;
type Guarded = WebSocket & { [HANDLER]?: SocketProblemHandler; [EMIT]?: Emit };

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

const baseEmit = EventEmitter.prototype.emit as Emit;

function guardedEmit(this: Guarded, event: string | symbol, a?: unknown, b?: unknown): boolean {
  const emit = this[EMIT] ?? baseEmit;
  try {
    // The socket's own emit (a subclass may override it), else EventEmitter's. The common arities are
    // passed without building an array: this sits on the path of every message.
    switch (arguments.length) {
      case 1:
        return emit.call(this, event);
      case 2:
        return emit.call(this, event, a);
      case 3:
        return emit.call(this, event, a, b);
      default:
        // eslint-disable-next-line prefer-rest-params -- no rest array on the per-message path
        return emit.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
    }
  } catch (error) {
    const handler = this[HANDLER];
    if (!handler) throw error;
    try {
      handler(error, this, 'listener');
    } finally {
      if (this.readyState === OPEN) this.close(1011, 'Internal server error');
    }
    return true;
  }
}

/**
 * Installs the policy on `ws`: `onProblem` gets every exception thrown by the socket's listeners (the
 * socket is then closed with 1011) and every `'error'` event, tagged `'peer'` when the peer caused it.
 */
export function guardSocket(ws: WebSocket, onProblem: SocketProblemHandler): void {
  const guarded = ws as Guarded;
  guarded[HANDLER] = onProblem;
  if (ws.emit !== (guardedEmit as WebSocket['emit'])) {
    if (ws.emit !== EventEmitter.prototype.emit) guarded[EMIT] = ws.emit as Emit;
    Object.defineProperty(ws, 'emit', { value: guardedEmit, writable: true, configurable: true, enumerable: false });
  }
  ws.on('error', (error: Error) => onProblem(error, ws, isPeerError(error) ? 'peer' : 'socket'));
}
