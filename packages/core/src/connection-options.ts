/** Options that shape each connection, shared by WebSocketServer (for its clients) and the client WebSocket. */
import { validateHeartbeatOptions, MAX_TIMER_DELAY, type HeartbeatOptions } from './heartbeat.js';
import type { PerMessageDeflateOptions } from './permessage-deflate.js';

export interface ConnectionOptions {
  /** Largest message accepted (bytes); default 100 MiB. 0: no limit. */
  maxPayload?: number;
  /** Largest single frame accepted (a message may span many); default: no separate limit. */
  maxReceivedFrameSize?: number;
  skipUTF8Validation?: boolean;
  /** Answer pings automatically; default true. */
  autoPong?: boolean;
  /** Whether several message/ping/pong events may be emitted in one tick; default true. */
  allowSynchronousEvents?: boolean;
  /** permessage-deflate (RFC 7692); default off on the server, on for the client. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** How long to wait for the peer's close frame/TCP close once closing, before destroying the socket (ms). */
  closeTimeout?: number;
  /** Ping when idle every `interval` ms; terminate a peer silent for `timeout` ms after a ping. Off by default. */
  heartbeat?: HeartbeatOptions;
  /** Largest send backlog in bytes; a peer past it is dropped (see WebSocket#send). Default: no limit. */
  maxBufferedAmount?: number;
  /** Send messages larger than fragmentationThreshold as several frames (pings can pass between them). */
  fragmentOutgoingMessages?: boolean;
  /** Largest outgoing frame payload with fragmentOutgoingMessages. Default 16 KiB. */
  fragmentationThreshold?: number;
  /** False: sockets emit 'fragment'(data, { isBinary, isFinal, index }) as data arrives instead of 'message'. */
  assembleFragments?: boolean;
  /**
   * Most frames (fragments, empty ones included) one received message may have; past it the connection
   * fails with 1008. Default 16,384 (as ws 8.21+); 0: no limit. Not applied with assembleFragments: false.
   */
  maxFragments?: number;
  /** Most socket chunks held for one incomplete frame before failing with 1008. Default 262,144 (as ws); 0: no limit. */
  maxBufferedChunks?: number;
  /** Automatic pongs waiting to be written before the socket is terminated. Default 60 (as ws); 0: no limit. */
  maxPendingAutoPongs?: number;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A timer delay in ms: 0 (off) up to the largest delay a Node timer takes. */
function checkDelay(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= 0) || value > MAX_TIMER_DELAY) {
    throw new RangeError(
      `The ${name} option must be a number of milliseconds from 0 to ${MAX_TIMER_DELAY}, got ${describe(value)}`,
    );
  }
}

/**
 * Throws a RangeError (TypeError for a heartbeat that is not an object) naming the first invalid option, so a
 * typo fails at construction instead of misbehaving on the first connection.
 */
export function validateConnectionOptions(options: ConnectionOptions & { handshakeTimeout?: number }): void {
  checkDelay('closeTimeout', options.closeTimeout);
  checkDelay('handshakeTimeout', options.handshakeTimeout);
  const { maxBufferedAmount, fragmentationThreshold, heartbeat } = options;
  if (maxBufferedAmount !== undefined && (typeof maxBufferedAmount !== 'number' || !(maxBufferedAmount >= 0))) {
    throw new RangeError(
      `The maxBufferedAmount option must be a number of bytes >= 0 (0: no limit), got ${describe(maxBufferedAmount)}`,
    );
  }
  if (
    fragmentationThreshold !== undefined &&
    (typeof fragmentationThreshold !== 'number' ||
      !Number.isSafeInteger(fragmentationThreshold) ||
      fragmentationThreshold < 1)
  ) {
    throw new RangeError(
      `The fragmentationThreshold option must be an integer number of bytes >= 1, got ${describe(fragmentationThreshold)}`,
    );
  }
  if (heartbeat !== undefined && heartbeat !== null && (heartbeat as unknown) !== false)
    validateHeartbeatOptions(heartbeat);
}
