/**
 * WebSockets over HTTP/2 (RFC 8441), client side: an extended CONNECT stream on an HTTP/2 session,
 * opened once the server's SETTINGS allow it. Sessions are shared per origin (and TLS options), so the
 * sockets of one origin are multiplexed on one connection; a session the caller passes is used as is
 * and never closed by wskit.
 */
import type * as http2 from 'node:http2';
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
}

export type Http2Opened = (stream: http2.ClientHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

const NOT_FORWARDED = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'host',
  'keep-alive',
  'transfer-encoding',
]);

interface SessionState {
  /** Whether the peer's SETTINGS have arrived, and whether they enabled extended CONNECT. */
  settings: 'pending' | 'enabled' | 'disabled';
  /** Sockets connecting or open on the session (a pooled session closes when none is left). */
  users: number;
  pooled: boolean;
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

function track(session: http2.ClientHttp2Session, pooled: boolean): SessionState {
  let state = states.get(session);
  if (state) return state;
  state = { settings: 'pending', users: 0, pooled };
  states.set(session, state);
  const s = state;
  session.on('remoteSettings', (settings: http2.Settings) => {
    s.settings = settings.enableConnectProtocol ? 'enabled' : 'disabled';
  });
  // A session the caller made may have had its SETTINGS already (the event is not repeated).
  if (!pooled && session.remoteSettings?.enableConnectProtocol) s.settings = 'enabled';
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

/** Calls back once extended CONNECT may be used on the session, or with the reason it cannot. */
function whenConnectEnabled(
  session: http2.ClientHttp2Session,
  state: SessionState,
  cb: (error: Error | null) => void,
): () => void {
  const disabled = (): Error =>
    new Error('The server does not accept WebSockets over HTTP/2 (no SETTINGS_ENABLE_CONNECT_PROTOCOL)');
  if (session.closed || session.destroyed) {
    cb(new Error('The HTTP/2 session is closed'));
    return () => {};
  }
  if (state.settings !== 'pending') {
    cb(state.settings === 'enabled' ? null : disabled());
    return () => {};
  }
  const onSettings = (settings: http2.Settings): void => {
    done(settings.enableConnectProtocol ? null : disabled());
  };
  const onClose = (): void => done(new Error('The HTTP/2 session closed before the server sent its SETTINGS'));
  const onError = (error: Error): void => done(error);
  const done = (error: Error | null): void => {
    stop();
    cb(error);
  };
  const stop = (): void => {
    session.removeListener('remoteSettings', onSettings);
    session.removeListener('close', onClose);
    session.removeListener('error', onError);
  };
  session.on('remoteSettings', onSettings);
  session.on('close', onClose);
  session.on('error', onError);
  return stop;
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
    if (stream) stream.close(NGHTTP2_CANCEL);
    else release();
    ws.abortConnecting(message, error);
  };
  ws._onHandshakeAbort = () => {
    settled = true;
    stopWaiting();
    if (timer) clearTimeout(timer);
    if (stream) stream.close(NGHTTP2_CANCEL);
    else release();
  };
  if (request.handshakeTimeout) {
    timer = setTimeout(() => fail('Opening handshake has timed out'), request.handshakeTimeout);
    timer.unref?.();
  }
  const stopWaiting = whenConnectEnabled(session, state, (error) => {
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
    headers[':authority'] = url.host;
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
      if (status !== 200) return fail(`Unexpected server response: ${status}`);
      settled = true;
      ws._onHandshakeAbort = null;
      if (timer) clearTimeout(timer);
      s.removeAllListeners('error');
      opened(s, head);
    });
  }
}
