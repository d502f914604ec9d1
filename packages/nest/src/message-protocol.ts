/**
 * The wire protocol between a client and gateway handlers: by default WsAdapter's `{ "event", "data" }`
 * JSON text messages, with an optional `id` that is echoed in the reply so a client can pair an
 * acknowledgement with its request. Parser and serializer are pluggable.
 */
import type { RawData } from '@wskit/core';

export interface InboundMessage {
  event: string;
  data?: unknown;
  /** Echoed in the handler's reply (ack correlation). */
  id?: string | number;
}

/** Returns the message, or null to ignore it silently; throwing reports an `INVALID_MESSAGE` error. */
export type MessageParser = (data: RawData, isBinary: boolean) => InboundMessage | null;
export type MessageSerializer = (value: unknown) => string | Buffer;

export type GatewayErrorCode = 'INVALID_MESSAGE' | 'UNKNOWN_EVENT' | 'HANDLER_ERROR';

/** Something that went wrong with a client's message that the client should hear about. */
export interface GatewayError {
  code: GatewayErrorCode;
  message: string;
  event?: string;
  id?: string | number;
  cause?: unknown;
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export const parseJsonMessage: MessageParser = (data) => {
  const value: unknown = JSON.parse(rawToString(data));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('A message must be a JSON object');
  }
  const message = value as Record<string, unknown>;
  if (typeof message.event !== 'string') throw new TypeError('A message needs a string "event"');
  const id = message.id;
  return {
    event: message.event,
    data: message.data,
    id: typeof id === 'string' || typeof id === 'number' ? id : undefined,
  };
};

export const serializeJson: MessageSerializer = (value) => JSON.stringify(value);

/** The event name error replies carry by default: the one Nest's own WsException filter uses. */
export const DEFAULT_ERROR_EVENT = 'exception';

/** The client-facing form of a GatewayError (no stack, no internal cause). */
export function errorReply(
  error: GatewayError,
  event: string = DEFAULT_ERROR_EVENT,
): { event: string; data: Record<string, unknown>; id?: string | number } {
  const data: Record<string, unknown> = { status: 'error', code: error.code, message: error.message };
  if (error.event !== undefined) data.event = error.event;
  return error.id === undefined ? { event, data } : { event, data, id: error.id };
}

/** A handler's result as sent back: as WsAdapter does, plus the request `id` when the client sent one. */
export function ackReply(result: unknown, message: InboundMessage): unknown {
  if (message.id === undefined) return result;
  if (isWsResponse(result)) return { ...result, id: message.id };
  return { event: message.event, data: result, id: message.id };
}

function isWsResponse(value: unknown): value is { event: string; data: unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { event?: unknown }).event === 'string' &&
    'data' in value
  );
}
