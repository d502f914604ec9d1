/**
 * The plugins' socket error policy on its own: which errors count as the peer's (protocol violations
 * RFC 6455 §7.4.1 gives 1002/1003/1007/1009, a dropped connection), listeners of the socket's own events
 * run under the guard with unchanged arguments, a subclass's own emit kept (ws's `WebSocket` server option
 * allows subclasses), installing twice.
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

/** The events a socket emits, as its receiver and close path raise them. */
interface SocketEvents {
  onMessage(data: Buffer, isBinary: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  emitError(error: Error): void;
}
const events = (ws: WebSocket): SocketEvents => ws as unknown as SocketEvents;

test('a throwing listener of an event the socket emits goes to the handler as "listener"; arguments unchanged', () => {
  const ws = new WebSocket(null);
  const problems: Array<[string, SocketProblem]> = [];
  guardSocket(ws, (error, _ws, kind) => problems.push([(error as Error).message, kind]));
  const seen: unknown[][] = [];
  ws.on('message', (...args: unknown[]) => seen.push(args));
  ws.on('ping', (...args: unknown[]) => seen.push(args));
  events(ws).onMessage(Buffer.from('a'), false);
  events(ws).onPing(Buffer.from('p'));
  expect(seen).toEqual([[Buffer.from('a'), false], [Buffer.from('p')]]);
  for (const event of ['message', 'ping', 'pong'] as const) {
    ws.on(event, () => {
      throw new Error(`${event} listener broke`);
    });
  }
  events(ws).onMessage(Buffer.from('b'), true);
  events(ws).onPing(Buffer.alloc(0));
  events(ws).onPong(Buffer.alloc(0));
  // Not OPEN: nothing to close, the handler still hears of each.
  expect(ws.readyState).toBe(WebSocket.CONNECTING);
  events(ws).emitError(socketError('EPIPE'));
  ws.emit('error', new Error('disk full'));
  expect(problems).toEqual([
    ['message listener broke', 'listener'],
    ['ping listener broke', 'listener'],
    ['pong listener broke', 'listener'],
    ['EPIPE', 'peer'],
    ['disk full', 'socket'],
  ]);
});

test('unguarded, a throwing listener propagates as in ws', () => {
  const ws = new WebSocket(null);
  ws.on('message', () => {
    throw new Error('not caught');
  });
  expect(() => events(ws).onMessage(Buffer.from('x'), false)).toThrow('not caught');
});

test("a subclass's own emit still runs under the guard; guarding twice keeps one listener, the last handler", () => {
  const emitted: string[] = [];
  class Tracing extends WebSocket {
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      emitted.push(String(event));
      return super.emit(event, ...args);
    }
  }
  const ws = new Tracing(null);
  const first = jest.fn();
  const second = jest.fn();
  guardSocket(ws, first);
  const errorListeners = ws.listenerCount('error');
  guardSocket(ws, second);
  expect(ws.listenerCount('error')).toBe(errorListeners);
  ws.on('ping', () => {
    throw new Error('in ping');
  });
  events(ws).onPing(Buffer.alloc(0));
  expect(emitted).toEqual(['ping']);
  expect(first).not.toHaveBeenCalled();
  expect(second).toHaveBeenCalledTimes(1);
  expect(second.mock.calls[0]![2]).toBe('listener');
  ws.emit('error', socketError('ECONNRESET'));
  expect(second.mock.calls[1]![2]).toBe('peer');
  expect(first).not.toHaveBeenCalled();
});
