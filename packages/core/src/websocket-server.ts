/**
 * The server: accepts upgrade requests (on its own HTTP server, on one it is given, or through
 * handleUpgrade with noServer), validates and negotiates the handshake, and tracks its clients.
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_PENDING_AUTO_PONGS,
  EMPTY_BUFFER,
} from './constants.js';
import { validateConnectionOptions, type ConnectionOptions } from './connection-options.js';
import { HandshakeError } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import { formatExtensions, parseExtensions } from './extension-header.js';
import { acceptKey, acceptStream, isHttp2Stream, validateUpgradeRequest, writeHttpError } from './handshake.js';
import { listenForWebSocketStreams, http2Request, isHttp2Server, type Http2ServerLike } from './http2.js';
import { PerMessageDeflate } from './permessage-deflate.js';
import { broadcast, type BroadcastOptions } from './client-set.js';
import { TopicHub, type CanSubscribe, type PublishOptions, type TopicHubOptions } from './topics.js';
import { WebSocket, socketOwner, type Data, type SocketSettings } from './websocket.js';
import type { ClientOptions } from './client-handshake.js';
import type { BufferLike, VerifyClientCallbackAsync, VerifyClientCallbackSync } from './ws-types.js';

export interface VerifyClientInfo {
  origin: string | undefined;
  secure: boolean;
  req: http.IncomingMessage;
}
export type VerifyClientCallback = (
  verified: boolean,
  code?: number,
  message?: string,
  headers?: Record<string, string | number>,
) => void;
export type VerifyClient =
  ((info: VerifyClientInfo) => boolean) | ((info: VerifyClientInfo, callback: VerifyClientCallback) => void);

export interface ServerOptions<T extends typeof WebSocket = typeof WebSocket> extends ConnectionOptions {
  port?: number;
  host?: string;
  backlog?: number;
  /** An HTTP/1.1 server (upgrade requests) or an HTTP/2 server (RFC 8441 extended CONNECT streams). */
  server?: http.Server | import('node:https').Server | Http2ServerLike;
  noServer?: boolean;
  path?: string;
  /** Also takes functions typed with @types/ws's VerifyClientCallbackSync/Async. */
  verifyClient?: VerifyClient | VerifyClientCallbackSync | VerifyClientCallbackAsync;
  handleProtocols?: (protocols: Set<string>, request: http.IncomingMessage) => string | false;
  clientTracking?: boolean;
  /** How long an upgrade request may take to be verified and answered before it is refused (ms). */
  handshakeTimeout?: number;
  WebSocket?: T;
  /** Topic pub/sub settings, or a TopicHub to share with other servers (one hub per app). */
  topics?: TopicHub | TopicHubOptions;
  /** Authorizes subscriptions of this server's sockets (sync or async); replaces the hub's canSubscribe. */
  canSubscribe?: CanSubscribe;
}

const enum ServerState {
  Running,
  Closing,
  Closed,
}

type ResolvedOptions = Required<
  Pick<
    ServerOptions,
    'maxPayload' | 'skipUTF8Validation' | 'autoPong' | 'allowSynchronousEvents' | 'clientTracking' | 'handshakeTimeout'
  >
> &
  ServerOptions;

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- the interface only types the listener overloads
export class WebSocketServer<T extends typeof WebSocket = typeof WebSocket> extends EventEmitter {
  readonly options: ResolvedOptions;
  /** The open clients; as in ws, `undefined` when `clientTracking` is false (typed as a Set like @types/ws). */
  clients: Set<InstanceType<T>>;
  private _server: http.Server | import('node:https').Server | Http2ServerLike | null = null;
  private state = ServerState.Running;
  private shouldEmitClose = false;
  private removeListeners: (() => void) | null = null;
  private heartbeat: Heartbeat | null = null;
  /** One 'close' listener shared by every tracked client (it is called with the client as `this`). */
  private readonly onClientClose: (this: WebSocket) => void;
  /** Settings shared by every connection without permessage-deflate (a socket keeps a reference). */
  private sharedSettings: SocketSettings | null = null;
  /** Subscriptions of this server's sockets (topics.ts); possibly shared with other servers. */
  readonly topicHub: TopicHub;

  constructor(options?: ServerOptions<T>, callback?: () => void) {
    super();
    if (options === undefined) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    this.options = {
      maxPayload: DEFAULT_MAX_PAYLOAD,
      maxFragments: DEFAULT_MAX_FRAGMENTS,
      maxBufferedChunks: DEFAULT_MAX_BUFFERED_CHUNKS,
      maxPendingAutoPongs: DEFAULT_MAX_PENDING_AUTO_PONGS,
      skipUTF8Validation: false,
      autoPong: true,
      allowSynchronousEvents: true,
      clientTracking: true,
      handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT,
      perMessageDeflate: false,
      ...options,
    } as ResolvedOptions;
    const o = this.options;
    validateConnectionOptions(o);
    const ways = Number(o.port != null) + Number(o.server != null) + Number(Boolean(o.noServer));
    if (ways !== 1) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    this.clients = (o.clientTracking ? new Set() : undefined) as Set<InstanceType<T>>;
    this.topicHub = o.topics instanceof TopicHub ? o.topics : new TopicHub(o.topics);
    const server = this as WebSocketServer<typeof WebSocket>;
    this.onClientClose = function (this: WebSocket): void {
      server.clients.delete(this);
      if (server.shouldEmitClose && server.clients.size === 0) process.nextTick(() => server.emitClose());
    };
    if (o.heartbeat) this.heartbeat = new Heartbeat(o.heartbeat);

    if (o.port != null) {
      const server = http.createServer((req, res) => {
        // Node routes a handshake with a broken Upgrade/Connection pair here, not to 'upgrade': a request
        // that tries to be a WebSocket handshake gets the same 400-class answer handleUpgrade would give.
        const attempt = req.headers['sec-websocket-key'] !== undefined || req.headers.upgrade !== undefined;
        const refusal = attempt ? validateUpgradeRequest(req) : null;
        if (refusal instanceof HandshakeError) {
          const body = refusal.message;
          res.writeHead(refusal.status, {
            ...refusal.headers,
            Connection: 'close',
            'Content-Length': Buffer.byteLength(body),
            'Content-Type': 'text/plain',
          });
          res.end(body);
          return;
        }
        const body = http.STATUS_CODES[426]!;
        res.writeHead(426, {
          'Content-Length': body.length,
          'Content-Type': 'text/plain',
          Upgrade: 'websocket',
          Connection: 'Upgrade',
        });
        res.end(body);
      });
      // Slow or incomplete upgrade requests are cut off rather than held open.
      server.headersTimeout = Math.min(server.headersTimeout, o.handshakeTimeout);
      server.requestTimeout = o.handshakeTimeout;
      this._server = server;
      server.listen(o.port, o.host, o.backlog, callback);
    } else if (o.server) {
      this._server = o.server;
    }

    if (this._server) {
      const server = this._server;
      const onListening = (): void => {
        this.emit('listening');
      };
      const onError = (error: Error): void => {
        this.emit('error', error);
      };
      const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      server.on('listening', onListening);
      server.on('error', onError);
      // An HTTP/2 server also emits 'upgrade' for HTTP/1.1 clients when created with allowHTTP1.
      server.on('upgrade', onUpgrade);
      const detachStreams = isHttp2Server(server)
        ? listenForWebSocketStreams(server, (req, stream) => onUpgrade(req, stream, EMPTY_BUFFER))
        : null;
      this.removeListeners = () => {
        server.removeListener('listening', onListening);
        server.removeListener('error', onError);
        server.removeListener('upgrade', onUpgrade);
        detachStreams?.();
      };
    }
  }

  /**
   * Sends one message to every open client (clientTracking must be on). The frame is built once and the
   * same bytes are written to every socket. Returns the number of clients it was sent to.
   */
  broadcast(data: Exclude<Data, Blob>, options?: BroadcastOptions<InstanceType<T>>): number {
    return broadcast(this.clients ?? [], data, options);
  }

  /**
   * Sends one message to every subscriber of `topic` (framed once; see topics.ts) and returns how many
   * sockets it was queued for. A subscribed sender gets its own message unless it is in `except`.
   */
  publish(topic: string, data: Exclude<BufferLike, Blob>, options?: PublishOptions): number {
    return this.topicHub.publish(topic, data, options);
  }

  subscriberCount(topic: string): number {
    return this.topicHub.subscriberCount(topic);
  }

  /** Topics with at least one subscriber. */
  get topics(): string[] {
    return this.topicHub.topics;
  }

  address(): AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    if (!this._server) return null;
    return this._server.address();
  }

  /** Whether this server handles the request (the `path` option); override for other routing. */
  shouldHandle(req: http.IncomingMessage): boolean {
    const path = this.options.path;
    if (path === undefined) return true;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    return (q === -1 ? url : url.slice(0, q)) === path;
  }

  close(cb?: (error?: Error) => void): void {
    if (this.state === ServerState.Closed) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(() => this.emitClose());
      return;
    }
    if (cb) this.once('close', cb);
    if (this.state === ServerState.Closing) return;
    this.state = ServerState.Closing;

    if (this.options.noServer || this.options.server) {
      this.removeListeners?.();
      this.removeListeners = null;
      this._server = null;
      if (!this.options.clientTracking || this.clients.size === 0) process.nextTick(() => this.emitClose());
      else this.shouldEmitClose = true;
      return;
    }
    const server = this._server!;
    this.removeListeners?.();
    this.removeListeners = null;
    this._server = null;
    server.close(() => this.emitClose());
  }

  /**
   * handleUpgrade for HTTP/2 (noServer): takes an extended CONNECT stream (RFC 8441) with its request
   * headers, answers it (:status 200, or a refusal status) and hands over the WebSocket. The request
   * passed to verifyClient, handleProtocols and `cb` is Node's Http2ServerRequest for the stream.
   */
  handleStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    cb: (client: InstanceType<T>, request: http.IncomingMessage) => void,
  ): void {
    this.handleUpgrade(http2Request(stream, headers), stream, EMPTY_BUFFER, cb);
  }

  private emitClose(): void {
    this.state = ServerState.Closed;
    this.heartbeat?.close();
    this.emit('close');
  }

  handleUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (client: InstanceType<T>, request: http.IncomingMessage) => void,
  ): void {
    socket.on('error', onHandshakeSocketError);
    const info = validateUpgradeRequest(req);
    if (info instanceof HandshakeError) {
      this.refuse(info, socket, req);
      return;
    }
    // Consulted even without a `path`: a subclass may override shouldHandle (as with ws).
    if (!this.shouldHandle(req)) {
      this.refuse(new HandshakeError(400, 'Path not handled by this server'), socket, req);
      return;
    }

    let deflate: PerMessageDeflate | null = null;
    if (this.options.perMessageDeflate && info.extensions !== undefined) {
      let offers;
      try {
        offers = parseExtensions(info.extensions);
      } catch {
        this.refuse(new HandshakeError(400, 'Invalid or unacceptable Sec-WebSocket-Extensions header'), socket, req);
        return;
      }
      const offered = offers[PerMessageDeflate.extensionName];
      if (offered) {
        const candidate = new PerMessageDeflate(
          this.options.perMessageDeflate === true ? {} : this.options.perMessageDeflate,
          true,
          this.options.maxPayload,
        );
        try {
          candidate.accept(offered);
          deflate = candidate;
        } catch {
          // No acceptable offer: the extension is declined, the connection goes on without it.
        }
      }
    }

    const verify = this.options.verifyClient as VerifyClient | undefined;
    if (!verify) {
      this.completeUpgrade(info.key, info.protocols, deflate, req, socket, head, cb);
      return;
    }
    const verifyInfo: VerifyClientInfo = {
      origin: info.origin,
      secure: Boolean(
        (req.socket as { authorized?: boolean; encrypted?: boolean }).authorized ||
        (req.socket as { encrypted?: boolean }).encrypted,
      ),
      req,
    };
    if (verify.length === 2) {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        this.refuse(new HandshakeError(408, 'Handshake timed out'), socket, req);
      }, this.options.handshakeTimeout);
      timer.unref?.();
      (verify as (i: VerifyClientInfo, c: VerifyClientCallback) => void)(
        verifyInfo,
        (verified, code, message, headers) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (!verified) {
            this.refuse(
              new HandshakeError(code ?? 401, message ?? http.STATUS_CODES[code ?? 401] ?? '', stringify(headers)),
              socket,
              req,
            );
            return;
          }
          this.completeUpgrade(info.key, info.protocols, deflate, req, socket, head, cb);
        },
      );
      return;
    }
    let verified: boolean;
    try {
      verified = (verify as (i: VerifyClientInfo) => boolean)(verifyInfo);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    if (!verified) {
      this.refuse(new HandshakeError(401, 'Unauthorized'), socket, req);
      return;
    }
    this.completeUpgrade(info.key, info.protocols, deflate, req, socket, head, cb);
  }

  private completeUpgrade(
    key: string,
    protocols: Set<string>,
    deflate: PerMessageDeflate | null,
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    cb: (client: InstanceType<T>, request: http.IncomingMessage) => void,
  ): void {
    if (!socket.readable || !socket.writable || socket.destroyed) {
      socket.destroy();
      return;
    }
    if (socketOwner(socket) !== undefined) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration',
      );
    }
    if (this.state !== ServerState.Running) {
      writeHttpError(socket, 503);
      return;
    }

    // Over HTTP/2 the answer is :status 200 with no Upgrade, Connection or accept key (RFC 8441 §5).
    const overHttp2 = isHttp2Stream(socket);
    const headers = overHttp2
      ? ['HTTP/2 200']
      : [
          'HTTP/1.1 101 Switching Protocols',
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Accept: ${acceptKey(key)}`,
        ];
    const WebSocketClass = (this.options.WebSocket ?? WebSocket) as T;
    const ws = new WebSocketClass(null, undefined, this.options as ClientOptions) as InstanceType<T>;

    if (protocols.size > 0) {
      const chosen = this.options.handleProtocols
        ? this.options.handleProtocols(protocols, req)
        : (protocols.values().next().value as string);
      if (chosen) {
        headers.push(`Sec-WebSocket-Protocol: ${chosen}`);
        ws._protocol = chosen;
      }
    }
    if (deflate) {
      headers.push(
        `Sec-WebSocket-Extensions: ${formatExtensions({ [PerMessageDeflate.extensionName]: deflate.params ?? {} })}`,
      );
      ws._extensions = PerMessageDeflate.extensionName;
    }
    this.emit('headers', headers, req);

    if (overHttp2) acceptStream(socket, headers);
    else socket.write(`${headers.join('\r\n')}\r\n\r\n`);
    socket.removeListener('error', onHandshakeSocketError);

    const shared = (this.sharedSettings ??= this.socketSettings());
    ws.setSocket(socket, head, deflate ? { ...shared, perMessageDeflate: deflate } : shared);

    if (this.options.clientTracking) {
      this.clients.add(ws);
      ws.on('close', this.onClientClose);
    }
    cb(ws, req);
  }

  private socketSettings(): SocketSettings {
    const o = this.options;
    return Object.freeze({
      maxPayload: o.maxPayload,
      maxReceivedFrameSize: o.maxReceivedFrameSize,
      skipUTF8Validation: o.skipUTF8Validation,
      allowSynchronousEvents: o.allowSynchronousEvents,
      autoPong: o.autoPong,
      closeTimeout: o.closeTimeout,
      perMessageDeflate: null,
      heartbeat: this.heartbeat,
      maxBufferedAmount: o.maxBufferedAmount,
      fragmentOutgoingMessages: o.fragmentOutgoingMessages,
      fragmentationThreshold: o.fragmentationThreshold,
      assembleFragments: o.assembleFragments,
      maxFragments: o.maxFragments,
      maxBufferedChunks: o.maxBufferedChunks,
      maxPendingAutoPongs: o.maxPendingAutoPongs,
      topics: this.topicHub,
      canSubscribe: o.canSubscribe ?? null,
    });
  }

  private refuse(error: HandshakeError, socket: Duplex, req: http.IncomingMessage): void {
    if (this.listenerCount('wsClientError') > 0) {
      this.emit('wsClientError', error, socket, req);
      return;
    }
    writeHttpError(socket, error.status, error.message, error.headers);
  }
}

function onHandshakeSocketError(this: Duplex): void {
  this.destroy();
}

function stringify(headers: Record<string, string | number> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers) for (const [k, v] of Object.entries(headers)) out[k] = String(v);
  return out;
}

// ─── Typed listeners, as @types/ws has them ──────────────────────────────────

/** The events of a WebSocketServer and their arguments. */
export interface WebSocketServerEvents<T extends typeof WebSocket = typeof WebSocket> {
  connection: [socket: InstanceType<T>, request: http.IncomingMessage];
  headers: [headers: string[], request: http.IncomingMessage];
  listening: [];
  close: [];
  error: [error: Error];
  wsClientError: [error: Error, socket: Duplex, request: http.IncomingMessage];
}

type ServerOn<T extends typeof WebSocket, R> = {
  <K extends keyof WebSocketServerEvents<T>>(
    event: K,
    listener: (this: WebSocketServer<T>, ...args: WebSocketServerEvents<T>[K]) => void,
  ): R;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own catch-all signature
  (event: string | symbol, listener: (this: WebSocketServer<T>, ...args: any[]) => void): R;
};

export interface WebSocketServer<T extends typeof WebSocket = typeof WebSocket> {
  on: ServerOn<T, this>;
  once: ServerOn<T, this>;
  off: ServerOn<T, this>;
  addListener: ServerOn<T, this>;
  prependListener: ServerOn<T, this>;
  prependOnceListener: ServerOn<T, this>;
  removeListener: ServerOn<T, this>;
}
