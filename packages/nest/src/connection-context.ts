/**
 * What a gateway knows about a connection beyond the socket: the upgrade request, the path parameters
 * its pattern captured, and the query string. Kept in a WeakMap so the socket object stays the plain
 * core WebSocket that Nest's own helpers (exception filters, `@ConnectedSocket()`) expect.
 */
import type { IncomingMessage } from 'node:http';
import type { PathParams, WebSocket } from '@wskit/core';

export interface ConnectionContext {
  /** The HTTP upgrade request (headers, cookies, remote address; whatever connect-time guards attached). */
  readonly request: IncomingMessage;
  /** Parameters captured by the gateway's path pattern, percent-decoded. */
  readonly params: Readonly<PathParams>;
  /** Query string parameters; a repeated key keeps its last value (see `searchParams` for all). */
  readonly query: Readonly<Record<string, string>>;
  readonly searchParams: URLSearchParams;
  /** The request path without the query string. */
  readonly path: string;
  /** The gateway path pattern that matched. */
  readonly pattern: string;
}

const contexts = new WeakMap<WebSocket, ConnectionContext>();

export function createConnectionContext(
  request: IncomingMessage,
  params: PathParams,
  pattern: string,
): ConnectionContext {
  const url = request.url ?? '/';
  const mark = url.indexOf('?');
  const searchParams = new URLSearchParams(mark === -1 ? '' : url.slice(mark + 1));
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, value] of searchParams) query[key] = value;
  return { request, params, query, searchParams, path: mark === -1 ? url : url.slice(0, mark), pattern };
}

export function bindConnectionContext(ws: WebSocket, context: ConnectionContext): void {
  contexts.set(ws, context);
}

/** The connection context of a socket accepted by a WskitAdapter gateway, or undefined for any other socket. */
export function getConnectionContext(ws: WebSocket): ConnectionContext | undefined {
  return contexts.get(ws);
}
