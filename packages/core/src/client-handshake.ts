/**
 * Client side of the opening handshake (RFC 6455 §4.1): builds the request, follows redirects when
 * asked, validates the 101 response (accept key, subprotocol, extensions) and hands the upgraded
 * socket to the WebSocket.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import { URL } from 'node:url';
import { validateConnectionOptions, type ConnectionOptions } from './connection-options.js';
import { DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_PAYLOAD } from './constants.js';
import { formatExtensions, parseExtensions } from './extension-header.js';
import { acceptKey, isToken } from './handshake.js';
import { PerMessageDeflate, type PerMessageDeflateOptions } from './permessage-deflate.js';
import { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
import { connectHttp2, http2Response, http2Unsupported } from './http2-client.js';
import type { WebSocket } from './websocket.js';

// Clients share one heartbeat engine (one timer) per interval/timeout pair.
const clientHeartbeats = new Map<string, Heartbeat>();
function clientHeartbeat(options: HeartbeatOptions): Heartbeat {
  const key = `${options.interval}/${options.timeout}/${options.resolution ?? ''}/${options.liveness ?? 'any'}`;
  let engine = clientHeartbeats.get(key);
  if (!engine) {
    engine = new Heartbeat(options);
    clientHeartbeats.set(key, engine);
  }
  return engine;
}

export interface ClientOptions extends Omit<https.RequestOptions, 'headers' | 'timeout'>, ConnectionOptions {
  headers?: Record<string, string>;
  origin?: string;
  protocolVersion?: 8 | 13;
  handshakeTimeout?: number;
  followRedirects?: boolean;
  maxRedirects?: number;
  finishRequest?: (request: http.ClientRequest, websocket: WebSocket) => void;
  /** Subprotocols, used when the constructor is given none (as ws 8.23). */
  protocols?: string | string[];
  /** Fills the 4-byte masking key of each outgoing frame; default: random keys from a pooled CSPRNG buffer. */
  generateMask?: (mask: Buffer) => void;
  /**
   * Connect over HTTP/2 (RFC 8441 extended CONNECT) instead of an HTTP/1.1 upgrade: true shares one
   * session per origin between sockets; a ClientHttp2Session is used as given (and left open).
   * A requirement, not a preference: a server without h2 or SETTINGS_ENABLE_CONNECT_PROTOCOL fails the
   * socket with Http2ConnectError (no fallback to HTTP/1.1); options with no HTTP/2 form (agent,
   * finishRequest, createConnection, socketPath, protocolVersion 8, ws+unix:) throw Http2UnsupportedError.
   */
  http2?: boolean | ClientHttp2Session;
}

interface Attempt {
  redirects: number;
  /** host:port (or the IPC socket path) of the first request; redirects are judged against it. */
  originalHost: string | undefined;
  originalSecure: boolean;
  /** The credentials (user:password) the first request sent; kept by the redirects that keep credentials. */
  auth?: string | undefined;
}

/** Request headers that carry credentials: never sent to another host, nor over ws: after wss:. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie']);

/** The user's headers without credentials (and without Host when the host changed), in any letter case. */
function withoutCredentials(headers: Record<string, string> | undefined, dropHost: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (CREDENTIAL_HEADERS.has(lower) || (dropHost && lower === 'host')) continue;
    out[name] = value;
  }
  return out;
}

function invalidUrl(message: string): SyntaxError {
  return new SyntaxError(message);
}

export function connectClient(
  ws: WebSocket,
  address: string | URL,
  protocols: string[],
  options: ClientOptions,
  attempt: Attempt = { redirects: 0, originalHost: undefined, originalSecure: false },
): void {
  const settings = {
    protocolVersion: 13 as 8 | 13,
    maxPayload: DEFAULT_MAX_PAYLOAD,
    skipUTF8Validation: false,
    autoPong: true,
    allowSynchronousEvents: true,
    perMessageDeflate: true as boolean | PerMessageDeflateOptions,
    followRedirects: false,
    maxRedirects: 10,
    handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT,
    ...options,
  };
  validateConnectionOptions(settings);
  if (settings.protocolVersion !== 8 && settings.protocolVersion !== 13) {
    throw new RangeError(
      `Unsupported protocol version: ${String(settings.protocolVersion)} (supported versions: 8, 13)`,
    );
  }

  let url: URL;
  const fail = (error: Error): void => {
    if (attempt.redirects === 0) throw error;
    ws.abortConnecting(error.message, error);
  };
  try {
    url = address instanceof URL ? address : new URL(address);
  } catch {
    return fail(invalidUrl(`Invalid URL: ${String(address)}`));
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:' && url.protocol !== 'ws+unix:') {
    return fail(invalidUrl('The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"'));
  }
  if (url.protocol === 'ws+unix:' && !url.pathname) return fail(invalidUrl("The URL's pathname is empty"));
  if (url.hash) return fail(invalidUrl('The URL contains a fragment identifier'));

  const seen = new Set<string>();
  for (const p of protocols) {
    if (typeof p !== 'string' || !isToken(p) || seen.has(p)) {
      throw new SyntaxError('An invalid or duplicated subprotocol was specified');
    }
    seen.add(p);
  }

  ws._url = url.href;
  const secure = url.protocol === 'wss:';
  const isUnix = url.protocol === 'ws+unix:';
  const key = randomBytes(16).toString('base64');
  const defaultPort = secure ? 443 : 80;

  // A redirect to another host:port (or IPC path), or from wss: down to ws:, sends no credentials: not the
  // user's Authorization/Cookie headers (any letter case), nor URL or `auth` credentials; a user-set Host
  // header is dropped when the host changed. Judged against the first request, as curl and ws do.
  const hostKey = isUnix ? `unix:${url.pathname.split(':')[0]}` : url.host;
  const hostChanged = attempt.redirects > 0 && attempt.originalHost !== hostKey;
  // As in ws, a 'redirect' listener takes that decision over (it sees the new request before it is sent).
  // Over HTTP/2 'redirect' is not emitted (it carries a ClientRequest), so no listener takes it over there.
  const stripCredentials =
    (settings.http2 !== undefined && settings.http2 !== false ? true : ws.listenerCount('redirect') === 0) &&
    (hostChanged || (attempt.redirects > 0 && attempt.originalSecure && !secure));

  let deflate: PerMessageDeflate | null = null;
  const headers: Record<string, string> = {
    ...(stripCredentials ? withoutCredentials(settings.headers, hostChanged) : settings.headers),
    'Sec-WebSocket-Version': String(settings.protocolVersion),
    'Sec-WebSocket-Key': key,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
  };
  if (settings.perMessageDeflate) {
    deflate = new PerMessageDeflate(
      settings.perMessageDeflate === true ? {} : settings.perMessageDeflate,
      false,
      settings.maxPayload,
    );
    headers['Sec-WebSocket-Extensions'] = formatExtensions({ [PerMessageDeflate.extensionName]: deflate.offer() });
  }
  if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(',');
  if (settings.origin) {
    headers[settings.protocolVersion === 13 ? 'Origin' : 'Sec-WebSocket-Origin'] = settings.origin;
  }

  const {
    headers: _h,
    origin: _o,
    protocolVersion: _pv,
    handshakeTimeout,
    followRedirects,
    maxRedirects,
    maxPayload,
    maxReceivedFrameSize,
    skipUTF8Validation,
    autoPong,
    allowSynchronousEvents,
    perMessageDeflate: _pmd,
    closeTimeout,
    heartbeat,
    maxBufferedAmount,
    fragmentOutgoingMessages,
    fragmentationThreshold,
    assembleFragments,
    maxFragments,
    maxBufferedChunks,
    maxPendingAutoPongs,
    finishRequest,
    protocols: _protocols,
    generateMask,
    http2: overHttp2,
    ...requestOptions
  } = settings;

  /** Checks the server's subprotocol and extensions; returns the negotiated deflate or why it fails. */
  const negotiate = (response: IncomingHttpHeaders): PerMessageDeflate | null | string => {
    const serverProtocol = response['sec-websocket-protocol'];
    if (serverProtocol !== undefined) {
      if (protocols.length === 0) return 'Server sent a subprotocol but none was requested';
      if (!protocols.includes(serverProtocol)) return 'Server sent an invalid subprotocol';
    } else if (protocols.length > 0) {
      return 'Server sent no subprotocol';
    }
    if (serverProtocol) ws._protocol = serverProtocol;
    const extensionsHeader = response['sec-websocket-extensions'];
    if (extensionsHeader === undefined) return null;
    if (!deflate) return 'Server sent a Sec-WebSocket-Extensions header but no extension was requested';
    let offers;
    try {
      offers = parseExtensions(extensionsHeader);
    } catch {
      return 'Invalid Sec-WebSocket-Extensions header';
    }
    const names = Object.keys(offers);
    if (names.length !== 1 || names[0] !== PerMessageDeflate.extensionName) {
      return 'Server indicated an extension that was not requested';
    }
    try {
      deflate.accept(offers[PerMessageDeflate.extensionName]!);
    } catch {
      return 'Invalid Sec-WebSocket-Extensions header';
    }
    ws._extensions = PerMessageDeflate.extensionName;
    return deflate;
  };

  const open = (socket: Duplex, head: Buffer, negotiated: PerMessageDeflate | null): void => {
    ws.setSocket(socket, head, {
      maxPayload,
      maxReceivedFrameSize,
      skipUTF8Validation,
      allowSynchronousEvents,
      autoPong,
      closeTimeout,
      perMessageDeflate: negotiated,
      heartbeat: heartbeat ? clientHeartbeat(heartbeat) : null,
      maxBufferedAmount,
      fragmentOutgoingMessages,
      fragmentationThreshold,
      assembleFragments,
      generateMask,
      maxFragments,
      maxBufferedChunks,
      maxPendingAutoPongs,
    });
  };

  /** The first request's credentials (URL userinfo, else the `auth` option): what a kept redirect sends again. */
  const firstAuth = (): string | undefined =>
    url.username || url.password
      ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
      : (requestOptions.auth ?? undefined);

  /** followRedirects: the next attempt, to `location` (relative to this URL), counted and bounded. */
  const redirectTo = (location: string): void => {
    if (attempt.redirects + 1 > maxRedirects) {
      ws.abortConnecting('Maximum redirects exceeded');
      return;
    }
    let next: URL;
    try {
      next = new URL(location, url.href.replace(/^ws/, 'http'));
    } catch {
      const error = invalidUrl(`Invalid URL: ${location}`);
      ws.abortConnecting(error.message, error);
      return;
    }
    ws._onHandshakeAbort = null;
    try {
      connectClient(ws, next, protocols, options, {
        redirects: attempt.redirects + 1,
        originalHost: attempt.redirects === 0 ? hostKey : attempt.originalHost,
        originalSecure: attempt.redirects === 0 ? secure : attempt.originalSecure,
        auth: attempt.redirects === 0 ? firstAuth() : attempt.auth,
      });
    } catch (error) {
      ws.abortConnecting((error as Error).message, error as Error);
    }
  };

  if (overHttp2) {
    // Options with no HTTP/2 form fail loudly rather than being ignored (thrown on the first attempt).
    const unsupported = http2Unsupported(isUnix, settings.protocolVersion, requestOptions, finishRequest);
    if (unsupported) return fail(unsupported);
    const {
      method: _m,
      path: _p,
      agent: _a,
      auth: _au,
      host: _ho,
      hostname: _hn,
      port: _po,
      defaultPort: _dp,
      createConnection: _cc,
      socketPath: _sp,
      setHost: _sh,
      ...tlsOptions
    } = requestOptions;
    // A caller's session serves its own origin: a redirect elsewhere uses the shared session for the new one.
    const sameOrigin = attempt.redirects === 0 || (!hostChanged && secure === attempt.originalSecure);
    connectHttp2(
      ws,
      {
        url,
        headers,
        auth: stripCredentials ? undefined : attempt.redirects === 0 ? firstAuth() : attempt.auth,
        handshakeTimeout,
        session: overHttp2 === true || !sameOrigin ? undefined : overHttp2,
        connectOptions: tlsOptions as import('node:http2').SecureClientSessionOptions,
        redirect: followRedirects ? (location) => redirectTo(location) : null,
      },
      (stream, response) => {
        ws.emit('upgrade', http2Response(stream, response));
        if (ws.readyState !== 0) {
          stream.close();
          return;
        }
        const negotiated = negotiate(response);
        if (typeof negotiated === 'string') {
          stream.close();
          ws.abortConnecting(negotiated);
          return;
        }
        open(stream, Buffer.alloc(0), negotiated);
      },
    );
    return;
  }

  const request: https.RequestOptions = {
    ...requestOptions,
    headers,
    method: 'GET',
    timeout: handshakeTimeout,
  };
  if (isUnix) {
    // ws+unix:/path/to/socket:/request/path
    const [socketPath, path] = url.pathname.split(':') as [string, string | undefined];
    request.socketPath = socketPath;
    request.path = `${path || '/'}${url.search}`;
  } else {
    request.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    request.port = url.port || defaultPort;
    request.path = `${url.pathname}${url.search}`;
    if (!requestOptions.servername && secure && !/^[\d.]+$|:/.test(request.host)) {
      (request as https.RequestOptions & { servername?: string }).servername = request.host;
    }
  }
  const auth = firstAuth();
  if (auth !== undefined) request.auth = auth;
  if (stripCredentials) delete request.auth;
  // As in ws, a redirect that keeps credentials sends the first request's again, whatever userinfo the
  // Location carries.
  else if (attempt.auth !== undefined) request.auth = attempt.auth;

  // As ws: without a user agent the handshake gets a connection of its own, never one from (or back to)
  // the global keep-alive pool; a refused upgrade's connection is closed with the request.
  if (request.agent === undefined && request.createConnection === undefined) request.agent = false;
  const req = secure ? https.request(request) : http.request(request);
  // As ws: 'redirect' carries the new URL and the request made for it.
  if (attempt.redirects > 0) ws.emit('redirect', url.href, req);
  let settled = false;
  ws._onHandshakeAbort = () => {
    settled = true;
    // Without an error: after an upgrade the request's socket is the raw transport, which has no 'error'
    // listener (close() from an 'upgrade' listener lands here).
    req.destroy();
  };

  if (handshakeTimeout) {
    req.on('timeout', () => {
      if (settled) return;
      ws.abortConnecting('Opening handshake has timed out');
    });
  }

  req.on('error', (error) => {
    if (settled) return;
    settled = true;
    ws._onHandshakeAbort = null;
    ws.abortConnecting(error.message, error);
  });

  req.on('response', (res) => {
    if (settled) return;
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (location && followRedirects && status >= 300 && status < 400) {
      settled = true;
      req.destroy();
      res.resume();
      redirectTo(location);
      return;
    }
    if (ws.listenerCount('unexpected-response') > 0) {
      settled = true;
      ws.emit('unexpected-response', req, res);
      return;
    }
    ws.abortConnecting(`Unexpected server response: ${status}`);
  });

  req.on('upgrade', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (settled) {
      socket.destroy();
      return;
    }
    ws.emit('upgrade', res);
    // A listener may have closed the socket.
    if (ws.readyState !== 0) {
      socket.destroy();
      return;
    }
    settled = true;
    ws._onHandshakeAbort = null;
    const reject = (message: string): void => {
      socket.destroy();
      ws.abortConnecting(message);
    };
    // RFC 6455 §4.1: the handshake is HTTP/1.1 (101 does not exist in HTTP/1.0).
    if (res.httpVersionMajor !== 1 || res.httpVersionMinor < 1)
      return reject('Invalid HTTP version in the handshake response');
    const upgrade = res.headers.upgrade;
    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return reject('Invalid Upgrade header');
    if (res.headers['sec-websocket-accept'] !== acceptKey(key)) return reject('Invalid Sec-WebSocket-Accept header');

    const negotiated = negotiate(res.headers);
    if (typeof negotiated === 'string') return reject(negotiated);
    open(socket, head, negotiated);
  });

  if (finishRequest) finishRequest(req, ws);
  else req.end();
}
