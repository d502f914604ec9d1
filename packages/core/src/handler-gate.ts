/**
 * Holds a new socket's inbound messages while the application's handler is still attaching its
 * listeners (async handlers that await a database before `ws.on('message')`), then releases them in
 * order. Nothing is dropped: the socket is paused, so bytes wait in the parser and the kernel.
 * A handler that throws or rejects closes the socket with 1011 and is reported to `onError`.
 */
import { OPEN } from './constants.js';
import type { WebSocket } from './websocket.js';

export function runHandler<T extends WebSocket>(
  ws: T,
  handler: () => unknown,
  onError: (error: unknown, ws: T) => void = () => {},
): Promise<void> {
  ws.pause();
  const fail = (error: unknown): void => {
    onError(error, ws);
    if (ws.readyState === OPEN) ws.close(1011, 'Internal server error');
  };
  let result: unknown;
  try {
    result = handler();
  } catch (error) {
    ws.resume();
    fail(error);
    return Promise.resolve();
  }
  if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
    return Promise.resolve(result).then(
      () => ws.resume(),
      (error: unknown) => {
        ws.resume();
        fail(error);
      },
    );
  }
  ws.resume();
  return Promise.resolve();
}
