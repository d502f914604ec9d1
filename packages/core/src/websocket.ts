/**
 * The WebSocket: one state machine for both roles (server-accepted and client-initiated), the close
 * handshake of RFC 6455 §7, and the ws-8-compatible surface (events, send/ping/pong/close/terminate,
 * pause/resume, readyState, bufferedAmount).
 */
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  CLOSED,
  CLOSING,
  CONNECTING,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_PENDING_AUTO_PONGS,
  EMPTY_BUFFER,
  MAX_CLOSE_REASON,
  MAX_CONTROL_PAYLOAD,
  OPEN,
  Opcode,
  isValidCloseCode,
  BINARY_TYPES,
  type BinaryType,
  type ReadyState,
} from './constants.js';
import { WebSocketError } from './errors.js';
import { addEventListener, defineEventHandlers, removeEventListener, type EventListenerLike } from './event-target.js';
import { Framer, type SendCallback } from './framer.js';
import type { Heartbeat, HeartbeatEntry, HeartbeatTarget } from './heartbeat.js';
import { Receiver, type MessageData, type ReceiverTarget } from './receiver.js';
import { connectClient, type ClientOptions } from './client-handshake.js';
import type { PerMessageDeflate } from './permessage-deflate.js';
import { abortTransport } from './http2.js';
import {
  isSocketSubscribed,
  socketTopicList,
  subscribeSocket,
  unsubscribeSocket,
  type CanSubscribe,
  type SocketTopics,
  type SubscribeOptions,
  type TopicHub,
} from './topics.js';

import type { WebSocketServer, ServerOptions as ServerOptionsOf } from './websocket-server.js';
import type { createWebSocketStream } from './stream.js';
import type * as WsTypes from './ws-types.js';
import type { BufferLike, RawData } from './ws-types.js';
import type { ClientRequest, IncomingMessage } from 'node:http';

export type { Data, RawData, BufferLike } from './ws-types.js';

export interface SendOptions {
  binary?: boolean;
  compress?: boolean;
  fin?: boolean;
  mask?: boolean;
}

/** Per-socket settings fixed when the connection opens (server: from the WebSocketServer options). */
export interface SocketSettings {
  maxPayload: number;
  maxReceivedFrameSize?: number;
  skipUTF8Validation: boolean;
  allowSynchronousEvents: boolean;
  autoPong: boolean;
  closeTimeout?: number;
  perMessageDeflate?: PerMessageDeflate | null;
  /** Shared heartbeat engine that watches this socket, if any. */
  heartbeat?: Heartbeat | null;
  /** Largest bufferedAmount tolerated; past it the socket is dropped (see send()). 0 or undefined: no limit. */
  maxBufferedAmount?: number;
  /** Send messages larger than fragmentationThreshold as several frames, interleavable with pings. */
  fragmentOutgoingMessages?: boolean;
  /** Largest outgoing frame payload when fragmentOutgoingMessages is on. Default 16 KiB. */
  fragmentationThreshold?: number;
  /** False: emit 'fragment' for each data frame instead of 'message' for whole messages. Default true. */
  assembleFragments?: boolean;
  /** Client only: fills the 4-byte masking key of each frame (ws's `generateMask`). */
  generateMask?: ((mask: Buffer) => void) | undefined;
  /** Most frames in one received message; 0: no limit. Default 16,384 (as ws). */
  maxFragments?: number;
  /** Most socket chunks held for one incomplete frame; 0: no limit. Default 262,144 (as ws). */
  maxBufferedChunks?: number;
  /** Automatic pongs not yet written out before the socket is terminated; 0: no limit. Default 60 (as ws). */
  maxPendingAutoPongs?: number;
  /** The accepting server's topic hub (server sockets only). */
  topics?: TopicHub | null;
  /** The accepting server's subscription check (a route's), used instead of the hub's. */
  canSubscribe?: CanSubscribe | null;
}

/** Second argument of the 'fragment' event (streaming reception, assembleFragments: false). */
export interface FragmentInfo {
  isBinary: boolean;
  isFinal: boolean;
  /** Position of this frame in its message, from 0. */
  index: number;
}

export const DEFAULT_FRAGMENTATION_THRESHOLD = 16 * 1024;

const READY_STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];

function notOpenError(state: ReadyState): Error {
  return new Error(`WebSocket is not open: readyState ${state} (${READY_STATE_NAMES[state]})`);
}

/** Converts any accepted payload type to a Buffer without copying where possible. */
export function toBuffer(data: Exclude<BufferLike, Blob>): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data);
  if (typeof data === 'number') return Buffer.from(String(data));
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) {
    // Fragments (Buffer[]) are joined; an array of numbers is bytes, as Buffer.from reads it.
    return data.every((item) => Buffer.isBuffer(item))
      ? Buffer.concat(data as Buffer[])
      : Buffer.from(data as number[]);
  }
  throw new TypeError('The data argument must be a string, Buffer, ArrayBuffer, ArrayBufferView or Blob');
}

/** Whether toBuffer() made new bytes for `data` (nobody else holds them). */
export function isFresh(data: Exclude<BufferLike, Blob>): boolean {
  return typeof data === 'string' || typeof data === 'number' || Array.isArray(data);
}

/**
 * The bytes of a close reason: exactly the view's bytes for a typed array or DataView (its byteOffset and
 * byteLength, not the whole ArrayBuffer behind it, nor element values), all of an ArrayBuffer.
 */
function closeReasonBytes(reason: string | Buffer | ArrayBuffer | ArrayBufferView | undefined): Buffer {
  if (reason === undefined) return EMPTY_BUFFER;
  if (typeof reason === 'string') return Buffer.from(reason);
  if (Buffer.isBuffer(reason)) return reason;
  if (ArrayBuffer.isView(reason)) return Buffer.from(reason.buffer, reason.byteOffset, reason.byteLength);
  const raw: unknown = reason;
  if (raw instanceof ArrayBuffer || raw instanceof SharedArrayBuffer) return Buffer.from(raw);
  throw new TypeError('The reason argument must be a string, Buffer, ArrayBuffer or ArrayBufferView');
}

function closePayload(code: number, reason: Buffer): Buffer {
  const payload = Buffer.allocUnsafe(2 + reason.length);
  payload.writeUInt16BE(code, 0);
  reason.copy(payload, 2);
  return payload;
}

/** The WebSocket a socket is bound to: lets one set of listener functions serve every connection. */
const OWNER = Symbol('wskit.websocket');
type OwnedSocket = Duplex & { [OWNER]?: WebSocket };

/** The WebSocket bound to `socket` by setSocket, if any. */
export function socketOwner(socket: Duplex): WebSocket | undefined {
  return (socket as OwnedSocket)[OWNER];
}

function isBlob(value: unknown): value is Blob {
  return typeof Blob !== 'undefined' && value instanceof Blob;
}

/** Bits of WebSocket's `flags`: a boolean field costs a pointer per connection, a bit costs nothing. */
const FLAG_BITS = {
  autoPong: 1,
  paused: 2,
  closeFrameSent: 4,
  closeFrameReceived: 8,
  errorEmitted: 16,
  receiveFailed: 32,
  socketGone: 64,
  closeEmitted: 128,
  inputAbandoned: 256,
  closeDeferred: 512,
} as const;

/** Automatic pongs handed to the framer and not yet written out (ws: pending auto pongs). */
interface PongBacklog {
  pending: number;
  readonly done: SendCallback;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- the interface only types the listener overloads
export class WebSocket extends EventEmitter implements ReceiverTarget, HeartbeatTarget {
  // ws's module shape: the package's exports are also statics of the class (assigned where the package
  // entry is built), so `WebSocket.Server` and `new WebSocket.WebSocketServer()` type-check as with ws.
  declare static Server: typeof WebSocketServer;
  declare static WebSocketServer: typeof WebSocketServer;
  declare static WebSocket: typeof WebSocket;
  declare static createWebSocketStream: typeof createWebSocketStream;
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;

  /** @internal */ _readyState: ReadyState = CONNECTING;
  /** @internal */ _socket: Duplex | null = null;
  /** @internal */ _isServer = true;
  /** @internal */ _protocol = '';
  /** @internal */ _extensions = '';
  /** @internal */ _url: string | undefined;
  /** @internal */ _closeTimeout = DEFAULT_CLOSE_TIMEOUT;
  /** @internal */ _perMessageDeflate: PerMessageDeflate | null = null;
  /** @internal Subscriptions (topics.ts); null until the first subscribe. */
  _topicState: SocketTopics | null = null;

  private _binaryType: BinaryType = 'nodebuffer';
  // Framer and receiver are made on first use (see setSocket): an idle connection holds neither.
  private framer: Framer | null = null;
  private receiver: Receiver | null = null;
  private settings: SocketSettings | null = null;
  /** The booleans below, one bit each (see the static block): an idle connection is mostly this object. */
  private flags: number = FLAG_BITS.autoPong;
  declare private autoPong: boolean;
  declare private paused: boolean;
  declare private closeFrameSent: boolean;
  declare private closeFrameReceived: boolean;
  private closeCode = 1006;
  private closeReason: Buffer = EMPTY_BUFFER;
  private closeTimer: NodeJS.Timeout | null = null;
  declare private errorEmitted: boolean;
  declare private receiveFailed: boolean;
  declare private socketGone: boolean;
  declare private closeEmitted: boolean;
  /** Set when the peer reset the connection or we terminated it: held input is dropped, not parsed. */
  declare private inputAbandoned: boolean;
  /** 'close' waits a tick: sends failed by the closing socket are called back first. */
  declare private closeDeferred: boolean;
  private bufferedAfterClose = 0;
  /** Made on the first automatic pong. */
  private pongBacklog: PongBacklog | null = null;
  /** @internal Set by whoever terminated the socket on purpose (e.g. the heartbeat), reported as the close reason. */
  _abortReason: string | null = null;
  private heartbeat: Heartbeat | null = null;
  private heartbeatEntry: HeartbeatEntry | null = null;
  private maxBufferedAmount = 0;

  static {
    for (const [name, bit] of Object.entries(FLAG_BITS)) {
      Object.defineProperty(this.prototype, name, {
        get(this: WebSocket): boolean {
          return (this.flags & bit) !== 0;
        },
        set(this: WebSocket, value: boolean): void {
          this.flags = value ? this.flags | bit : this.flags & ~bit;
        },
      });
    }
  }

  declare onopen: ((event: import('./event-target.js').Event) => void) | null;
  declare onmessage: ((event: import('./event-target.js').MessageEvent) => void) | null;
  declare onerror: ((event: import('./event-target.js').ErrorEvent) => void) | null;
  declare onclose: ((event: import('./event-target.js').CloseEvent) => void) | null;

  constructor(address: string | URL | null, protocols?: string | string[] | ClientOptions, options?: ClientOptions) {
    super();
    if (address === null) return;
    this._isServer = false;
    // As ws: an object in the protocols position is the options; `options.protocols` is used when no
    // protocols argument is given; anything else (null included) is one protocol, validated later.
    if (protocols !== undefined && !Array.isArray(protocols) && typeof protocols === 'object' && protocols !== null) {
      options = protocols;
      protocols = undefined;
    }
    if (protocols === undefined) protocols = options?.protocols;
    const list = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    connectClient(this, address, list, options ?? {});
  }

  get binaryType(): BinaryType {
    return this._binaryType;
  }

  set binaryType(type: BinaryType) {
    if (!BINARY_TYPES.includes(type)) return;
    this._binaryType = type;
    if (this.receiver) this.receiver.binaryType = type;
  }

  get readyState(): ReadyState {
    return this._readyState;
  }

  get protocol(): string {
    return this._protocol;
  }

  get extensions(): string {
    return this._extensions;
  }

  get url(): string | undefined {
    return this._url;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  // The heartbeat's state goes by `heartbeat*` names: `isAlive`, `rtt`, `lastActivity` are left to the
  // application (ws's own README heartbeat recipe assigns `ws.isAlive`).

  /** False between a heartbeat ping and the next sign of life from the peer (true without a heartbeat). */
  get heartbeatAlive(): boolean {
    return this.heartbeatEntry?.isAlive ?? true;
  }

  /** performance.now() of the last frame received (heartbeat only). */
  get heartbeatLastActivity(): number | undefined {
    return this.heartbeatEntry?.lastActivity;
  }

  /** Round-trip time of the last answered heartbeat ping, in ms. */
  get heartbeatRtt(): number | undefined {
    return this.heartbeatEntry?.rtt;
  }

  // ─── Topics (see topics.ts) ───────────────────────────────────────────────

  /**
   * Subscribes to `topic` of the accepting server's hub. True when subscribed, false when refused (or not
   * OPEN); a promise of that when the server's canSubscribe hook is asynchronous. `options` reach the hub's
   * relay (e.g. `since` for a backplane with history).
   */
  subscribe(topic: string, options?: SubscribeOptions): boolean | Promise<boolean> {
    const settings = this.settings;
    return subscribeSocket(this, settings?.topics, topic, settings?.canSubscribe, options);
  }

  /** Returns whether the socket was subscribed. */
  unsubscribe(topic: string): boolean {
    return unsubscribeSocket(this, topic);
  }

  isSubscribed(topic: string): boolean {
    return isSocketSubscribed(this, topic);
  }

  /** The topics this socket is subscribed to (a copy). A closed socket has none. */
  get topics(): string[] {
    return socketTopicList(this);
  }

  addEventListener(type: string, listener: EventListenerLike, options?: { once?: boolean }): void {
    addEventListener.call(this, type, listener, options);
  }

  removeEventListener(type: string, listener: EventListenerLike): void {
    removeEventListener.call(this, type, listener);
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get bufferedAmount(): number {
    if (!this._socket) return this.bufferedAfterClose;
    return this.bufferedAfterClose + (this.framer?.pendingBytes ?? 0) + this._socket.writableLength;
  }

  /**
   * @internal Binds an upgraded socket; the connection is OPEN afterwards. `head` holds bytes that
   * arrived with the upgrade request/response.
   */
  setSocket(socket: Duplex, head: Buffer, settings: SocketSettings): void {
    this._socket = socket;
    this.autoPong = settings.autoPong;
    this.maxBufferedAmount = settings.maxBufferedAmount ?? 0;
    if (settings.heartbeat) {
      this.heartbeat = settings.heartbeat;
      this.heartbeatEntry = settings.heartbeat.add(this);
    }
    if (settings.closeTimeout !== undefined) this._closeTimeout = settings.closeTimeout;
    // The server hands every connection the same settings object (unless deflate was negotiated), so
    // keeping it costs one reference; the framer and the receiver are built from it when first needed.
    this.settings = settings;
    this._perMessageDeflate = settings.perMessageDeflate ?? null;

    const tcp = socket as Partial<Socket>;
    tcp.setTimeout?.(0);
    tcp.setNoDelay?.(true);
    // Shared listener functions that find their WebSocket on the socket: no closures per connection.
    (socket as OwnedSocket)[OWNER] = this;
    socket.on('data', WebSocket.socketOnData);
    socket.on('end', WebSocket.socketOnEnd);
    socket.on('close', WebSocket.socketOnClose);
    socket.on('error', WebSocket.socketOnError);
    if (socket.destroyed) process.nextTick(WebSocket.onDestroyedAtStart, this);

    this._readyState = OPEN;
    this.emit('open');
    // Deferred so that 'connection'/'open' listeners are attached before the first message is parsed.
    if (head.length > 0) process.nextTick(WebSocket.onHead, this, head);
  }

  private getFramer(): Framer {
    if (this.framer !== null) return this.framer;
    const settings = this.settings!;
    const framer = new Framer(
      this._socket!,
      settings.fragmentOutgoingMessages ? (settings.fragmentationThreshold ?? DEFAULT_FRAGMENTATION_THRESHOLD) : 0,
    );
    framer.compressor = this._perMessageDeflate;
    if (settings.generateMask) framer.generateMask = settings.generateMask;
    if (this.socketGone) framer.destroy();
    this.framer = framer;
    return framer;
  }

  private getReceiver(): Receiver {
    if (this.receiver !== null) return this.receiver;
    const settings = this.settings!;
    const receiver = new Receiver(this, {
      isServer: this._isServer,
      maxPayload: settings.maxPayload,
      maxFrameSize: settings.maxReceivedFrameSize,
      skipUTF8Validation: settings.skipUTF8Validation,
      allowSynchronousEvents: settings.allowSynchronousEvents,
      assembleFragments: settings.assembleFragments,
      maxFragments: settings.maxFragments ?? DEFAULT_MAX_FRAGMENTS,
      maxBufferedChunks: settings.maxBufferedChunks ?? DEFAULT_MAX_BUFFERED_CHUNKS,
    });
    receiver.binaryType = this._binaryType;
    if (this._perMessageDeflate) receiver.setDecompressor(this._perMessageDeflate);
    this.receiver = receiver;
    return receiver;
  }

  private static socketOnData(this: Duplex, chunk: Buffer): void {
    (this as OwnedSocket)[OWNER]!.onSocketData(chunk);
  }

  private static socketOnEnd(this: Duplex): void {
    (this as OwnedSocket)[OWNER]!.onSocketEnd();
  }

  private static socketOnClose(this: Duplex): void {
    (this as OwnedSocket)[OWNER]!.onSocketClose();
  }

  private static socketOnError(this: Duplex): void {
    (this as OwnedSocket)[OWNER]!.onSocketError();
  }

  private static onDestroyedAtStart(ws: WebSocket): void {
    ws.onSocketClose();
  }

  private static onHead(ws: WebSocket, head: Buffer): void {
    ws.onSocketData(head);
  }

  /** @internal Writes an already framed message (broadcast frames once for many sockets). */
  _sendFrame(frame: Buffer, cb?: SendCallback): void {
    if (this._readyState !== OPEN) {
      this.sendAfterClose(frame, cb);
      return;
    }
    // The limit is about memory, so the whole frame counts here (send() counts its payload).
    if (this.dropIfOverLimit(frame.length, cb)) return;
    this.getFramer().sendRaw(frame, cb);
  }

  /**
   * @internal A message of its own (publish, broadcast): like send(), but never a continuation of a
   * fragmented message the caller has open; it waits for that message's end instead. `owned`: the payload
   * is never changed by anyone (one copy shared by every recipient of a fan-out), so it is not copied again.
   */
  _sendWhole(payload: Buffer, binary: boolean, compress: boolean, owned = false): void {
    if (this._readyState !== OPEN) {
      this.sendAfterClose(payload);
      return;
    }
    if (this.dropIfOverLimit(payload.length)) return;
    const options = { binary, fin: true, mask: !this._isServer, compress, whole: true, owned };
    this.getFramer().sendMessage(payload, options);
  }

  // ─── Sending ──────────────────────────────────────────────────────────────

  send(data: BufferLike, cb?: SendCallback): void;
  send(data: BufferLike, options: SendOptions, cb?: SendCallback): void;
  send(data: BufferLike, optionsOrCb?: SendOptions | SendCallback, cb?: SendCallback): void {
    if (this._readyState === CONNECTING) throw notOpenError(CONNECTING);
    let options: SendOptions = {};
    if (typeof optionsOrCb === 'function') cb = optionsOrCb;
    else if (optionsOrCb) options = optionsOrCb;
    // As ws: send() without data (undefined or null) sends an empty binary message.
    if ((data as unknown) === undefined || (data as unknown) === null) data = EMPTY_BUFFER;

    if (this._readyState !== OPEN) {
      this.sendAfterClose(data, cb);
      return;
    }
    const framer = this.getFramer();
    const mask = options.mask ?? !this._isServer;
    const compress = options.compress ?? true;
    const fin = options.fin ?? true;
    if (isBlob(data)) {
      const binary = options.binary ?? true;
      // A Blob is read later, but its bytes count as buffered from now on, limit included.
      if (this.dropIfOverLimit(data.size, cb)) return;
      framer.sendLater(data.size, (done) => {
        data.arrayBuffer().then(
          (buffer) =>
            done(() => framer.sendMessage(Buffer.from(buffer), { binary, fin, mask, compress, owned: true }, cb)),
          (error: Error) => this.blobReadFailed(error, cb),
        );
      });
      return;
    }
    // A number goes out as its decimal text, as in ws.
    const binary = options.binary ?? (typeof data !== 'string' && typeof data !== 'number');
    const payload = toBuffer(data);
    if (this.dropIfOverLimit(payload.length, cb)) return;
    framer.sendMessage(payload, { binary, fin, mask, compress }, cb);
  }

  /**
   * A Blob that cannot be read (a file changed since it was opened) fails its send and, as in ws, the
   * connection: the callback gets the read error, the socket is ended without a close frame, 'error' carries
   * the error (unless the connection closed already). Nothing queued after the Blob is sent.
   */
  private blobReadFailed(error: Error, cb: SendCallback | undefined): void {
    process.nextTick(() => {
      cb?.(error);
      if (this._readyState === CLOSED) return;
      if (this._readyState === OPEN) {
        this._readyState = CLOSING;
        this.armCloseTimer();
      }
      this.endSocket();
      this.emitError(error);
    });
  }

  /** Drops the connection (see dropSlowConsumer) when `bytes` more would pass maxBufferedAmount. */
  private dropIfOverLimit(bytes: number, cb?: SendCallback): boolean {
    if (this.maxBufferedAmount <= 0 || this.bufferedAmount + bytes <= this.maxBufferedAmount) return false;
    this.dropSlowConsumer(cb);
    return true;
  }

  /**
   * The peer does not read fast enough: queued bytes would pass maxBufferedAmount. The socket is
   * terminated at once (a close frame would wait behind the same backlog, holding the memory we mean to
   * free): the send fails with WS_ERR_BUFFER_LIMIT, 'error' carries it, 'close' reports 1006.
   */
  private dropSlowConsumer(cb?: SendCallback): void {
    const error = new WebSocketError(
      'WS_ERR_BUFFER_LIMIT',
      1008,
      `Send buffer limit exceeded (maxBufferedAmount ${this.maxBufferedAmount} bytes): the peer is not reading`,
    );
    if (cb) process.nextTick(cb, error);
    this._abortReason = 'send buffer limit exceeded';
    this.emitError(error);
    this.terminate();
  }

  // ─── Heartbeat (HeartbeatTarget) ──────────────────────────────────────────

  /** @internal */
  sendHeartbeatPing(payload: Buffer): void {
    if (this._readyState === OPEN) this.getFramer().sendControl(Opcode.Ping, payload, !this._isServer);
  }

  /** @internal */
  heartbeatTimedOut(): void {
    this.heartbeatEntry = null;
    this._abortReason = 'heartbeat timeout';
    this.terminate();
  }

  ping(data?: BufferLike | SendCallback, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.control(Opcode.Ping, data, mask, cb);
  }

  pong(data?: BufferLike | SendCallback, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.control(Opcode.Pong, data, mask, cb);
  }

  private control(
    opcode: number,
    data: BufferLike | SendCallback | undefined,
    mask: boolean | SendCallback | undefined,
    cb: SendCallback | undefined,
  ): void {
    if (this._readyState === CONNECTING) throw notOpenError(CONNECTING);
    if (typeof data === 'function') {
      cb = data;
      data = mask = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
      mask = undefined;
    }
    if (this._readyState !== OPEN) {
      this.sendAfterClose(data ?? EMPTY_BUFFER, cb);
      return;
    }
    const masked = mask ?? !this._isServer;
    if (isBlob(data)) {
      if (data.size > MAX_CONTROL_PAYLOAD) throw new RangeError('The data size must not be greater than 125 bytes');
      // Read in order with the messages around it, like a Blob given to send().
      const framer = this.getFramer();
      framer.sendLater(data.size, (done) => {
        data.arrayBuffer().then(
          (buffer) => done(() => framer.sendControl(opcode, Buffer.from(buffer), masked, cb)),
          (error: Error) => this.blobReadFailed(error, cb),
        );
      });
      return;
    }
    const payload = data === undefined ? EMPTY_BUFFER : toBuffer(data);
    if (payload.length > MAX_CONTROL_PAYLOAD) throw new RangeError('The data size must not be greater than 125 bytes');
    this.getFramer().sendControl(opcode, payload, masked, cb);
  }

  private sendAfterClose(data: BufferLike, cb?: SendCallback): void {
    if (data !== undefined) {
      this.bufferedAfterClose += isBlob(data) ? data.size : toBuffer(data).length;
    }
    if (cb) process.nextTick(cb, notOpenError(this._readyState));
  }

  // ─── Closing ──────────────────────────────────────────────────────────────

  close(code?: number, reason?: string | Buffer | ArrayBuffer | ArrayBufferView): void {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CONNECTING) {
      this.abortConnecting('WebSocket was closed before the connection was established');
      return;
    }
    if (this._readyState === CLOSING) {
      if (this.closeFrameSent && (this.closeFrameReceived || this.receiveFailed)) this.endSocket();
      return;
    }
    let payload = EMPTY_BUFFER;
    if (code !== undefined) {
      if (typeof code !== 'number' || !isValidCloseCode(code)) {
        throw new TypeError('First argument must be a valid error code number');
      }
      const reasonBytes = closeReasonBytes(reason);
      if (reasonBytes.length > MAX_CLOSE_REASON) {
        throw new RangeError('The message must not be greater than 123 bytes');
      }
      payload = closePayload(code, reasonBytes);
    }
    this.startClosing(payload);
  }

  terminate(): void {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CONNECTING) {
      this.abortConnecting('WebSocket was closed before the connection was established');
      return;
    }
    // CLOSING without a socket: a failed client handshake (e.g. terminate() from its 'error' listener).
    if (this._socket === null) return;
    this._readyState = CLOSING;
    // Whatever input is still held (a paused socket, a message inflating) is dropped: 'close' follows at once.
    this.inputAbandoned = true;
    abortTransport(this._socket);
  }

  pause(): void {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;
    this.paused = true;
    this._socket!.pause();
    this.getReceiver().pause();
  }

  resume(): void {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;
    this.paused = false;
    const receiver = this.getReceiver();
    if (!receiver.isFinished && !receiver.isThrottled) this._socket!.resume();
    receiver.resume();
  }

  private sendCloseFrame(payload: Buffer): void {
    const framer = this.getFramer();
    framer.sendControl(Opcode.Close, payload, !this._isServer, (error) => {
      if (error) return;
      this.closeFrameSent = true;
      if (this.closeFrameReceived || this.receiveFailed) this.endSocket();
    });
    framer.flush();
  }

  /** Starts the closing handshake from OPEN: sends the close frame and bounds the wait for the peer. */
  private startClosing(payload: Buffer): void {
    this._readyState = CLOSING;
    this.sendCloseFrame(payload);
    this.armCloseTimer();
  }

  /** The input ended (peer's close frame or a protocol error): answer it, or finish if we closed first. */
  private answerClose(payload: Buffer): void {
    if (this._readyState === OPEN) this.startClosing(payload);
    else if (this.closeFrameSent) this.endSocket();
  }

  /**
   * Half-closes the TCP side once. Ending a socket that already ended makes Node build an
   * ERR_STREAM_ALREADY_FINISHED error each time: a measurable cost on every connection close.
   */
  private endSocket(): void {
    const socket = this._socket;
    if (socket !== null && !socket.writableEnded && !socket.destroyed) socket.end();
  }

  private armCloseTimer(): void {
    if (this.closeTimer) return;
    // As ws: the socket is destroyed `closeTimeout` ms after closing starts (0: on the next timer tick).
    this.closeTimer = setTimeout(() => this._socket?.destroy(), this._closeTimeout);
    this.closeTimer.unref?.();
  }

  /** @internal Client handshake failures and aborts land here. */
  abortConnecting(message: string, error?: Error): void {
    this._readyState = CLOSING;
    const err = error ?? new Error(message);
    this._onHandshakeAbort?.(err);
    process.nextTick(() => {
      this.emitError(err);
      this.emitClose();
    });
  }

  /** @internal The client handshake installs a hook that tears down its request. */
  _onHandshakeAbort: ((error: Error) => void) | null = null;

  /**
   * @internal Set by guardSocket(): where an exception thrown by a listener of an event this socket emits
   * goes (the socket is then closed with 1011). Null: it propagates, as in ws. A field, not an `emit`
   * wrapper: the unguarded path stays a plain emit and the guarded one costs one try/catch.
   */
  _listenerFault: ((error: unknown) => void) | null = null;

  /** Emits one socket event; under a guard, a listener's exception goes to the guard instead of the caller. */
  private fire(event: string, a: unknown, b?: unknown): void {
    const fault = this._listenerFault;
    // Events with one argument pass one: listeners see the same arguments whether guarded or not.
    if (fault === null) {
      if (b === undefined) this.emit(event, a);
      else this.emit(event, a, b);
      return;
    }
    try {
      if (b === undefined) this.emit(event, a);
      else this.emit(event, a, b);
    } catch (error) {
      try {
        fault(error);
      } finally {
        if (this._readyState === OPEN) this.close(1011, 'Internal server error');
      }
    }
  }

  /** @internal */
  emitError(error: Error): void {
    if (this.errorEmitted) return;
    this.errorEmitted = true;
    // An unhandled 'error' event would throw and crash the process: bad input from a peer must not.
    if (this.listenerCount('error') > 0) this.fire('error', error);
  }

  /** @internal */
  emitClose(): void {
    if (this.closeEmitted) return;
    if (this.closeDeferred) {
      this.closeDeferred = false;
      process.nextTick(() => this.emitClose());
      return;
    }
    this.closeEmitted = true;
    this._readyState = CLOSED;
    if (this.closeTimer) {
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    this._perMessageDeflate?.cleanup();
    this._topicState?.hub?.leaveAll(this);
    if (this.heartbeatEntry) {
      this.heartbeat!.remove(this.heartbeatEntry);
      this.heartbeatEntry = null;
    }
    const reason = this.closeFrameReceived || !this._abortReason ? this.closeReason : Buffer.from(this._abortReason);
    this.fire('close', this.closeCode, reason);
  }

  // ─── Receiving (ReceiverTarget) ───────────────────────────────────────────

  onMessage(data: MessageData, isBinary: boolean): void {
    // The per-message path: a plain emit unless guarded.
    if (this._listenerFault === null) this.emit('message', data, isBinary);
    else this.fire('message', data, isBinary);
  }

  onFragment(data: Buffer, isBinary: boolean, isFinal: boolean, index: number): void {
    const info: FragmentInfo = { isBinary, isFinal, index };
    this.fire('fragment', data, info);
  }

  onPing(data: Buffer): void {
    if (this.autoPong && this._readyState === OPEN) this.sendAutoPong(data);
    this.fire('ping', data);
  }

  /**
   * A peer that sends pings and never reads would grow the pong backlog without end: as in ws, the
   * socket is terminated once maxPendingAutoPongs pongs wait to be written; pongs also count against
   * maxBufferedAmount like any send.
   */
  private sendAutoPong(data: Buffer): void {
    let backlog = this.pongBacklog;
    if (backlog === null) {
      const created: PongBacklog = { pending: 0, done: () => void created.pending-- };
      backlog = this.pongBacklog = created;
    }
    const limit = this.settings!.maxPendingAutoPongs ?? DEFAULT_MAX_PENDING_AUTO_PONGS;
    if (limit > 0 && backlog.pending >= limit) {
      this._abortReason = 'too many pending pongs';
      this.terminate();
      return;
    }
    if (this.dropIfOverLimit(data.length)) return;
    backlog.pending++;
    this.getFramer().sendControl(Opcode.Pong, data, !this._isServer, backlog.done);
  }

  /**
   * @internal A stopped socket does not notice that the peer reset the connection (the kernel keeps
   * handing out what it had queued first); an empty write fails at once on a reset connection, so the
   * backlog is abandoned instead of inflated.
   */
  probeTransport(): void {
    const socket = this._socket;
    // TCP only: on other transports (an HTTP/2 stream) an empty write could become a frame of its own.
    if (!(socket instanceof Socket) || this.socketGone || !socket.writable || socket.writableLength > 0) return;
    socket.write(EMPTY_BUFFER);
  }

  /** @internal Receive backpressure: the receiver holds enough unparsed input; stop or resume reading. */
  onInputThrottle(stop: boolean): void {
    const socket = this._socket;
    if (socket === null || this.socketGone) return;
    if (stop) socket.pause();
    else if (!this.paused) socket.resume();
  }

  onPong(data: Buffer): void {
    const rtt = this.heartbeatEntry?.pong(data);
    this.fire('pong', data);
    if (rtt !== undefined) this.fire('heartbeat', rtt);
  }

  onCloseFrame(code: number, reason: Buffer): void {
    this.closeFrameReceived = true;
    this.closeCode = code;
    // An empty reason is the shared EMPTY_BUFFER, as in ws.
    this.closeReason = reason.length === 0 ? EMPTY_BUFFER : reason;
    // Echo the peer's code and reason (RFC 6455 §5.5.1); a close without a code is answered without one.
    this.answerClose(code === 1005 ? EMPTY_BUFFER : closePayload(code, reason));
  }

  onReceiveError(error: WebSocketError): void {
    this.receiveFailed = true;
    this.answerClose(closePayload(error.closeCode, EMPTY_BUFFER));
    this.emitError(error);
  }

  // ─── Socket events ────────────────────────────────────────────────────────

  private onSocketData(chunk: Buffer): void {
    if (this.socketGone && this.closeEmitted) return;
    this.heartbeatEntry?.touch();
    (this.receiver ?? this.getReceiver()).push(chunk);
  }

  private onSocketEnd(): void {
    if (this._readyState === OPEN) this._readyState = CLOSING;
    this.endSocket();
  }

  private onSocketError(): void {
    // The 'close' event follows; errors of the transport are reported there as 1006. A peer that reset
    // the connection is gone: the input it left (a backlog waiting for inflation) is not worth parsing.
    this.inputAbandoned = true;
    this._socket?.destroy();
  }

  private onSocketClose(): void {
    if (this.socketGone) return;
    this.socketGone = true;
    this._readyState = CLOSING;
    const socket = this._socket!;
    this.bufferedAfterClose += (this.framer?.pendingBytes ?? 0) + socket.writableLength;
    // As ws: sends failed by the closing socket are called back (while CLOSING) before 'close'.
    if (this.framer?.destroy()) this.closeDeferred = true;
    if (this.inputAbandoned) {
      this.receiver?.stop();
      this.emitClose();
      return;
    }
    // Bytes the socket still holds (it was paused) are parsed: no accepted message is lost.
    if (!this.receiver?.isFinished && typeof (socket as Socket).read === 'function') {
      let chunk: Buffer | null;
      while ((chunk = (socket as Socket).read() as Buffer | null) !== null) this.getReceiver().push(chunk);
    }
    const receiver = this.receiver;
    if (receiver === null || receiver.isFinished || !receiver.isHeld) {
      this.emitClose();
    } else {
      receiver.onSettled = () => {
        receiver.onSettled = null;
        this.emitClose();
      };
    }
  }
}

for (const [name, value] of [
  ['CONNECTING', CONNECTING],
  ['OPEN', OPEN],
  ['CLOSING', CLOSING],
  ['CLOSED', CLOSED],
] as const) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value });
  // As ws: the static constants can be neither reassigned nor redefined.
  Object.defineProperty(WebSocket, name, { enumerable: true, value, writable: false, configurable: false });
}
// As ws: the attribute accessors are enumerable on the prototype (for-in and spreads of the prototype see them).
for (const name of ['binaryType', 'bufferedAmount', 'extensions', 'isPaused', 'protocol', 'readyState', 'url']) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true });
}
defineEventHandlers(WebSocket.prototype);

// ─── Types as @types/ws has them ─────────────────────────────────────────────

type Listener<A extends unknown[]> = (this: WebSocket, ...args: A) => void;

/** The events of a WebSocket and their arguments. */
export interface WebSocketEvents {
  open: [];
  message: [data: RawData, isBinary: boolean];
  close: [code: number, reason: Buffer];
  error: [error: Error];
  ping: [data: Buffer];
  pong: [data: Buffer];
  upgrade: [request: IncomingMessage];
  'unexpected-response': [request: ClientRequest, response: IncomingMessage];
  redirect: [url: string, request: ClientRequest];
  /** wskit: the round-trip time of an answered heartbeat ping (ms). */
  heartbeat: [rtt: number];
  /** wskit, with assembleFragments: false. */
  fragment: [data: Buffer, info: FragmentInfo];
}

type On<R> = {
  <K extends keyof WebSocketEvents>(event: K, listener: Listener<WebSocketEvents[K]>): R;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own catch-all signature
  (event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): R;
};

// Merged into the class: typed listeners (overloads per event, then EventEmitter's catch-all).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface WebSocket {
  on: On<this>;
  once: On<this>;
  off: On<this>;
  addListener: On<this>;
  prependListener: On<this>;
  prependOnceListener: On<this>;
  removeListener: On<this>;
  addEventListener<K extends keyof WsTypes.WebSocketEventMap>(
    type: K,
    listener:
      ((event: WsTypes.WebSocketEventMap[K]) => void) | { handleEvent(event: WsTypes.WebSocketEventMap[K]): void },
    options?: WsTypes.EventListenerOptions,
  ): void;
  removeEventListener<K extends keyof WsTypes.WebSocketEventMap>(
    type: K,
    listener:
      ((event: WsTypes.WebSocketEventMap[K]) => void) | { handleEvent(event: WsTypes.WebSocketEventMap[K]): void },
  ): void;
}

/** `WebSocket.RawData`, `WebSocket.ServerOptions`, ...: the names @types/ws puts on the class. */
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace WebSocket {
  type RawData = WsTypes.RawData;
  type Data = WsTypes.Data;
  type CertMeta = WsTypes.CertMeta;
  type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> =
    WsTypes.VerifyClientCallbackSync<Request>;
  type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> =
    WsTypes.VerifyClientCallbackAsync<Request>;
  type FinishRequestCallback = WsTypes.FinishRequestCallback<import('./websocket.js').WebSocket>;
  type ClientOptions = import('./client-handshake.js').ClientOptions;
  type ServerOptions<U extends typeof import('./websocket.js').WebSocket = typeof import('./websocket.js').WebSocket> =
    ServerOptionsOf<U>;
  type PerMessageDeflateOptions = import('./permessage-deflate.js').PerMessageDeflateOptions;
  type Event = import('./event-target.js').Event;
  type ErrorEvent = import('./event-target.js').ErrorEvent;
  type CloseEvent = import('./event-target.js').CloseEvent;
  type MessageEvent = import('./event-target.js').MessageEvent;
  type WebSocketEventMap = WsTypes.WebSocketEventMap;
  type EventListenerOptions = WsTypes.EventListenerOptions;
  type AddressInfo = WsTypes.AddressInfo;
  type Server<T extends typeof import('./websocket.js').WebSocket = typeof import('./websocket.js').WebSocket> =
    WebSocketServer<T>;
  type WebSocketServer<
    T extends typeof import('./websocket.js').WebSocket = typeof import('./websocket.js').WebSocket,
  > = import('./websocket-server.js').WebSocketServer<T>;
  type WebSocket = import('./websocket.js').WebSocket;
}
