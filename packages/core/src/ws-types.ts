/**
 * The type vocabulary of `ws` 8 (as `@types/ws` names it), so code typed against ws compiles with only its
 * import switched: these are also members of the `WebSocket` namespace (`WebSocket.RawData`, ...).
 */
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { CloseEvent, ErrorEvent, Event, MessageEvent } from './event-target.js';

/** A received message's payload: Buffer (nodebuffer), ArrayBuffer (arraybuffer), Buffer[] (fragments). */
export type RawData = Buffer | ArrayBuffer | Buffer[];

/** A message payload, as received or sent. */
export type Data = string | Buffer | ArrayBuffer | Buffer[];

/** What send(), ping() and pong() take: anything ws turns into bytes (numbers go out as their decimal text). */
export type BufferLike =
  | string
  | number
  | Buffer
  | DataView
  | ArrayBufferView
  | ArrayBuffer
  | SharedArrayBuffer
  | Blob
  | readonly number[]
  | readonly Buffer[];

/** Certificate and key material in TLS options. */
export type CertMeta = string | string[] | Buffer | Buffer[];

/** What `verifyClient` is given about the upgrade request. */
export interface VerifyClientInfo<Request extends IncomingMessage = IncomingMessage> {
  origin: string;
  secure: boolean;
  req: Request;
}

/** Synchronous `verifyClient`: return whether to accept the handshake (a refusal is a 401). */
export type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> = (
  info: VerifyClientInfo<Request>,
) => boolean;

/** Asynchronous `verifyClient`: call back with the verdict and, for a refusal, the status, message, headers. */
export type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> = (
  info: VerifyClientInfo<Request>,
  callback: (res: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void,
) => void;

/** Client option `finishRequest`: last changes to the request; it must call `request.end()` itself. */
export type FinishRequestCallback<W = unknown> = (request: ClientRequest, websocket: W) => void;

/** The WHATWG events, by name, for addEventListener. */
export interface WebSocketEventMap {
  open: Event;
  error: ErrorEvent;
  close: CloseEvent;
  message: MessageEvent;
}

export interface EventListenerOptions {
  once?: boolean | undefined;
}

/** What `wss.address()` returns for a TCP server. */
export interface AddressInfo {
  address: string;
  family: string;
  port: number;
}
