/**
 * Frames → messages. Assembles fragments, inflates compressed messages (one frame at a time, with the
 * parser held so order is kept), validates UTF-8 as early as the bytes allow (as each piece of a frame
 * arrives, and as inflated output comes out of zlib), decodes close frames, and hands finished messages
 * and control frames to the socket.
 *
 * Receive backpressure: while input cannot be consumed (a message is inflating, events are deferred, the
 * application paused the socket), at most RECEIVE_BUFFER_LIMIT unparsed bytes are held before the target
 * is asked to stop reading its transport; it is asked to resume once they drain below that.
 */
import type { BinaryType } from './constants.js';
import { EMPTY_BUFFER, Opcode, isValidCloseCode } from './constants.js';
import { WebSocketError, protocolError } from './errors.js';
import { FrameParser, type FrameSink } from './frame-parser.js';
import { MessageBuffer } from './message-buffer.js';
import { Utf8Stream, isValidUtf8 } from './utf8.js';

/** Unparsed bytes held while input waits, before the transport is paused (see the file comment). */
export const RECEIVE_BUFFER_LIMIT = 64 * 1024;

export type MessageData = Buffer | ArrayBuffer | Buffer[] | Blob;

export interface ReceiverTarget {
  onMessage(data: MessageData, isBinary: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  onCloseFrame(code: number, reason: Buffer): void;
  onReceiveError(error: WebSocketError): void;
  /** With assembleFragments off: each data frame as it arrives. */
  onFragment(data: Buffer, isBinary: boolean, isFinal: boolean, index: number): void;
  /** Stop (true) or resume (false) reading the transport: receive backpressure. */
  onInputThrottle?(stop: boolean): void;
  /**
   * Called before inflating a message while the transport is stopped: a reset by the peer is only seen
   * by touching the socket, and its backlog should not be inflated for nobody.
   */
  probeTransport?(): void;
}

/** Inspects each piece of inflated output as it comes; an error returned fails the message at once. */
export type OutputCheck = (chunk: Buffer) => WebSocketError | null;

/** The part of permessage-deflate the receiver needs. */
export interface MessageDecompressor {
  decompress(data: Buffer, fin: boolean, cb: (error: Error | null, result?: Buffer) => void, check?: OutputCheck): void;
  /** decompress() that may finish at once: the message or its failure, or null when `cb` will run instead. */
  decompressNow?(
    data: Buffer,
    fin: boolean,
    cb: (error: Error | null, result?: Buffer) => void,
    check?: OutputCheck,
  ): Buffer | WebSocketError | null;
}

export interface ReceiverOptions {
  isServer: boolean;
  maxPayload: number;
  maxFrameSize?: number;
  skipUTF8Validation: boolean;
  allowSynchronousEvents: boolean;
  /** False: deliver every data frame through onFragment instead of assembling whole messages. */
  assembleFragments?: boolean;
  /** Most frames per assembled message (ws: maxFragments); 0 or undefined: no limit. */
  maxFragments?: number;
  /** Most socket chunks held for one incomplete frame (ws: maxBufferedChunks); 0 or undefined: no limit. */
  maxBufferedChunks?: number;
}

// Empty payloads and reasons are ws's shared empty buffer, as users comparing with it expect.
const EMPTY: Buffer = EMPTY_BUFFER;

function invalidUtf8Error(): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_UTF8', 1007, 'Invalid WebSocket frame: invalid UTF-8 sequence');
}

export function toArrayBuffer(data: Buffer): ArrayBuffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer) {
    return data.buffer;
  }
  const out = new ArrayBuffer(data.byteLength);
  new Uint8Array(out).set(data);
  return out;
}

export class Receiver implements FrameSink {
  binaryType: BinaryType = 'nodebuffer';
  /** Called each time the receiver has parsed all it can (used to finish a close once input is drained). */
  onSettled: (() => void) | null = null;

  private readonly parser: FrameParser;
  private decompressor: MessageDecompressor | null = null;
  private readonly validateUtf8: boolean;
  private readonly allowSynchronousEvents: boolean;
  private readonly assembleFragments: boolean;
  private fragmentIndex = 0;

  /** Payload of the message being assembled; made on the first message that arrives in pieces. */
  private pieces: MessageBuffer | null = null;
  /** binaryType 'fragments': the frames of the message so far (the current frame is in `pieces`). */
  private frames: Buffer[] | null = null;
  /** Whether any piece of the current message has been seen (a message of one whole frame has none). */
  private inMessage = false;
  private messageBinary = false;
  private messageCompressed = false;
  /** Created on the first text message that arrives in pieces: most connections never need one. */
  private utf8: Utf8Stream | null = null;
  /** Validates inflated text as it comes out of zlib (made once, on the first compressed text message). */
  private outputCheck: OutputCheck | null = null;

  private userPaused = false;
  private inflating = false;
  private deferred = false;
  private finished = false;
  /** The target was asked to stop reading its transport. */
  private throttled = false;

  constructor(
    private readonly target: ReceiverTarget,
    options: ReceiverOptions,
  ) {
    this.parser = new FrameParser(this, {
      isServer: options.isServer,
      maxPayload: options.maxPayload,
      maxFrameSize: options.maxFrameSize,
      // Streamed frames are never buffered, so only assembled messages need a fragment limit.
      maxFragments: options.assembleFragments === false ? 0 : options.maxFragments,
      maxBufferedChunks: options.maxBufferedChunks,
    });
    this.validateUtf8 = !options.skipUTF8Validation;
    this.allowSynchronousEvents = options.allowSynchronousEvents;
    this.assembleFragments = options.assembleFragments ?? true;
    this.parser.streamData = !this.assembleFragments;
  }

  setDecompressor(decompressor: MessageDecompressor | null): void {
    this.decompressor = decompressor;
    this.parser.rsv1Allowed = decompressor !== null;
  }

  /** True once a close frame or an error ended the input; later bytes are ignored. */
  get isFinished(): boolean {
    return this.finished;
  }

  /** True while nothing buffered can be parsed right now (paused, or waiting for zlib). */
  get isHeld(): boolean {
    return this.parser.paused;
  }

  /** True while the target was asked to stop reading its transport (receive backpressure). */
  get isThrottled(): boolean {
    return this.throttled;
  }

  push(chunk: Buffer): void {
    const parser = this.parser;
    parser.push(chunk);
    if (!parser.paused) this.onSettled?.();
    else if (!this.throttled && parser.bufferedBytes >= RECEIVE_BUFFER_LIMIT && !this.finished) this.throttle(true);
  }

  private throttle(stop: boolean): void {
    this.throttled = stop;
    this.target.onInputThrottle?.(stop);
  }

  pause(): void {
    this.userPaused = true;
    this.parser.paused = true;
  }

  resume(): void {
    this.userPaused = false;
    this.update();
  }

  /** Ends the input: nothing more is parsed or emitted, and what was held is dropped. */
  stop(): void {
    this.finished = true;
    this.parser.stop();
    this.pieces = null;
    this.frames = null;
  }

  // FrameSink

  onFrame(opcode: number, fin: boolean, rsv1: boolean, payload: Buffer, end: boolean): void {
    if (opcode >= Opcode.Close) {
      this.control(opcode, payload);
      return;
    }
    if (opcode !== Opcode.Continuation) {
      this.messageBinary = opcode === Opcode.Binary;
      this.messageCompressed = rsv1;
    }
    if (!this.messageCompressed) {
      this.addData(payload, fin, end, false);
      return;
    }
    if (this.throttled) this.target.probeTransport?.();
    const check = this.messageBinary || !this.validateUtf8 ? undefined : (this.outputCheck ??= this.makeOutputCheck());
    const done = (error: Error | null, result?: Buffer): void => {
      if (this.finished) return;
      this.inflating = false;
      this.inflated(error, result, fin, check);
      this.update();
    };
    const decompressor = this.decompressor!;
    let now: Buffer | WebSocketError | null = null;
    if (decompressor.decompressNow) now = decompressor.decompressNow(payload, fin, done, check);
    else decompressor.decompress(payload, fin, done, check);
    if (now === null) {
      // The callback comes later: hold the parser so order is kept.
      this.inflating = true;
      this.parser.paused = true;
      return;
    }
    // Inflated at once: handled here, inside the parser's loop, as an uncompressed frame is.
    if (now instanceof WebSocketError) this.inflated(now, undefined, fin, check);
    else this.inflated(null, now, fin, check);
  }

  /** A compressed frame's payload was inflated (the whole message on `fin`), or inflating it failed. */
  private inflated(
    error: Error | null,
    result: Buffer | undefined,
    fin: boolean,
    check: OutputCheck | undefined,
  ): void {
    if (error) {
      this.fail(
        error instanceof WebSocketError
          ? error
          : new WebSocketError('WS_ERR_INVALID_COMPRESSED_DATA', 1007, error.message),
      );
      return;
    }
    if (fin) {
      // Inflated text was checked piece by piece; only its end remains to be checked.
      if (check && this.utf8 !== null && !this.utf8.end()) return this.invalidUtf8();
      this.addData(result ?? EMPTY, true, true, true);
    }
  }

  private makeOutputCheck(): OutputCheck {
    return (chunk) => ((this.utf8 ??= new Utf8Stream()).write(chunk) ? null : invalidUtf8Error());
  }

  onParseError(error: WebSocketError): void {
    this.fail(error);
  }

  /** Streaming reception: nothing is buffered beyond the current frame; UTF-8 is still checked across frames. */
  private streamFragment(data: Buffer, fin: boolean, validated: boolean): void {
    const binary = this.messageBinary;
    if (!binary && this.validateUtf8 && !validated && !this.utf8Continues(data, fin)) return this.invalidUtf8();
    const index = this.fragmentIndex;
    this.fragmentIndex = fin ? 0 : index + 1;
    this.target.onFragment(data, binary, fin, index);
    this.deferIfNeeded();
  }

  /** Feeds the next piece of a text message to the streaming validator: false once it cannot be UTF-8. */
  private utf8Continues(data: Buffer, fin: boolean): boolean {
    const utf8 = (this.utf8 ??= new Utf8Stream());
    return utf8.write(data) && (!fin || utf8.end());
  }

  /**
   * A frame or a piece of one (`end`: the frame's last). `validated`: text already checked (inflated
   * output). A compressed message arrives here whole (fin), after its inflated text was checked.
   */
  private addData(data: Buffer, fin: boolean, end: boolean, validated: boolean): void {
    if (!this.assembleFragments) {
      // A compressed message is inflated whole (its size bounded by maxPayload), then streamed as one frame.
      this.streamFragment(data, fin, validated);
      return;
    }
    const check = !this.messageBinary && this.validateUtf8 && !validated;
    if (fin && !this.inMessage) {
      if (check && !isValidUtf8(data)) return this.invalidUtf8();
      this.deliver(data.length === 0 ? EMPTY : data);
      return;
    }
    // Checked as the bytes arrive, so bad text fails before the rest of the message is awaited.
    if (check && !this.utf8Continues(data, fin)) return this.invalidUtf8();
    this.inMessage = true;
    const pieces = (this.pieces ??= new MessageBuffer());
    pieces.append(data);
    const asFragments = this.binaryType === 'fragments' && this.messageBinary;
    // As in ws, empty frames are not among the fragments.
    if (asFragments && end && pieces.length > 0) (this.frames ??= []).push(pieces.take());
    if (!fin) return;
    this.inMessage = false;
    if (asFragments) {
      const frames = this.frames ?? [];
      this.frames = null;
      this.dispatch(frames, true);
      return;
    }
    const message = pieces.take();
    this.deliver(message.length === 0 ? EMPTY : message);
  }

  private deliver(data: Buffer): void {
    // Text is always a Buffer, whatever binaryType says (as in ws 8).
    if (!this.messageBinary) {
      this.dispatch(data, false);
      return;
    }
    switch (this.binaryType) {
      case 'arraybuffer':
        this.dispatch(toArrayBuffer(data), true);
        break;
      case 'fragments':
        this.dispatch([data], true);
        break;
      case 'blob':
        this.dispatch(new Blob([data]), true);
        break;
      default:
        this.dispatch(data, true);
    }
  }

  private dispatch(data: MessageData, isBinary: boolean): void {
    this.target.onMessage(data, isBinary);
    this.deferIfNeeded();
  }

  private control(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.Close) {
      let code = 1005;
      let reason = EMPTY;
      if (payload.length === 1) {
        return this.fail(protocolError('WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 'invalid payload length 1'));
      }
      if (payload.length >= 2) {
        code = payload.readUInt16BE(0);
        if (!isValidCloseCode(code)) {
          return this.fail(protocolError('WS_ERR_INVALID_CLOSE_CODE', `invalid status code ${code}`));
        }
        reason = payload.subarray(2);
        if (this.validateUtf8 && !isValidUtf8(reason)) return this.invalidUtf8();
      }
      this.finished = true;
      this.parser.stop();
      this.releaseTransport();
      this.target.onCloseFrame(code, reason);
      return;
    }
    if (opcode === Opcode.Ping) this.target.onPing(payload);
    else this.target.onPong(payload);
    this.deferIfNeeded();
  }

  private deferIfNeeded(): void {
    if (this.allowSynchronousEvents || this.finished) return;
    this.deferred = true;
    this.parser.paused = true;
    setImmediate(() => {
      this.deferred = false;
      this.update();
    });
  }

  private update(): void {
    if (this.finished) return;
    const paused = this.userPaused || this.inflating || this.deferred;
    this.parser.paused = paused;
    if (paused) return;
    this.parser.run();
    if (this.throttled && this.parser.bufferedBytes < RECEIVE_BUFFER_LIMIT && !this.finished) this.throttle(false);
    if (!this.parser.paused) this.onSettled?.();
  }

  private invalidUtf8(): void {
    this.fail(invalidUtf8Error());
  }

  private fail(error: WebSocketError): void {
    if (this.finished) return;
    this.stop();
    this.releaseTransport();
    this.target.onReceiveError(error);
  }

  /** The input ended: the transport is read again (and discarded), so the peer's FIN is seen. */
  private releaseTransport(): void {
    if (this.throttled) this.throttle(false);
  }
}
