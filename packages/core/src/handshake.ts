/**
 * Server side of the opening handshake (RFC 6455 §4.2, and its HTTP/2 form, RFC 8441 §5): validation of
 * the upgrade request or extended CONNECT with a clear HTTP answer for each fault, the accept key,
 * subprotocol parsing, and writing an HTTP refusal on a raw socket or an HTTP/2 stream. Header lists are
 * scanned by hand in linear time (no backtracking regular expressions).
 */
import * as crypto from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { GUID } from './constants.js';
import { HandshakeError } from './errors.js';
import { isToken } from './extension-header.js';

export { isToken };

// One-shot hashing (Node >= 20.12) skips building a Hash object: about half the cost per handshake.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

export function acceptKey(key: string): string {
  return oneShotHash
    ? oneShotHash('sha1', key + GUID, 'base64')
    : crypto
        .createHash('sha1')
        .update(key + GUID)
        .digest('base64');
}

const BASE64_KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/;

/** A Sec-WebSocket-Key must be the base64 form of exactly 16 bytes. */
export function isValidKey(key: string | undefined): key is string {
  return typeof key === 'string' && BASE64_KEY.test(key.trim());
}

/** Splits a comma-separated header list, trimming optional whitespace; empty elements are kept as ''. */
export function splitHeaderList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || value.charCodeAt(i) === 0x2c) {
      let s = start;
      let e = i;
      while (s < e && (value.charCodeAt(s) === 0x20 || value.charCodeAt(s) === 0x09)) s++;
      while (e > s && (value.charCodeAt(e - 1) === 0x20 || value.charCodeAt(e - 1) === 0x09)) e--;
      out.push(value.slice(s, e));
      start = i + 1;
    }
  }
  return out;
}

/** Whether a comma-separated header (e.g. Connection) contains `token`, case-insensitively. */
export function headerHasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const values = Array.isArray(value) ? value : [value];
  const wanted = token.toLowerCase();
  for (const v of values) {
    for (const item of splitHeaderList(v)) if (item.toLowerCase() === wanted) return true;
  }
  return false;
}

/** Parses Sec-WebSocket-Protocol: distinct tokens, in order. Throws SyntaxError on a bad or repeated token. */
export function parseSubprotocols(header: string): Set<string> {
  const protocols = new Set<string>();
  for (const item of splitHeaderList(header)) {
    if (!isToken(item)) throw new SyntaxError(`Invalid subprotocol: ${JSON.stringify(item)}`);
    if (protocols.has(item)) throw new SyntaxError(`The subprotocol "${item}" is duplicated`);
    protocols.add(item);
  }
  return protocols;
}

export interface UpgradeRequestInfo {
  key: string;
  version: 8 | 13;
  protocols: Set<string>;
  extensions: string | undefined;
  /** The client's origin: `Origin` (version 13) or `Sec-WebSocket-Origin` (version 8). */
  origin: string | undefined;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Validates an upgrade request; returns what the handshake needs, or the HTTP refusal to send. An HTTP/2
 * request (an `Http2ServerRequest`, which has the same headers/url/method/socket) is checked as an
 * RFC 8441 extended CONNECT instead.
 */
export function validateUpgradeRequest(req: IncomingMessage): UpgradeRequestInfo | HandshakeError {
  if (req.httpVersionMajor === 2) return validateConnectRequest(req.headers);
  if (req.method !== 'GET') return new HandshakeError(405, 'Invalid HTTP method', { Allow: 'GET' });
  // RFC 6455 §4.2.1: an HTTP/1.1 or higher GET with a Host header (HTTP/2 carries :authority instead).
  if (req.httpVersionMajor < 2) {
    if (req.httpVersionMajor < 1 || req.httpVersionMinor < 1)
      return new HandshakeError(400, 'HTTP/1.1 or higher is required');
    if (!req.headers.host) return new HandshakeError(400, 'Missing Host header');
  }
  const upgrade = headerValue(req, 'upgrade');
  if (upgrade === undefined || upgrade.trim().toLowerCase() !== 'websocket') {
    return new HandshakeError(400, 'Invalid Upgrade header');
  }
  if (!headerHasToken(req.headers.connection, 'upgrade')) {
    return new HandshakeError(400, 'Invalid Connection header');
  }
  const key = headerValue(req, 'sec-websocket-key');
  if (!isValidKey(key)) return new HandshakeError(400, 'Missing or invalid Sec-WebSocket-Key header');
  const versionHeader = headerValue(req, 'sec-websocket-version')?.trim();
  // A missing version is a malformed request (RFC 6455 §4.2.1); an unsupported one gets 426 (§4.2.2).
  if (versionHeader === undefined || versionHeader === '') {
    return new HandshakeError(400, 'Missing or invalid Sec-WebSocket-Version header');
  }
  if (versionHeader !== '13' && versionHeader !== '8') {
    return new HandshakeError(426, 'Unsupported Sec-WebSocket-Version', {
      'Sec-WebSocket-Version': '13, 8',
    });
  }
  let protocols = new Set<string>();
  const protocolHeader = headerValue(req, 'sec-websocket-protocol');
  if (protocolHeader !== undefined) {
    try {
      protocols = parseSubprotocols(protocolHeader);
    } catch {
      return new HandshakeError(400, 'Invalid Sec-WebSocket-Protocol header');
    }
  }
  const version = versionHeader === '13' ? 13 : 8;
  return {
    key: key.trim(),
    version,
    protocols,
    extensions: headerValue(req, 'sec-websocket-extensions'),
    origin: headerValue(req, version === 8 ? 'sec-websocket-origin' : 'origin'),
  };
}

/**
 * RFC 8441 §5: a WebSocket over HTTP/2 opens with `:method CONNECT`, `:protocol websocket`, `:scheme`,
 * `:path` and `:authority`. There is no Upgrade, Connection or Sec-WebSocket-Key (nor an accept key);
 * the version, subprotocol and extension headers mean what they mean over HTTP/1.1.
 */
export function validateConnectRequest(headers: IncomingHttpHeaders): UpgradeRequestInfo | HandshakeError {
  const protocol = headers[':protocol'];
  const method = headers[':method'];
  // nghttp2 only lets :protocol arrive on a CONNECT (RFC 8441 §4); the plugins route the request through
  // their framework as the GET it stands for, so GET is accepted along with :protocol.
  if (method !== 'CONNECT' && !(method === 'GET' && protocol !== undefined)) {
    return new HandshakeError(405, 'Invalid HTTP method', { Allow: 'CONNECT' });
  }
  if (typeof protocol !== 'string' || protocol.toLowerCase() !== 'websocket') {
    return new HandshakeError(400, 'Invalid :protocol pseudo-header');
  }
  if (!headers[':scheme'] || !headers[':path'] || !headers[':authority']) {
    return new HandshakeError(400, 'Missing :scheme, :path or :authority pseudo-header');
  }
  const version = single(headers['sec-websocket-version'])?.trim();
  if (version === undefined || version === '') {
    return new HandshakeError(400, 'Missing or invalid Sec-WebSocket-Version header');
  }
  // Version 8 predates RFC 6455 and has no HTTP/2 binding.
  if (version !== '13') {
    return new HandshakeError(426, 'Unsupported Sec-WebSocket-Version', { 'Sec-WebSocket-Version': '13' });
  }
  let protocols = new Set<string>();
  const protocolHeader = single(headers['sec-websocket-protocol']);
  if (protocolHeader !== undefined) {
    try {
      protocols = parseSubprotocols(protocolHeader);
    } catch {
      return new HandshakeError(400, 'Invalid Sec-WebSocket-Protocol header');
    }
  }
  return {
    key: '',
    version: 13,
    protocols,
    extensions: single(headers['sec-websocket-extensions']),
    origin: single(headers.origin),
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** An HTTP/2 stream standing in for a socket (the server side of an extended CONNECT). */
export function isHttp2Stream(socket: Duplex): socket is ServerHttp2Stream {
  return (
    typeof (socket as Partial<ServerHttp2Stream>).respond === 'function' &&
    (socket as Partial<ServerHttp2Stream>).session !== undefined
  );
}

// Connection-specific fields are forbidden in HTTP/2 (RFC 9113 §8.2.2): Node refuses to send them.
const HOP_BY_HOP = new Set(['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding']);

/** Response headers for HTTP/2: lower-case names, hop-by-hop fields dropped. */
type HeaderValues = Record<string, string | number | string[]>;

export function http2Headers(status: number, headers: HeaderValues): HeaderValues {
  const out: HeaderValues = { ':status': status };
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower)) out[lower] = value;
  }
  return out;
}

/**
 * Accepts an extended CONNECT: :status 200 with the header lines of the 'headers' event after the first
 * (the status line), which listeners may have added to.
 */
export function acceptStream(stream: ServerHttp2Stream, lines: string[]): void {
  const headers: Record<string, string | string[]> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    const seen = headers[lower];
    // Repeated fields (Set-Cookie) go out as separate fields.
    headers[lower] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  stream.respond(http2Headers(200, headers));
}

/**
 * Answers an upgrade request with a real HTTP response on the raw socket (or the HTTP/2 stream), then
 * closes it.
 * The socket is destroyed once the response is flushed (or at once if it cannot be written).
 */
export function writeHttpError(
  socket: Duplex,
  status: number,
  message?: string,
  headers: Record<string, string | number> = {},
): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const body = message ?? STATUS_CODES[status] ?? '';
  if (isHttp2Stream(socket)) {
    if (socket.headersSent) {
      socket.destroy();
      return;
    }
    socket.respond(
      http2Headers(status, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        ...headers,
      }),
    );
    // The response is complete: a reset (NO_ERROR) tells the client to stop sending (RFC 9113 §8.1).
    socket.once('finish', () => socket.close());
    socket.end(body);
    return;
  }
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
