/**
 * The server: accepts upgrade requests (on its own HTTP server, on one it is given, or through
 * handleUpgrade with noServer), validates and negotiates the handshake, and tracks its clients.
 */
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_CHUNKS,
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MAX_PENDING_AUTO_PONGS,
} from './constants.js';
import { validateConnectionOptions, type ConnectionOptions } from './connection-options.js';
import { HandshakeError } from './errors.js';
import { Heartbeat } from './heartbeat.js';
import { formatExtensions, parseExtensions } from './extension-header.js';
import { acceptKey, validateUpgradeRequest, writeHttpError } from './handshake.js';
import { PerMessageDeflate } from './permessage-deflate.js';
import { broadcast, type BroadcastOptions } from './client-set.js';
import { WebSocket, socketOwner, type Data, type SocketSettings } from './websocket.js';

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
  server?: http.Server | import('node:https').Server;
  noServer?: boolean;
  path?: string;
  verifyClient?: VerifyClient;
  handleProtocols?: (protocols: Set<string>, request: http.IncomingMessage) => string | false;
  clientTracking?: boolean;
  /** How long an upgrade request may take to be verified and answered before it is refused (ms). */
  handshakeTimeout?: number;
  WebSocket?: T;
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

export class WebSocketServer<T extends typeof WebSocket = typeof WebSocket> extends EventEmitter {
  readonly options: ResolvedOptions;
  clients: Set<InstanceType<T>>;
  private _server: http.Server | import('node:https').Server | null = null;
  private state = ServerState.Running;
  private shouldEmitClose = false;
  private removeListeners: (() => void) | null = null;
  private heartbeat: Heartbeat | null = null;
  /** One 'close' listener shared by every tracked client (it is called with the client as `this`). */
  private readonly onClientClose: (this: WebSocket) => void;
  /** Settings shared by every connection without permessage-deflate (a socket keeps a reference). */
  private sharedSettings: SocketSettings | null = null;

  constructor(options: ServerOptions<T>, callback?: () => void) {
    super();
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
    this.clients = new Set();
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
      server.on('upgrade', onUpgrade);
      this.removeListeners = () => {
        server.removeListener('listening', onListening);
        server.removeListener('error', onError);
        server.removeListener('upgrade', onUpgrade);
      };
    }
  }

  /**
   * Sends one message to every open client (clientTracking must be on). The frame is built once and the
   * same bytes are written to every socket. Returns the number of clients it was sent to.
   */
  broadcast(data: Exclude<Data, Blob>, options?: BroadcastOptions<InstanceType<T>>): number {
    return broadcast(this.clients, data, options);
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
      if (this.clients.size === 0 || !this.options.clientTracking) process.nextTick(() => this.emitClose());
      else this.shouldEmitClose = true;
      return;
    }
    const server = this._server!;
    this.removeListeners?.();
    this.removeListeners = null;
    this._server = null;
    server.close(() => this.emitClose());
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

    const verify = this.options.verifyClient;
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

    const headers = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptKey(key)}`,
    ];
    const WebSocketClass = (this.options.WebSocket ?? WebSocket) as T;
    const ws = new WebSocketClass(null) as InstanceType<T>;

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

    socket.write(`${headers.join('\r\n')}\r\n\r\n`);
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
