/**
 * The one upgrade pipeline every framework plugin is glue over. On a server's `upgrade` event it
 *   1. tells WebSocket upgrades from others: a non-WebSocket upgrade is answered 426 (another protocol)
 *      or 405 (`Upgrade: websocket` on a method other than GET) unless another `upgrade` listener of the
 *      server took the socket — a socket is never left unanswered;
 *   2. binds a real `ServerResponse` to the raw socket and hands the request to the framework
 *      (`dispatch`), which runs its own router, middleware, hooks and guards: whatever they answer is a
 *      genuine HTTP response;
 *   3. enforces one deadline (408) and one raw-socket error policy (a reset before the handshake
 *      destroys the socket, never an uncaught error);
 *   4. hands over to `handleUpgrade` when the framework accepts (`accept`), tracking the socket, holding
 *      its inbound messages until the handler has attached listeners, and guarding its listeners (an
 *      exception reaches the error hook and closes with 1011; peer protocol errors are logged at debug);
 *   5. on close: stops accepting (503), sends 1001 to every socket, waits a bounded time, terminates.
 *
 * Another `upgrade` listener on the same server keeps working: when there is one, the decision is
 * taken one tick later, and a socket that listener started to use is left to it. What it added is
 * compared against a snapshot taken when the event started, so listeners Node itself puts on a socket
 * (an https server's TLS `'error'` listener) do not count as a claim.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { ClientSet } from './client-set.js';
import { headerHasToken, writeHttpError } from './handshake.js';
import { runHandler } from './handler-gate.js';
import { guardSocket, type SocketProblem } from './listener-guard.js';
import { closeAll } from './shutdown.js';
import { createUpgradeResponse, type UpgradeResponse } from './upgrade-response.js';
import type { WebSocketServer } from './websocket-server.js';
import type { WebSocket } from './websocket.js';

export type UpgradeServer = HttpServer | HttpsServer;

/**
 * What a WebSocket upgrade gets that the framework went through without any route taking it or any
 * middleware answering: `'reject'` answers 404; `'ignore'` leaves the socket to the server's other
 * `upgrade` listeners (destroyed when there is none). `'404'` is the old spelling of `'reject'`.
 */
export type UnmatchedUpgrade = 'reject' | 'ignore' | '404';

/** The option vocabulary shared by every plugin (same names, same defaults). */
export interface UpgradePipelineOptions {
  /**
   * How long the framework may take to answer or accept an upgrade before it is answered 408 (ms).
   * Default 10000.
   */
  upgradeTimeout?: number;
  /** How long `close()` waits for close handshakes before terminating sockets (ms). Default 5000. */
  shutdownTimeout?: number;
  /** Close reason sent with 1001 on shutdown. Default 'Server shutting down'. */
  closeReason?: string;
  /** See `UnmatchedUpgrade`. Default `'reject'`. */
  unmatched?: UnmatchedUpgrade;
  /** Which upgrade requests the pipeline takes; false leaves the socket untouched. Default: all. */
  shouldHandle?: (req: IncomingMessage) => boolean;
}

/** Where the pipeline reports: errors of route sockets and handlers, and debug-level noise caused by peers. */
export interface UpgradePipelineHooks {
  /**
   * The framework step: run the router/middleware against `upgrade.req` with `upgrade.res` bound to the
   * socket. It ends in `upgrade.accept(...)`, a response on `upgrade.res`, `upgrade.reject(...)` or
   * `upgrade.unmatched()`. A throw or rejection answers 500.
   */
  dispatch(upgrade: PendingUpgrade): unknown;
  /**
   * An error of an accepted socket or its handler: a listener or the handler threw (`'listener'`,
   * `'handler'`; the socket is closed with 1011), or the socket failed (`'socket'`). Default: console.error.
   */
  onError?(error: unknown, ws: WebSocket, req: IncomingMessage, kind: Exclude<SocketProblem, 'peer'> | 'handler'): void;
  /** Something a peer caused (protocol errors 1002/1007/1009, resets). Default: ignored. */
  onDebug?(message: string, error: unknown, req: IncomingMessage): void;
}

/** Where errors of one accepted socket go (instead of the pipeline's `onError`). */
export type SocketErrorHook = (error: unknown, ws: WebSocket, kind: 'listener' | 'socket' | 'handler') => void;

/** One upgrade request travelling through the framework. */
export interface PendingUpgrade {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  /** The attached server the upgrade arrived on (undefined when `handle()` was called by hand). */
  readonly server: UpgradeServer | undefined;
  /** A real response bound to the socket: what the framework writes here is the answer. */
  readonly res: UpgradeResponse;
  /** True once accepted, answered, expired or handed back. */
  readonly settled: boolean;
  /**
   * Performs the handshake with `wss` and calls `handler(ws)`; the socket's messages are held until the
   * handler returned (or its promise settled). Resolves with the socket, or null when nothing was
   * upgraded (already answered, expired, shutting down, the handshake was refused or the peer left).
   */
  accept(
    wss: WebSocketServer,
    handler?: (ws: WebSocket) => unknown,
    onError?: SocketErrorHook,
  ): Promise<WebSocket | null>;
  /** Answers with an HTTP status (when nothing was written yet; else the socket is destroyed). */
  reject(status: number, message?: string, headers?: Record<string, string | number>): void;
  /** No route took the request: the `unmatched` policy. */
  unmatched(): void;
}

const PENDING = Symbol.for('wskit.pendingUpgrade');
type Tagged = IncomingMessage & { [PENDING]?: PendingUpgrade };

/** The pending upgrade a request belongs to (undefined for ordinary HTTP requests). */
export function pendingUpgradeOf(req: IncomingMessage): PendingUpgrade | undefined {
  return (req as Tagged)[PENDING];
}

/** True for `GET` with `Upgrade: websocket` (RFC 6455 §4.1), whatever Node did with the request. */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && headerHasToken(req.headers.upgrade, 'websocket');
}

interface SocketSnapshot {
  error: number;
  data: number;
  readable: number;
  bytesWritten: number;
}

type RawSocket = Duplex & { bytesWritten?: number; _httpMessage?: unknown };

function snapshot(socket: Duplex): SocketSnapshot {
  return {
    error: socket.listenerCount('error'),
    data: socket.listenerCount('data'),
    readable: socket.listenerCount('readable'),
    bytesWritten: (socket as RawSocket).bytesWritten ?? 0,
  };
}

/** True when something other than the pipeline started to use the socket since `before`. */
function claimedSince(socket: Duplex, before: SocketSnapshot): boolean {
  const raw = socket as RawSocket;
  return (
    socket.destroyed ||
    socket.writableEnded ||
    raw._httpMessage != null ||
    (raw.bytesWritten ?? 0) > before.bytesWritten ||
    socket.listenerCount('error') > before.error ||
    socket.listenerCount('data') > before.data ||
    socket.listenerCount('readable') > before.readable
  );
}

const DEFAULT_UPGRADE_TIMEOUT = 10_000;
const DEFAULT_SHUTDOWN_TIMEOUT = 5000;
const DEFAULT_CLOSE_REASON = 'Server shutting down';

type Listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export class UpgradePipeline {
  /** Every socket accepted through this pipeline (members leave when they close). */
  readonly clients = new ClientSet<WebSocket>();
  readonly upgradeTimeout: number;
  readonly shutdownTimeout: number;
  readonly closeReason: string;
  readonly #unmatched: 'reject' | 'ignore';
  readonly #shouldHandle: ((req: IncomingMessage) => boolean) | undefined;
  readonly #hooks: UpgradePipelineHooks;
  readonly #servers = new Map<UpgradeServer, Listener>();
  readonly #pending = new Set<PendingUpgrade>();
  #closing: Promise<void> | null = null;
  #stopped = false;

  constructor(hooks: UpgradePipelineHooks, options: UpgradePipelineOptions = {}) {
    validateOptions(options);
    this.#hooks = hooks;
    this.upgradeTimeout = options.upgradeTimeout ?? DEFAULT_UPGRADE_TIMEOUT;
    this.shutdownTimeout = options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT;
    this.closeReason = options.closeReason ?? DEFAULT_CLOSE_REASON;
    this.#unmatched = options.unmatched === 'ignore' ? 'ignore' : 'reject';
    this.#shouldHandle = options.shouldHandle;
  }

  /** True once `stop()` or `close()` was called: upgrades are refused with 503. */
  get closing(): boolean {
    return this.#stopped;
  }

  /** Servers whose upgrades this pipeline takes. */
  get servers(): UpgradeServer[] {
    return [...this.#servers.keys()];
  }

  /**
   * Listens to `server`'s upgrade event (once per server). The listener goes first, so the snapshot of
   * the socket it takes precedes anything other listeners do; with other listeners present, it then
   * decides one tick later.
   */
  attach(server: UpgradeServer): this {
    if (this.#stopped || this.#servers.has(server)) return this;
    const listener: Listener = (req, socket, head) =>
      this.handle(req, socket, head, server.listenerCount('upgrade') - 1, server);
    server.prependListener('upgrade', listener);
    this.#servers.set(server, listener);
    return this;
  }

  detach(server: UpgradeServer): this {
    const listener = this.#servers.get(server);
    if (!listener) return this;
    server.removeListener('upgrade', listener);
    this.#servers.delete(server);
    return this;
  }

  /**
   * Runs one upgrade through the pipeline by hand (an in-memory injection, a server the pipeline is not
   * attached to). `others` says whether another listener might still take the socket.
   */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, others = 0, server?: UpgradeServer): void {
    if (this.#shouldHandle) {
      let mine: boolean;
      try {
        mine = this.#shouldHandle(req);
      } catch {
        // A throwing filter must not crash the server from inside an event listener.
        writeHttpError(socket, 500);
        return;
      }
      if (!mine) return;
    }
    if (others === 0) {
      this.#start(req, socket, head, others, server);
      return;
    }
    const before = snapshot(socket);
    process.nextTick(() => {
      if (claimedSince(socket, before)) return;
      this.#start(req, socket, head, others, server);
    });
  }

  /**
   * Stops accepting (new and in-flight upgrades get 503), detaches from every server, closes every
   * socket with 1001 and the close reason, waits up to `shutdownTimeout`, then terminates the rest.
   */
  close(options: { code?: number; reason?: string; timeout?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.stop();
    for (const server of [...this.#servers.keys()]) this.detach(server);
    this.#closing = closeAll(this.clients, {
      code: options.code ?? 1001,
      reason: options.reason ?? this.closeReason,
      timeout: options.timeout ?? this.shutdownTimeout,
    });
    return this.#closing;
  }

  /**
   * First step of shutdown: new and in-flight upgrades are answered 503 while the servers stay attached
   * (so nothing falls through to plain HTTP handling); open sockets are left alone.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const upgrade of [...this.#pending]) upgrade.reject(503);
  }

  #start(req: IncomingMessage, socket: Duplex, head: Buffer, others: number, server: UpgradeServer | undefined): void {
    if (!isWebSocketUpgrade(req)) {
      // Another protocol (h2c, …) or a WebSocket upgrade on the wrong method: refused unless someone else
      // took it (checked above); never left hanging.
      if (headerHasToken(req.headers.upgrade, 'websocket')) {
        writeHttpError(socket, 405, 'Method Not Allowed', { Allow: 'GET' });
      } else {
        writeHttpError(socket, 426, 'Upgrade Required', { Upgrade: 'websocket' });
      }
      return;
    }
    if (this.#stopped) {
      writeHttpError(socket, 503);
      return;
    }
    if ((socket as RawSocket)._httpMessage != null) return; // another listener bound a response to it
    const onRawError = (error: Error): void => {
      this.#hooks.onDebug?.('upgrade socket error', error, req);
      socket.destroy();
    };
    socket.on('error', onRawError);
    let res: UpgradeResponse;
    try {
      res = createUpgradeResponse(req, socket);
    } catch {
      // ERR_HTTP_SOCKET_ASSIGNED and the like: the socket is someone else's.
      socket.removeListener('error', onRawError);
      return;
    }
    // The framework may write after a deadline answered (write after end): never an uncaught error.
    res.on('error', () => {});
    this.#run(req, socket, head, res, onRawError, others, server);
  }

  #run(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    res: UpgradeResponse,
    onRawError: (error: Error) => void,
    others: number,
    server: UpgradeServer | undefined,
  ): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- used inside a function-style callback
    const pipeline = this;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      this.#pending.delete(upgrade);
      return true;
    };
    const upgrade: PendingUpgrade = {
      req,
      socket,
      head,
      server,
      res,
      get settled() {
        return settled;
      },
      accept(wss, handler, onError) {
        if (!settle()) return Promise.resolve(null);
        if (pipeline.#stopped) {
          answer(res, socket, 503);
          return Promise.resolve(null);
        }
        if (!res.release()) return Promise.resolve(null);
        return pipeline.#handOver(wss, upgrade, onRawError, handler, onError);
      },
      reject(status, message, headers) {
        if (!settle()) return;
        answer(res, socket, status, message, headers);
      },
      unmatched() {
        if (!settle()) return;
        if (pipeline.#unmatched === 'ignore' && !res.headersSent) {
          res.release();
          socket.removeListener('error', onRawError);
          // Nobody else listens: an unanswered socket would hang, so it is closed.
          if (others === 0) socket.destroy();
          return;
        }
        answer(res, socket, 404);
      },
    };
    const timer = setTimeout(() => upgrade.reject(408, 'Request Timeout'), this.upgradeTimeout);
    timer.unref();
    res.once('finish', settle);
    socket.once('close', () => {
      settle();
    });
    this.#pending.add(upgrade);
    (req as Tagged)[PENDING] = upgrade;
    let result: unknown;
    try {
      result = this.#hooks.dispatch(upgrade);
    } catch (error) {
      this.#hooks.onDebug?.('upgrade dispatch threw', error, req);
      upgrade.reject(500);
      return;
    }
    if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, (error: unknown) => {
        this.#hooks.onDebug?.('upgrade dispatch failed', error, req);
        upgrade.reject(statusOf(error));
      });
    }
  }

  #handOver(
    wss: WebSocketServer,
    upgrade: PendingUpgrade,
    onRawError: (error: Error) => void,
    handler: ((ws: WebSocket) => unknown) | undefined,
    onError: SocketErrorHook | undefined,
  ): Promise<WebSocket | null> {
    const { req, socket, head } = upgrade;
    return new Promise<WebSocket | null>((resolve) => {
      let done = false;
      const onClose = (): void => {
        if (done) return;
        done = true;
        resolve(null);
      };
      socket.once('close', onClose);
      try {
        wss.handleUpgrade(req, socket, head, (ws) => {
          done = true;
          socket.removeListener('close', onClose);
          socket.removeListener('error', onRawError);
          this.#track(ws, req, onError);
          if (this.#stopped) ws.close(1001, this.closeReason);
          wss.emit('connection', ws, req);
          void runHandler(
            ws,
            () => handler?.(ws),
            (error) => this.#report(error, ws, req, 'handler', onError),
          );
          resolve(ws);
        });
      } catch (error) {
        // A throwing verifyClient or a second handleUpgrade on the socket.
        this.#hooks.onDebug?.('handleUpgrade threw', error, req);
        socket.destroy();
        onClose();
      }
    });
  }

  #track(ws: WebSocket, req: IncomingMessage, onError: SocketErrorHook | undefined): void {
    this.clients.track(ws);
    guardSocket(ws, (error, socket, kind) => {
      if (kind === 'peer') this.#hooks.onDebug?.('websocket peer error', error, req);
      else this.#report(error, socket, req, kind, onError);
    });
  }

  #report(
    error: unknown,
    ws: WebSocket,
    req: IncomingMessage,
    kind: 'listener' | 'socket' | 'handler',
    own: SocketErrorHook | undefined,
  ): void {
    const onError = this.#hooks.onError;
    try {
      if (own) own(error, ws, kind);
      else if (onError) onError(error, ws, req, kind);
      else console.error('[@wskit] websocket error:', error);
    } catch (hookError) {
      // An error hook that throws must not turn into an uncaught exception either.
      console.error('[@wskit] websocket error hook failed:', hookError);
    }
  }
}

function answer(
  res: UpgradeResponse,
  socket: Duplex,
  status: number,
  message?: string,
  headers: Record<string, string | number> = {},
): void {
  if (res.headersSent) {
    // A response was started and not finished in time: nothing sensible can follow it.
    if (!res.writableEnded) socket.destroy();
    return;
  }
  if (!res.release()) {
    socket.destroy();
    return;
  }
  writeHttpError(socket, status, message, headers);
}

/** The HTTP status an error thrown out of a framework carries (`status`/`statusCode`), else 500. */
export function statusOf(error: unknown): number {
  if (typeof error === 'object' && error !== null) {
    const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
    const code = typeof status === 'number' ? status : statusCode;
    if (typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 599) return code;
  }
  return 500;
}

function validateOptions(options: UpgradePipelineOptions): void {
  for (const key of ['upgradeTimeout', 'shutdownTimeout'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value))) {
      throw new TypeError(`${key} must be a non-negative number of milliseconds, got ${String(value)}`);
    }
  }
  if (options.closeReason !== undefined) {
    if (typeof options.closeReason !== 'string' || Buffer.byteLength(options.closeReason) > 123) {
      throw new TypeError('closeReason must be a string of at most 123 bytes');
    }
  }
  const unmatched = options.unmatched;
  if (unmatched !== undefined && unmatched !== 'reject' && unmatched !== 'ignore' && unmatched !== '404') {
    throw new TypeError(`unmatched must be 'reject' or 'ignore', got ${String(unmatched)}`);
  }
  if (options.shouldHandle !== undefined && typeof options.shouldHandle !== 'function') {
    throw new TypeError('shouldHandle must be a function');
  }
}
