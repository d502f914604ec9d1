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
  | 'WS_ERR_NO_TOPIC_HUB';

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
