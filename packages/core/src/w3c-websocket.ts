/**
 * A W3C-style client for code written against WebSocket-Node's `W3CWebSocket`: its constructor
 * signature, `binaryType` 'arraybuffer' by default, and the browser event surface (onopen, onmessage,
 * addEventListener…) that every wskit socket already has.
 */
import type { ClientOptions } from './client-handshake.js';
import { WebSocket } from './websocket.js';

/** WebSocket-Node's client configuration keys, mapped onto wskit's options. */
export interface W3CClientConfig {
  maxReceivedFrameSize?: number;
  maxReceivedMessageSize?: number;
  fragmentOutgoingMessages?: boolean;
  fragmentationThreshold?: number;
  closeTimeout?: number;
  tlsOptions?: ClientOptions;
}

export class W3CWebSocket extends WebSocket {
  constructor(
    url: string | URL,
    protocols?: string | string[] | null,
    origin?: string,
    headers?: Record<string, string>,
    requestOptions?: ClientOptions,
    clientConfig: W3CClientConfig = {},
  ) {
    const { maxReceivedMessageSize, tlsOptions, ...config } = clientConfig;
    const options: ClientOptions = { ...requestOptions, ...tlsOptions, ...config };
    if (origin !== undefined) options.origin = origin;
    if (headers !== undefined) options.headers = { ...requestOptions?.headers, ...headers };
    if (maxReceivedMessageSize !== undefined) options.maxPayload = maxReceivedMessageSize;
    super(url, protocols ?? [], options);
    this.binaryType = 'arraybuffer';
  }
}
