/**
 * WebSockets over HTTP/2 (RFC 8441), server side: an HTTP/2 server's extended CONNECT streams
 * (`:method CONNECT`, `:protocol websocket`) become the transports of ordinary WebSockets. The server
 * must advertise SETTINGS_ENABLE_CONNECT_PROTOCOL itself (`settings: { enableConnectProtocol: true }`):
 * wskit never turns it on, since advertising it has broken proxies in front of servers that did.
 */
import type * as http2 from 'node:http2';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

export type Http2ServerLike = http2.Http2SecureServer | http2.Http2Server;

let loaded: typeof http2 | undefined;
/**
 * node:http2, loaded on first use: an application that never sees an HTTP/2 stream does not pay for it
 * (about 7 ms of startup and 2 MB of heap). A built-in resolves the same from any base path.
 */
export function nodeHttp2(): typeof http2 {
  return (loaded ??= createRequire('/')('node:http2') as typeof http2);
}

/** NGHTTP2_CANCEL, the reset code RFC 8441 §5 gives an aborted WebSocket. */
export const NGHTTP2_CANCEL = 8;

/** HTTP/2 servers have updateSettings(); HTTP/1.1 servers do not. */
export function isHttp2Server(server: object): server is Http2ServerLike {
  return typeof (server as Partial<http2.Http2Server>).updateSettings === 'function';
}

/** Whether request headers open a WebSocket (RFC 8441 §4). */
export function isWebSocketConnect(headers: http2.IncomingHttpHeaders): boolean {
  const protocol = headers[':protocol'];
  return headers[':method'] === 'CONNECT' && typeof protocol === 'string' && protocol.toLowerCase() === 'websocket';
}

/**
 * The request object a stream's handshake is checked against and handed to verifyClient,
 * handleProtocols, shouldHandle and 'connection': Node's own compatibility request, which has the
 * headers, url (`:path`), method and socket (the TLS connection) an `http.IncomingMessage` has.
 */
export function http2Request(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: string[] = [],
): IncomingMessage {
  return new (nodeHttp2().Http2ServerRequest)(stream, headers, {}, rawHeaders) as unknown as IncomingMessage;
}

// Both the 'stream' event and the compatibility layer's 'connect' event see a stream: it is handled once.
const taken = new WeakSet<http2.Http2Stream>();
// The compat layer's response for a stream: the only one there may be (two on one stream would both answer
// its 'wantTrailers', and the second throws), so createUpgradeResponse hands this one out.
const compatResponses = new WeakMap<http2.Http2Stream, http2.Http2ServerResponse>();

/** The Http2ServerResponse Node's compat layer made for `stream`, if it made one. */
export function compatResponse(stream: http2.Http2Stream): http2.Http2ServerResponse | undefined {
  return compatResponses.get(stream);
}

export type StreamHandler = (req: IncomingMessage, stream: http2.ServerHttp2Stream) => void;

/**
 * Listens for WebSocket streams on an HTTP/2 server; returns the function that stops listening. The
 * handler gets each stream once, with its request, as an 'upgrade' listener gets a socket: the plugins
 * pass both to their upgrade path (`createUpgradeResponse` and `handleUpgrade` take a stream as a socket).
 *
 * A server with a compat 'request' handler answers every CONNECT with 405 unless a 'connect' listener
 * exists (nodejs/node#36977), so one is always added: it takes WebSocket streams with Node's request
 * object and answers other CONNECTs 405 as Node would, unless the application listens for them too.
 * Servers without a request handler only have the 'stream' event.
 */
/**
 * For the plugins: presents an extended CONNECT to a framework's router as the GET a WebSocket
 * handshake is over HTTP/1.1, so GET routes, hooks and middleware match it (handleUpgrade accepts it).
 */
export function routeAsGet(req: IncomingMessage): IncomingMessage {
  req.method = 'GET';
  return req;
}

export function listenForWebSocketStreams(server: Http2ServerLike, handle: StreamHandler): () => void {
  const onStream = (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    _flags: number,
    rawHeaders: string[],
  ): void => {
    // With a compat layer the stream arrives as a 'connect' event too, with its own request object.
    if (server.listenerCount('request') > 0 || !isWebSocketConnect(headers) || taken.has(stream)) return;
    taken.add(stream);
    handle(http2Request(stream, headers, rawHeaders), stream);
  };
  const onConnect = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
    const stream = req.stream;
    if (isWebSocketConnect(req.headers)) {
      if (taken.has(stream)) return;
      taken.add(stream);
      compatResponses.set(stream, res);
      handle(req as unknown as IncomingMessage, stream);
      return;
    }
    if (server.listenerCount('connect') === 1) {
      res.statusCode = 405;
      res.end();
    }
  };
  server.on('stream', onStream);
  server.on('connect', onConnect);
  return () => {
    server.removeListener('stream', onStream);
    server.removeListener('connect', onConnect);
  };
}

/**
 * Ends a transport abruptly. An HTTP/2 stream is reset with CANCEL, RFC 8441 §5's stand-in for a TCP
 * reset (a plain destroy() would reset it with NO_ERROR); anything else is destroyed.
 */
export function abortTransport(socket: Duplex): void {
  const stream = socket as Partial<http2.Http2Stream>;
  if (typeof stream.close === 'function' && 'rstCode' in stream) {
    (stream as http2.Http2Stream).close(NGHTTP2_CANCEL);
  } else {
    socket.destroy();
  }
}
