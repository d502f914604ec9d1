/**
 * createWebSocketStream: a Duplex over a WebSocket with backpressure both ways.
 *
 * Readable: each message is pushed as one chunk; when push() reports a full buffer the socket is paused,
 * so unread data stays in the kernel and, beyond that, in the sender. `_read` resumes it.
 * Writable: each chunk is one send(); the write completes from send's callback, so at most one chunk is
 * queued in the socket and the Duplex's own buffer applies backpressure to the writer.
 */
import type { EventEmitter } from 'node:events';
import { Duplex, type DuplexOptions } from 'node:stream';

const CONNECTING = 0;
const CLOSED = 3;

/** The part of a `ws`-compatible WebSocket the stream uses. */
export type StreamableWebSocket = EventEmitter & {
  readonly readyState: number;
  readonly isPaused: boolean;
  send(data: Buffer | string | ArrayBuffer | ArrayBufferView, cb?: (err?: Error | null) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  pause(): void;
  resume(): void;
};

type WriteCallback = (error?: Error | null) => void;

/** Byte-mode streams need a single contiguous chunk whatever the socket's binaryType. */
function toChunk(data: unknown, isBinary: boolean, objectMode: boolean): unknown {
  if (objectMode) {
    if (isBinary) return data;
    if (typeof data === 'string') return data;
    const bytes = toBytes(data);
    return Buffer.isBuffer(bytes) ? bytes.toString('utf8') : bytes;
  }
  return typeof data === 'string' ? data : toBytes(data);
}

function toBytes(data: unknown): unknown {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return data;
}

/** `ws` internals the stream looks at when present: the transport, to learn when our side has finished. */
type SocketHolder = { _socket?: { writableFinished: boolean; once(event: 'finish', fn: () => void): unknown } | null };

/**
 * Wraps a socket in a Duplex, with ws's lifecycle: ending the writable side sends a close frame (no code, as
 * ws) and finishes once the socket's own writable side has; the stream is destroyed when both 'end' and
 * 'finish' have happened, and emits 'close' after the socket closed. A socket error destroys the stream with
 * it; any error the stream emits destroys it and, with no other 'error' listener, is thrown as usual.
 * Options go to the Duplex (readableObjectMode, encoding, highWaterMark...) except `objectMode`, which is off
 * as in ws; in byte mode text messages arrive as Buffers (or strings per `encoding`); with readableObjectMode
 * text messages arrive as strings. wskit addition: with writableObjectMode, written strings go out as text.
 */
export function createWebSocketStream(ws: StreamableWebSocket, options: DuplexOptions = {}): Duplex {
  // A socket error already brings the socket down; destroying after it must not terminate again.
  let terminateOnDestroy = true;
  let pendingOpen: (() => void)[] = [];

  const whenOpen = (fn: () => void): void => {
    if (ws.readyState !== CONNECTING) return fn();
    if (pendingOpen.length === 0) ws.once('open', onOpen);
    pendingOpen.push(fn);
  };

  function onOpen(): void {
    const queued = pendingOpen;
    pendingOpen = [];
    for (const fn of queued) fn();
  }

  const send = (chunk: unknown, callback: WriteCallback): void => {
    try {
      ws.send(chunk as Buffer | string, (err) => callback(err));
    } catch (err) {
      callback(err as Error);
    }
  };

  const emitClose = (): void => {
    duplex.emit('close');
  };

  const duplex = new Duplex({
    ...options,
    objectMode: false,
    autoDestroy: false,
    emitClose: false,
    read(): void {
      // Also while CLOSING: the peer's close frame may wait behind the data we stopped reading.
      if (ws.isPaused) ws.resume();
    },
    write(chunk: unknown, _encoding: BufferEncoding, callback: WriteCallback): void {
      whenOpen(() => send(chunk, callback));
    },
    final(callback: WriteCallback): void {
      whenOpen(() => {
        const socket = (ws as StreamableWebSocket & SocketHolder)._socket;
        if (socket?.writableFinished || ws.readyState === CLOSED) {
          callback();
          if (duplex.readableEnded) duplex.destroy();
          return;
        }
        // Finished when our side of the transport is; or at the socket's close if that never comes.
        let called = false;
        const finish = (): void => {
          if (called) return;
          called = true;
          ws.removeListener('close', finish);
          callback();
        };
        if (socket) socket.once('finish', finish);
        ws.once('close', finish);
        ws.close();
      });
    },
    destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      if (ws.readyState === CLOSED) {
        callback(error);
        process.nextTick(emitClose);
        return;
      }
      let called = false;
      ws.once('error', (socketError: Error) => {
        called = true;
        callback(socketError);
      });
      ws.once('close', () => {
        if (!called) callback(error);
        process.nextTick(emitClose);
      });
      if (terminateOnDestroy) ws.terminate();
    },
  });

  const objectMode = duplex.readableObjectMode;

  const onMessage = (data: unknown, isBinary: boolean): void => {
    if (duplex.destroyed || duplex.readableEnded) return;
    if (!duplex.push(toChunk(data, isBinary, objectMode))) ws.pause();
  };

  const onError = (err: Error): void => {
    if (duplex.destroyed) return;
    terminateOnDestroy = false;
    duplex.destroy(err);
  };

  const onClose = (): void => {
    ws.removeListener('message', onMessage);
    ws.removeListener('open', onOpen);
    pendingOpen = [];
    if (duplex.destroyed) return;
    duplex.push(null);
  };

  function onEnd(this: Duplex): void {
    if (!this.destroyed && this.writableFinished) this.destroy();
  }

  // First among the stream's 'error' listeners: the stream is destroyed before the user's listener runs, and
  // an error nobody listens for is thrown rather than lost.
  function onStreamError(this: Duplex, err: Error): void {
    this.removeListener('error', onStreamError);
    this.destroy();
    if (this.listenerCount('error') === 0) this.emit('error', err);
  }

  ws.on('message', onMessage);
  // Kept after close too: an 'error' with no listener would crash the process.
  ws.on('error', onError);
  ws.once('close', onClose);
  duplex.on('end', onEnd);
  duplex.on('error', onStreamError);
  return duplex;
}
