/**
 * Routing of WebSocket upgrades for applications without a framework: handlers mounted by path
 * pattern (`/rooms/:room`, wildcards) and subprotocol, each deciding per request whether to accept
 * (optionally setting cookies on the 101 response) or reject with a real HTTP status. Unknown paths get
 * 404. Path matching is the core's PathPattern; handshakes go through a WebSocketServer in noServer mode.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { ClientSet } from './client-set.js';
import { DEFAULT_HANDSHAKE_TIMEOUT } from './constants.js';
import { HandshakeError } from './errors.js';
import { isToken, validateUpgradeRequest, writeHttpError } from './handshake.js';
import { PathPattern, type PathParams } from './path-pattern.js';
import { closeAll, type CloseAllOptions } from './shutdown.js';
import { WebSocketServer, type ServerOptions } from './websocket-server.js';
import type { WebSocket } from './websocket.js';

export interface RouterCookie {
  name: string;
  value: string;
  path?: string;
  domain?: string;
  expires?: Date;
  maxAge?: number;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: 'Strict' | 'Lax' | 'None';
}

export interface AcceptOptions {
  cookies?: RouterCookie[];
  headers?: Record<string, string>;
}

export interface RouterRequest {
  readonly httpRequest: IncomingMessage;
  readonly path: string;
  readonly params: PathParams;
  readonly query: URLSearchParams;
  /** Subprotocols the client offered, in order. */
  readonly requestedProtocols: string[];
  readonly origin: string | undefined;
  /** The subprotocol the matched mount was registered for (null: any). */
  readonly protocol: string | null;
  /** Completes the handshake. Returns the socket, or null if the handshake failed (the client got an HTTP error). */
  accept(protocol?: string | null, options?: AcceptOptions): WebSocket | null;
  /** Refuses the request with a real HTTP response. Default 403. */
  reject(status?: number, reason?: string, headers?: Record<string, string>): void;
}

export type RouteHandler = (request: RouterRequest) => void | Promise<void>;

export type RouterOptions = Omit<
  ServerOptions,
  'port' | 'host' | 'backlog' | 'server' | 'noServer' | 'path' | 'verifyClient' | 'handleProtocols' | 'clientTracking'
> & {
  /** Time a handler has to accept or reject before the request is refused with 408 (ms). Default 10000 (DEFAULT_HANDSHAKE_TIMEOUT). */
  decisionTimeout?: number;
};

interface Mount {
  pattern: PathPattern;
  protocol: string | null;
  handler: RouteHandler;
}

interface PendingAccept {
  protocol: string | null;
  headers: string[];
}

function serializeCookie(cookie: RouterCookie): string {
  if (!isToken(cookie.name)) throw new TypeError(`Invalid cookie name ${JSON.stringify(cookie.name)}`);
  // RFC 6265 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon or backslash.
  if (!/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/.test(cookie.value)) {
    throw new TypeError(`Invalid value for cookie ${cookie.name}`);
  }
  const parts = [`${cookie.name}=${cookie.value}`];
  for (const [key, value] of [
    ['Path', cookie.path],
    ['Domain', cookie.domain],
  ] as const) {
    if (value === undefined) continue;
    if (/[;\r\n]/.test(value)) throw new TypeError(`Invalid ${key} for cookie ${cookie.name}`);
    parts.push(`${key}=${value}`);
  }
  if (cookie.expires) parts.push(`Expires=${cookie.expires.toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${Math.floor(cookie.maxAge)}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}

export class WebSocketRouter {
  /** Every socket accepted through this router. */
  readonly clients = new ClientSet();
  readonly wss: WebSocketServer;
  private readonly mounts: Mount[] = [];
  private readonly pending = new WeakMap<IncomingMessage, PendingAccept>();
  private readonly decisionTimeout: number;
  private server: HttpServer | HttpsServer | null = null;
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.route(req, socket, head);
  };

  constructor(server?: HttpServer | HttpsServer, options: RouterOptions = {}) {
    const { decisionTimeout = DEFAULT_HANDSHAKE_TIMEOUT, ...serverOptions } = options;
    this.decisionTimeout = decisionTimeout;
    this.wss = new WebSocketServer({
      ...serverOptions,
      noServer: true,
      clientTracking: false,
      handleProtocols: (_protocols, req) => this.pending.get(req)?.protocol ?? false,
    });
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const extra = this.pending.get(req);
      if (extra) headers.push(...extra.headers);
    });
    if (server) this.attach(server);
  }

  /** Listens to `server`'s upgrade event (one listener; attaching again moves it). */
  attach(server: HttpServer | HttpsServer): this {
    this.detach();
    this.server = server;
    server.on('upgrade', this.onUpgrade);
    return this;
  }

  detach(): this {
    this.server?.removeListener('upgrade', this.onUpgrade);
    this.server = null;
    return this;
  }

  /** Mounts a handler for a path pattern and subprotocol (null or '*': any subprotocol, or none). */
  mount(path: string, protocol: string | null, handler: RouteHandler): this {
    const normalized = protocol === '*' ? null : protocol;
    if (normalized !== null && !isToken(normalized))
      throw new TypeError(`Invalid subprotocol ${JSON.stringify(protocol)}`);
    this.mounts.push({ pattern: new PathPattern(path), protocol: normalized, handler });
    return this;
  }

  unmount(path: string, protocol: string | null): this {
    const normalized = protocol === '*' ? null : protocol;
    const index = this.mounts.findIndex((m) => m.pattern.source === path && m.protocol === normalized);
    if (index !== -1) this.mounts.splice(index, 1);
    return this;
  }

  /** Detaches, then closes every accepted socket with 1001 (bounded wait, then terminate). */
  async close(options?: CloseAllOptions): Promise<void> {
    this.detach();
    await closeAll(this.clients, options);
  }

  /** Routes one upgrade request (called by the attached server, or by hand). */
  route(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const info = validateUpgradeRequest(req);
    if (info instanceof HandshakeError) {
      writeHttpError(socket, info.status, info.message, info.headers);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requested = [...info.protocols];
    let pathMatched = false;
    let chosen: { mount: Mount; params: PathParams } | null = null;
    for (const mount of this.mounts) {
      const params = mount.pattern.match(url.pathname);
      if (!params) continue;
      pathMatched = true;
      if (mount.protocol === null || info.protocols.has(mount.protocol)) {
        chosen = { mount, params };
        break;
      }
    }
    if (!chosen) {
      if (pathMatched) writeHttpError(socket, 400, 'No handler for the requested subprotocol');
      else writeHttpError(socket, 404);
      return;
    }

    let settled = false;
    const timer = setTimeout(() => request.reject(408, 'The request was not accepted in time'), this.decisionTimeout);
    timer.unref();
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      return true;
    };
    const { mount, params } = chosen;
    const request: RouterRequest = {
      httpRequest: req,
      path: url.pathname,
      params,
      query: url.searchParams,
      requestedProtocols: requested,
      origin: info.origin,
      protocol: mount.protocol,
      accept: (protocol, options = {}) => {
        if (!settle()) throw new Error('This request was already accepted or rejected');
        const selected = protocol === undefined ? mount.protocol : protocol;
        if (selected !== null && !info.protocols.has(selected)) {
          writeHttpError(socket, 400, 'The selected subprotocol was not requested');
          return null;
        }
        let accepted: WebSocket | null = null;
        try {
          const headers: string[] = [];
          for (const cookie of options.cookies ?? []) headers.push(`Set-Cookie: ${serializeCookie(cookie)}`);
          for (const [name, value] of Object.entries(options.headers ?? {})) {
            if (!isToken(name) || typeof value !== 'string' || /[\r\n]/.test(value)) {
              throw new TypeError(`Invalid header ${JSON.stringify(name)}`);
            }
            headers.push(`${name}: ${value}`);
          }
          this.pending.set(req, { protocol: selected, headers });
          this.wss.handleUpgrade(req, socket, head, (ws) => {
            accepted = ws;
          });
        } catch (error) {
          // The request is settled, so nothing else would answer it: 500, and the socket is freed.
          if (accepted === null) writeHttpError(socket, 500);
          throw error;
        } finally {
          this.pending.delete(req);
        }
        if (accepted) this.clients.track(accepted);
        return accepted;
      },
      reject: (status = 403, reason, headers) => {
        if (!settle()) return;
        writeHttpError(socket, status, reason, headers);
      },
    };
    let result: void | Promise<void>;
    try {
      result = mount.handler(request);
    } catch {
      request.reject(500);
      return;
    }
    if (result && typeof result.then === 'function') result.then(undefined, () => request.reject(500));
  }
}
