/**
 * WebSockets over HTTP/2 (RFC 8441), client side: an extended CONNECT stream on an HTTP/2 session,
 * opened once the server's SETTINGS allow it. Sessions are shared per origin (and TLS options), so the
 * sockets of one origin are multiplexed on one connection; a session the caller passes is used as is
 * and never closed by wskit.
 */
import { IncomingMessage } from 'node:http';
import type * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import { HandshakeError, Http2ConnectError, Http2UnsupportedError } from './errors.js';
import { NGHTTP2_CANCEL, nodeHttp2 } from './http2.js';
import type { URL } from 'node:url';
import type { WebSocket } from './websocket.js';

export interface Http2ConnectRequest {
  url: URL;
  /** Request headers in HTTP/1.1 spelling; the HTTP/1.1-only ones are left out here. */
  headers: Record<string, string>;
  /** Basic credentials `user:password` from the URL. */
  auth: string | undefined;
  handshakeTimeout: number | undefined;
  /** The caller's session, or undefined to use the shared one for the origin. */
  session: http2.ClientHttp2Session | undefined;
  /** TLS and socket options for a new session. */
  connectOptions: http2.SecureClientSessionOptions;
  /**
   * followRedirects: takes a 3xx response's Location (the stream is already cancelled); null: a 3xx
   * fails the handshake like any other status.
   */
  redirect: ((location: string) => void) | null;
}

/**
 * Why these client options cannot connect over HTTP/2, or null. They are refused rather than ignored:
 * an `agent` (proxy agents included) or `finishRequest` silently skipped would connect somewhere, or
 * with something, the caller did not ask for.
 */
export function http2Unsupported(
  isUnix: boolean,
  protocolVersion: number,
  options: { agent?: unknown; createConnection?: unknown; socketPath?: unknown },
  finishRequest: unknown,
): Http2UnsupportedError | null {
  if (isUnix) return new Http2UnsupportedError('url', 'A ws+unix: URL cannot be used over HTTP/2');
  if (protocolVersion !== 13) {
    return new Http2UnsupportedError('protocolVersion', 'WebSockets over HTTP/2 use protocol version 13 (RFC 8441)');
  }
  if (finishRequest !== undefined) {
    return new Http2UnsupportedError(
      'finishRequest',
      'finishRequest is given an http.ClientRequest, which a WebSocket over HTTP/2 does not have',
    );
  }
  if (options.agent !== undefined) {
    return new Http2UnsupportedError(
      'agent',
      'An http.Agent does not apply over HTTP/2: sockets to one origin share a session; pass a ClientHttp2Session as `http2` to choose the connection',
    );
  }
  for (const option of ['createConnection', 'socketPath'] as const) {
    if (options[option] !== undefined) {
      return new Http2UnsupportedError(
        option,
        `${option} does not apply over HTTP/2: pass a ClientHttp2Session as \`http2\``,
      );
    }
  }
  return null;
}

/**
 * The 200 response of an extended CONNECT as the `IncomingMessage` the 'upgrade' event carries over
 * HTTP/1.1: `statusCode` 200, `httpVersion` '2.0', `headers` (`:status` included), `socket` the stream.
 * It has no body: what follows on the stream is WebSocket frames.
 */
export function http2Response(stream: http2.ClientHttp2Stream, head: http2.IncomingHttpHeaders): IncomingMessage {
  const response = new IncomingMessage(stream as unknown as Socket);
  response.httpVersionMajor = 2;
  response.httpVersionMinor = 0;
  response.httpVersion = '2.0';
  response.statusCode = Number(head[':status']);
  response.statusMessage = '';
  response.headers = head;
  response.complete = true;
  response.push(null);
  return response;
}

export type Http2Opened = (stream: http2.ClientHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

const NOT_FORWARDED = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'host',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
]);

/** The response head as HandshakeError headers: the pseudo-headers left out, repeated values joined. */
function plainHeaders(head: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(head)) {
    if (name.startsWith(':') || value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

interface SessionState {
  /** Whether the peer's SETTINGS have arrived, and whether they enabled extended CONNECT. */
  settings: 'pending' | 'enabled' | 'disabled';
  /** Sockets connecting or open on the session (a pooled session closes when none is left). */
  users: number;
  pooled: boolean;
  /** Sockets waiting for the SETTINGS; settles them all (null: go on) and removes the listeners they share. */
  waiters: Set<(error: Error | null) => void>;
  stopWaiting: ((error: Error | null) => void) | null;
}

const states = new WeakMap<http2.ClientHttp2Session, SessionState>();
const pool = new Map<string, http2.ClientHttp2Session>();

// Objects in TLS options (ca, cert, key, lookup...) are told apart by identity in the pool key.
const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;
function poolKey(origin: string, options: http2.SecureClientSessionOptions): string {
  const parts = [origin];
  for (const name of Object.keys(options).sort()) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if ((typeof value === 'object' && value !== null) || typeof value === 'function') {
      let id = objectIds.get(value);
      if (id === undefined) objectIds.set(value, (id = nextObjectId++));
      parts.push(`${name}=#${id}`);
    } else {
      parts.push(`${name}=${String(value)}`);
    }
  }
  return parts.join('|');
}

const disabled = (): Error =>
  new Http2ConnectError('The server does not accept WebSockets over HTTP/2 (no SETTINGS_ENABLE_CONNECT_PROTOCOL)');

function track(session: http2.ClientHttp2Session, pooled: boolean): SessionState {
  let state = states.get(session);
  if (state) return state;
  state = { settings: 'pending', users: 0, pooled, waiters: new Set(), stopWaiting: null };
  states.set(session, state);
  const s = state;
  session.on('remoteSettings', (settings: http2.Settings) => {
    s.settings = settings.enableConnectProtocol ? 'enabled' : 'disabled';
  });
  // A session the caller made may have had its SETTINGS already (the event is not repeated).
  if (!pooled && session.remoteSettings?.enableConnectProtocol) s.settings = 'enabled';
  else if (!pooled && !session.connecting && !session.closed && !session.destroyed) {
    // Connected, but did its SETTINGS arrive without extended CONNECT, or not yet? Node cannot tell (it shows
    // defaults until then). A PING answers: the server's SETTINGS precede its PING ack on the connection.
    try {
      session.ping((error) => {
        if (error || s.settings !== 'pending') return;
        s.settings = session.remoteSettings.enableConnectProtocol ? 'enabled' : 'disabled';
        s.stopWaiting?.(s.settings === 'enabled' ? null : disabled());
      });
    } catch {
      // Too many unanswered pings: the 'remoteSettings' event (or handshakeTimeout) decides.
    }
  }
  return state;
}

function sharedSession(url: URL, options: http2.SecureClientSessionOptions): http2.ClientHttp2Session {
  const origin = `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
  const key = poolKey(origin, options);
  const existing = pool.get(key);
  if (existing && !existing.closed && !existing.destroyed) return existing;
  const session = nodeHttp2().connect(origin, options);
  pool.set(key, session);
  track(session, true);
  // Errors reach every stream of the session (and so their sockets); the session must not throw.
  session.on('error', () => {});
  session.once('close', () => {
    if (pool.get(key) === session) pool.delete(key);
  });
  return session;
}

/**
 * Calls back once extended CONNECT may be used on the session, or with the reason it cannot; returns
 * the function that stops waiting. Sockets waiting on one session share one set of session listeners
 * (100 sockets opened at once add 3 listeners, not 300).
 */
function whenConnectEnabled(
  session: http2.ClientHttp2Session,
  state: SessionState,
  cb: (error: Error | null) => void,
): () => void {
  if (session.closed || session.destroyed) {
    cb(new Error('The HTTP/2 session is closed'));
    return () => {};
  }
  if (state.settings !== 'pending') {
    cb(state.settings === 'enabled' ? null : disabled());
    return () => {};
  }
  const waiters = state.waiters;
  if (waiters.size === 0) {
    const flush = (error: Error | null): void => {
      state.stopWaiting = null;
      session.removeListener('remoteSettings', onSettings);
      session.removeListener('close', onClose);
      session.removeListener('error', onError);
      const waiting = [...waiters];
      waiters.clear();
      for (const waiter of waiting) waiter(error);
    };
    const onSettings = (settings: http2.Settings): void => flush(settings.enableConnectProtocol ? null : disabled());
    const onClose = (): void => flush(new Error('The HTTP/2 session closed before the server sent its SETTINGS'));
    // A TLS server without h2 in ALPN refuses the handshake with an alert: it has no HTTP/2 at all.
    const onError = (error: Error): void =>
      flush(
        (error as NodeJS.ErrnoException).code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL'
          ? new Http2ConnectError('The server does not speak HTTP/2 (it did not accept h2 by ALPN)', error)
          : error,
      );
    session.on('remoteSettings', onSettings);
    session.on('close', onClose);
    session.on('error', onError);
    state.stopWaiting = flush;
  }
  waiters.add(cb);
  return () => {
    waiters.delete(cb);
    // The last waiter gone: the session listeners go too (a caller's session keeps no 'error' listener of ours).
    if (waiters.size === 0) state.stopWaiting?.(null);
  };
}

/**
 * Resets a handshake's stream. Its response body (a refusal's or a redirect's) is read and dropped: a paused
 * stream never emits 'close', so the socket would keep its pooled session (and the TCP connection) open.
 */
function cancel(stream: http2.ClientHttp2Stream): void {
  stream.resume();
  stream.close(NGHTTP2_CANCEL);
}

/** Starts the RFC 8441 handshake of `ws`; `opened` gets the stream once the server answered 200. */
export function connectHttp2(ws: WebSocket, request: Http2ConnectRequest, opened: Http2Opened): void {
  const { url } = request;
  const pooled = request.session === undefined;
  let session: http2.ClientHttp2Session;
  try {
    session = request.session ?? sharedSession(url, request.connectOptions);
  } catch (error) {
    ws.abortConnecting((error as Error).message, error as Error);
    return;
  }
  const state = track(session, pooled);
  state.users++;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    if (--state.users === 0 && state.pooled && !session.closed) session.close();
  };
  let settled = false;
  let stream: http2.ClientHttp2Stream | null = null;
  let timer: NodeJS.Timeout | null = null;
  const fail = (message: string, error?: Error): void => {
    if (settled) return;
    settled = true;
    ws._onHandshakeAbort = null;
    stopWaiting();
    if (timer) clearTimeout(timer);
    if (stream) cancel(stream);
    else release();
    ws.abortConnecting(message, error);
  };
  ws._onHandshakeAbort = () => {
    settled = true;
    stopWaiting();
    if (timer) clearTimeout(timer);
    if (stream) cancel(stream);
    else release();
  };
  if (request.handshakeTimeout) {
    timer = setTimeout(() => fail('Opening handshake has timed out'), request.handshakeTimeout);
    timer.unref?.();
  }
  // Assigned below; whenConnectEnabled may call back at once (a session known closed or disabled).
  let stopWaiting: () => void = () => {};
  stopWaiting = whenConnectEnabled(session, state, (error) => {
    if (settled) return;
    if (error) return fail(error.message, error);
    open();
  });

  function open(): void {
    const headers: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(request.headers)) {
      const lower = name.toLowerCase();
      if (!NOT_FORWARDED.has(lower)) headers[lower] = value;
    }
    if (request.auth !== undefined && headers.authorization === undefined) {
      headers.authorization = `Basic ${Buffer.from(request.auth).toString('base64')}`;
    }
    headers[':method'] = 'CONNECT';
    headers[':protocol'] = 'websocket';
    headers[':scheme'] = url.protocol === 'wss:' ? 'https' : 'http';
    // A Host header the caller set names the authority, as it names the Host over HTTP/1.1.
    const host = Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'host')?.[1];
    headers[':authority'] = host ?? url.host;
    headers[':path'] = `${url.pathname || '/'}${url.search}`;
    let s: http2.ClientHttp2Stream;
    try {
      s = session.request(headers, { endStream: false });
    } catch (error) {
      fail((error as Error).message, error as Error);
      return;
    }
    stream = s;
    s.once('close', () => {
      release();
      if (!settled) fail(`The stream was closed before the handshake completed (code ${s.rstCode ?? 0})`);
    });
    s.on('error', (error: Error) => fail(error.message, error));
    s.once('response', (head) => {
      if (settled) return;
      const status = Number(head[':status']);
      const location = head.location;
      if (request.redirect && status >= 300 && status < 400 && typeof location === 'string' && location) {
        settled = true;
        ws._onHandshakeAbort = null;
        if (timer) clearTimeout(timer);
        cancel(s);
        request.redirect(location);
        return;
      }
      if (status !== 200) {
        return fail(
          `Unexpected server response: ${status}`,
          new HandshakeError(status, `Unexpected server response: ${status}`, plainHeaders(head)),
        );
      }
      settled = true;
      ws._onHandshakeAbort = null;
      if (timer) clearTimeout(timer);
      s.removeAllListeners('error');
      opened(s, head);
    });
  }
}
