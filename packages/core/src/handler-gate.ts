/**
 * Holds a new socket's inbound messages while the application's handler is still attaching its
 * listeners (async handlers that await a database before `ws.on('message')`), then releases them in
 * order. Nothing is dropped: the socket is paused, so bytes wait in the parser and the kernel.
 * A handler that throws or rejects closes the socket with 1011 and is reported to `onError`.
 * A socket the handler paused itself (its own flow control) stays paused: only the gate's pause is undone.
 */
import { OPEN } from './constants.js';
import type { WebSocket } from './websocket.js';

/** Notes pause()/resume() calls made on `ws` while the handler runs; `settle()` stops watching. */
function watchFlowControl(ws: WebSocket): { pausedByHandler: () => boolean; settle: () => void } {
  let pausedByHandler = false;
  const { pause, resume } = ws;
  // Own properties shadow the prototype's methods for this socket only. They are put back, never deleted:
  // deleting a property turns the object into a dictionary-mode object, and every property access on the
  // socket's message path would then be a hash lookup (plugin echo measured at ~0.6x bare core so).
  setMethod(ws, 'pause', function (this: WebSocket): void {
    pausedByHandler = true;
    pause.call(this);
  });
  setMethod(ws, 'resume', function (this: WebSocket): void {
    pausedByHandler = false;
    resume.call(this);
  });
  return {
    pausedByHandler: () => pausedByHandler,
    settle: () => {
      setMethod(ws, 'pause', pause);
      setMethod(ws, 'resume', resume);
    },
  };
}

/** A method as an own, non-enumerable property (like the prototype's, so `Object.keys(ws)` is unchanged). */
function setMethod(ws: WebSocket, name: 'pause' | 'resume', value: () => void): void {
  Object.defineProperty(ws, name, { value, writable: true, configurable: true, enumerable: false });
}

export function runHandler<T extends WebSocket>(
  ws: T,
  handler: () => unknown,
  onError: (error: unknown, ws: T) => void = () => {},
): Promise<void> {
  ws.pause();
  const watch = watchFlowControl(ws);
  const release = (): void => {
    watch.settle();
    if (!watch.pausedByHandler()) ws.resume();
  };
  const fail = (error: unknown): void => {
    onError(error, ws);
    if (ws.readyState === OPEN) ws.close(1011, 'Internal server error');
  };
  let result: unknown;
  try {
    result = handler();
  } catch (error) {
    release();
    fail(error);
    return Promise.resolve();
  }
  if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
    return Promise.resolve(result).then(release, (error: unknown) => {
      release();
      fail(error);
    });
  }
  release();
  return Promise.resolve();
}
