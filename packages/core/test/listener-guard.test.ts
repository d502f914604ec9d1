/**
 * The plugins' socket error policy on its own: which errors count as the peer's (protocol violations
 * RFC 6455 §7.4.1 gives 1002/1003/1007/1009, a dropped connection), every emit arity going through the
 * guard, a subclass's own emit kept (ws's `WebSocket` server option allows subclasses), installing twice.
 */
import { WebSocket, WebSocketError, guardSocket, isPeerError, type SocketProblem } from '@wskit/core';

const socketError = (code: string): Error => Object.assign(new Error(code), { code });

test('isPeerError: protocol violations and vanishing peers, not our own failures', () => {
  for (const closeCode of [1002, 1003, 1007, 1009]) {
    expect(isPeerError(new WebSocketError('WS_ERR_INVALID_OPCODE', closeCode, 'x'))).toBe(true);
  }
  expect(isPeerError(new WebSocketError('WS_ERR_SOCKET_CLOSED', 1006, 'gone'))).toBe(true);
  expect(isPeerError(new WebSocketError('WS_ERR_TOO_MANY_BUFFERED_PARTS', 1008, 'policy'))).toBe(false);
  for (const code of ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']) {
    expect(isPeerError(socketError(code))).toBe(true);
  }
  for (const error of [socketError('EACCES'), new Error('plain'), { code: 42 }, null, undefined, 'ECONNRESET']) {
    expect(isPeerError(error)).toBe(false);
  }
});

test('every emit arity reaches the listeners; a throwing listener goes to the handler as "listener"', () => {
  const ws = new WebSocket(null);
  const problems: Array<[string, SocketProblem]> = [];
  guardSocket(ws, (error, _ws, kind) => problems.push([(error as Error).message, kind]));
  const seen: unknown[][] = [];
  ws.on('custom', (...args: unknown[]) => seen.push(args));
  ws.emit('custom');
  ws.emit('custom', 1);
  ws.emit('custom', 1, 2);
  ws.emit('custom', 1, 2, 3);
  expect(seen).toEqual([[], [1], [1, 2], [1, 2, 3]]);
  ws.on('boom', () => {
    throw new Error('listener broke');
  });
  expect(ws.emit('boom', 1, 2, 3)).toBe(true);
  // Not OPEN: nothing to close, the handler still hears of it.
  expect(ws.readyState).toBe(WebSocket.CONNECTING);
  ws.emit('error', socketError('EPIPE'));
  ws.emit('error', new Error('disk full'));
  expect(problems).toEqual([
    ['listener broke', 'listener'],
    ['EPIPE', 'peer'],
    ['disk full', 'socket'],
  ]);
});

test("a subclass's own emit still runs under the guard; guarding twice installs one guard", () => {
  const emitted: string[] = [];
  class Tracing extends WebSocket {
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      emitted.push(String(event));
      return super.emit(event, ...args);
    }
  }
  const ws = new Tracing(null);
  const handler = jest.fn();
  guardSocket(ws, handler);
  const guardedEmit = ws.emit;
  guardSocket(ws, handler);
  expect(ws.emit).toBe(guardedEmit);
  ws.on('ping', () => {
    throw new Error('in ping');
  });
  ws.emit('ping', Buffer.alloc(0));
  expect(emitted).toEqual(['ping']);
  expect(handler).toHaveBeenCalledTimes(1);
  expect(handler.mock.calls[0]![2]).toBe('listener');
});
