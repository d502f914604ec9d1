/** Protocol constants from RFC 6455. */

/** Appended to Sec-WebSocket-Key before hashing (RFC 6455 §1.3). */
export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
} as const;

/** Largest payload length a 64-bit length field may carry that a JS number represents exactly. */
export const MAX_SAFE_PAYLOAD = 2 ** 53 - 1;

/** Defaults shared by server and client. */
export const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;
export const DEFAULT_CLOSE_TIMEOUT = 30_000;
/** Defaults of the receive limits, as in ws 8.21+ (maxFragments, maxBufferedChunks, maxPendingAutoPongs). */
export const DEFAULT_MAX_FRAGMENTS = 16 * 1024;
export const DEFAULT_MAX_BUFFERED_CHUNKS = 256 * 1024;
export const DEFAULT_MAX_PENDING_AUTO_PONGS = 60;
/**
 * One deadline for an opening handshake, in both roles: the server's handshakeTimeout (verifyClient, slow
 * request heads), the router's decisionTimeout and the client's handshakeTimeout. 0 turns it off.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
export const MAX_CONTROL_PAYLOAD = 125;
export const MAX_CLOSE_REASON = 123;

export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
export const BINARY_TYPES: readonly BinaryType[] = ['nodebuffer', 'arraybuffer', 'fragments', 'blob'];

/**
 * Whether a close code may appear in a close frame on the wire (RFC 6455 §7.4).
 * 1004, 1005, 1006 and 1015 are reserved; 1016–2999 are unassigned; 3000–4999 are for applications.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}
