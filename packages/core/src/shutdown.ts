/**
 * Graceful shutdown of many sockets: close each with 1001 (going away), wait a bounded time for the
 * close handshakes, then terminate whatever is left.
 */
import { CLOSED } from './constants.js';
import type { WebSocket } from './websocket.js';

export interface CloseAllOptions {
  code?: number;
  reason?: string;
  /** How long to wait for close handshakes before terminating (ms). Default 5000. */
  timeout?: number;
}

export function closeAll(clients: Iterable<WebSocket>, options: CloseAllOptions = {}): Promise<void> {
  const { code = 1001, reason = 'Server shutting down', timeout = 5000 } = options;
  const pending = [...clients].filter((ws) => ws.readyState !== CLOSED);
  if (pending.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let left = pending.length;
    const timer = setTimeout(() => {
      for (const ws of pending) if (ws.readyState !== CLOSED) ws.terminate();
    }, timeout);
    const onClosed = (): void => {
      if (--left === 0) {
        clearTimeout(timer);
        resolve();
      }
    };
    for (const ws of pending) {
      ws.once('close', onClosed);
      try {
        ws.close(code, reason);
      } catch {
        ws.terminate();
      }
    }
  });
}
