/**
 * Frames → messages. Assembles fragments, inflates compressed messages (one frame at a time, with the
 * parser held so order is kept), validates UTF-8 as early as the bytes allow, decodes close frames, and
 * hands finished messages and control frames to the socket.
 */
import type { BinaryType } from './constants.js';
import { Opcode, isValidCloseCode } from './constants.js';
import { WebSocketError, protocolError } from './errors.js';
import { FrameParser, type FrameSink } from './frame-parser.js';
import { Utf8Stream, isValidUtf8 } from './utf8.js';

export type MessageData = Buffer | ArrayBuffer | Buffer[] | Blob;

export interface ReceiverTarget {
  onMessage(data: MessageData, isBinary: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  onCloseFrame(code: number, reason: Buffer): void;
  onReceiveError(error: WebSocketError): void;
  /** With assembleFragments off: each data frame as it arrives. */
  onFragment(data: Buffer, isBinary: boolean, isFinal: boolean, index: number): void;
}

/** The part of permessage-deflate the receiver needs. */
export interface MessageDecompressor {
  decompress(data: Buffer, fin: boolean, cb: (error: Error | null, result?: Buffer) => void): void;
}

export interface ReceiverOptions {
  isServer: boolean;
  maxPayload: number;
  maxFrameSize?: number;
  skipUTF8Validation: boolean;
  allowSynchronousEvents: boolean;
  /** False: deliver every data frame through onFragment instead of assembling whole messages. */
  assembleFragments?: boolean;
}

const EMPTY: Buffer = Buffer.alloc(0);

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

  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private messageBinary = false;
  private messageCompressed = false;
  /** Created on the first fragmented text message: most connections never need one. */
  private utf8: Utf8Stream | null = null;

  private userPaused = false;
  private inflating = false;
  private deferred = false;
  private finished = false;

  constructor(
    private readonly target: ReceiverTarget,
    options: ReceiverOptions,
  ) {
    this.parser = new FrameParser(this, {
      isServer: options.isServer,
      maxPayload: options.maxPayload,
      maxFrameSize: options.maxFrameSize,
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

  push(chunk: Buffer): void {
    this.parser.push(chunk);
    if (!this.parser.paused) this.onSettled?.();
  }

  pause(): void {
    this.userPaused = true;
    this.parser.paused = true;
  }

  resume(): void {
    this.userPaused = false;
    this.update();
  }

  stop(): void {
    this.finished = true;
    this.parser.stop();
    this.fragments = [];
  }

  // FrameSink

  onFrame(opcode: number, fin: boolean, rsv1: boolean, payload: Buffer): void {
    if (opcode >= Opcode.Close) {
      this.control(opcode, payload);
      return;
    }
    if (opcode !== Opcode.Continuation) {
      this.messageBinary = opcode === Opcode.Binary;
      this.messageCompressed = rsv1;
    }
    if (!this.messageCompressed) {
      this.addData(payload, fin);
      return;
    }
    this.inflating = true;
    this.parser.paused = true;
    this.decompressor!.decompress(payload, fin, (error, result) => {
      if (this.finished) return;
      this.inflating = false;
      if (error) {
        this.fail(
          error instanceof WebSocketError
            ? error
            : new WebSocketError('WS_ERR_INVALID_COMPRESSED_DATA', 1007, error.message),
        );
        return;
      }
      if (fin) this.addData(result ?? EMPTY, true);
      this.update();
    });
  }

  onParseError(error: WebSocketError): void {
    this.fail(error);
  }

  /** Streaming reception: nothing is buffered beyond the current frame; UTF-8 is still checked across frames. */
  private streamFragment(data: Buffer, fin: boolean): void {
    const binary = this.messageBinary;
    if (!binary && this.validateUtf8 && !this.utf8Continues(data, fin)) return this.invalidUtf8();
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

  private addData(data: Buffer, fin: boolean): void {
    if (!this.assembleFragments) {
      // A compressed message is inflated whole (its size bounded by maxPayload), then streamed as one frame.
      this.streamFragment(data, fin);
      return;
    }
    const text = !this.messageBinary;
    if (fin && this.fragments.length === 0) {
      if (text && this.validateUtf8 && !isValidUtf8(data)) return this.invalidUtf8();
      this.deliver(data);
      return;
    }
    // A compressed message arrives here whole (fin, no fragments), so only plain fragments reach this point.
    if (text && this.validateUtf8 && !this.utf8Continues(data, fin)) return this.invalidUtf8();
    if (data.length > 0) {
      this.fragments.push(data);
      this.fragmentBytes += data.length;
    }
    if (!fin) return;
    const fragments = this.fragments;
    const length = this.fragmentBytes;
    this.fragments = [];
    this.fragmentBytes = 0;
    if (this.binaryType === 'fragments' && this.messageBinary) {
      this.dispatch(fragments, true);
      return;
    }
    this.deliver(fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, length));
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
    if (!this.parser.paused) this.onSettled?.();
  }

  private invalidUtf8(): void {
    this.fail(new WebSocketError('WS_ERR_INVALID_UTF8', 1007, 'Invalid WebSocket frame: invalid UTF-8 sequence'));
  }

  private fail(error: WebSocketError): void {
    if (this.finished) return;
    this.stop();
    this.target.onReceiveError(error);
  }
}
