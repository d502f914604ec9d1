/**
 * Typed errors. `code` uses the same WS_ERR_* names as `ws`, so code that switches on them keeps
 * working; `closeCode` is the close code the connection was (or will be) failed with.
 */
export type WebSocketErrorCode =
  | 'WS_ERR_EXPECTED_FIN'
  | 'WS_ERR_EXPECTED_MASK'
  | 'WS_ERR_UNEXPECTED_MASK'
  | 'WS_ERR_INVALID_OPCODE'
  /** wskit only: a 64-bit payload length with its most significant bit set (RFC 6455 §5.2). */
  | 'WS_ERR_INVALID_PAYLOAD_LENGTH'
  | 'WS_ERR_UNEXPECTED_RSV_1'
  | 'WS_ERR_UNEXPECTED_RSV_2_3'
  | 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'
  | 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'
  | 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
  | 'WS_ERR_INVALID_UTF8'
  | 'WS_ERR_INVALID_CLOSE_CODE'
  | 'WS_ERR_INVALID_COMPRESSED_DATA'
  | 'WS_ERR_BUFFER_LIMIT'
  /** Too many fragments in one message (maxFragments) or chunks held for one frame (maxBufferedChunks), as ws. */
  | 'WS_ERR_TOO_MANY_BUFFERED_PARTS'
  | 'WS_ERR_HANDSHAKE'
  | 'WS_ERR_SOCKET_CLOSED'
  /** wskit only: subscribe() on a socket no server accepted (a client socket has no topic hub). */
  | 'WS_ERR_NO_TOPIC_HUB'
  /** wskit only: a client option or URL that has no HTTP/2 form, given with `http2` (thrown by the constructor). */
  | 'WS_ERR_HTTP2_UNSUPPORTED'
  /** wskit only: the server does not take WebSockets over HTTP/2 (no h2 by ALPN, or no SETTINGS_ENABLE_CONNECT_PROTOCOL). */
  | 'WS_ERR_HTTP2_NO_EXTENDED_CONNECT';

/**
 * ws reports protocol violations as RangeErrors (invalid UTF-8 as a plain Error), so `instanceof RangeError`
 * and `err.name` checks written for ws keep working; `instanceof WebSocketError` adds the typed fields.
 */
export class WebSocketError extends RangeError {
  readonly code: WebSocketErrorCode;
  /** Close code sent to (or reported for) the peer; 1006 where no close frame applies. */
  readonly closeCode: number;

  constructor(code: WebSocketErrorCode, closeCode: number, message: string) {
    super(message);
    this.name = code === 'WS_ERR_INVALID_UTF8' ? 'Error' : 'RangeError';
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** A refused or malformed opening handshake; `status` is the HTTP status sent (server) or received (client). */
export class HandshakeError extends Error {
  readonly code = 'WS_ERR_HANDSHAKE' as const;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HandshakeError';
    this.status = status;
    this.headers = headers;
  }
}

export function protocolError(code: WebSocketErrorCode, message: string): WebSocketError {
  return new WebSocketError(code, 1002, `Invalid WebSocket frame: ${message}`);
}

/** A client option or URL that cannot be honoured over HTTP/2 (`http2: true | session`); `option` names it. */
export class Http2UnsupportedError extends TypeError {
  readonly code = 'WS_ERR_HTTP2_UNSUPPORTED' as const;
  readonly option: string;

  constructor(option: string, message: string) {
    super(message);
    this.name = 'Http2UnsupportedError';
    this.option = option;
  }
}

/**
 * The server cannot take a WebSocket over HTTP/2: it did not negotiate h2 (ALPN), or its SETTINGS do not
 * enable extended CONNECT (RFC 8441 §3). `cause` is Node's error where there is one.
 */
export class Http2ConnectError extends Error {
  readonly code = 'WS_ERR_HTTP2_NO_EXTENDED_CONNECT' as const;

  constructor(message: string, cause?: Error) {
    super(message, cause ? { cause } : undefined);
    this.name = 'Http2ConnectError';
  }
}
