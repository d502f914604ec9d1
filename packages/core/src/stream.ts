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
const OPEN = 1;
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

/**
 * Wraps a socket in a Duplex. Options go to the Duplex (objectMode, readableObjectMode, encoding,
 * highWaterMark...). In byte mode text messages arrive as Buffers (or strings decoded per `encoding`); with
 * a readable object mode, text messages arrive as strings and binary ones as the socket delivers them.
 * Ending the writable side closes the socket with 1000; the socket's close ends the readable side; a socket
 * error destroys the stream with that error; destroying the stream terminates the socket.
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

  const duplex = new Duplex({
    autoDestroy: true,
    emitClose: true,
    ...options,
    read(): void {
      if (ws.readyState === OPEN && ws.isPaused) ws.resume();
    },
    write(chunk: unknown, _encoding: BufferEncoding, callback: WriteCallback): void {
      whenOpen(() => send(chunk, callback));
    },
    final(callback: WriteCallback): void {
      // Completing without waiting for the peer's close frame: the socket may be paused by the readable
      // side, and then that frame is not read until the consumer catches up.
      whenOpen(() => {
        if (ws.readyState === OPEN) ws.close(1000);
        callback();
      });
    },
    destroy(error: Error | null, callback: (error?: Error | null) => void): void {
      if (ws.readyState === CLOSED) {
        process.nextTick(callback, error);
        return;
      }
      ws.once('close', () => callback(error));
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

  ws.on('message', onMessage);
  // Kept after close too: an 'error' with no listener would crash the process.
  ws.on('error', onError);
  ws.once('close', onClose);
  return duplex;
}
