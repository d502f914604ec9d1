/**
 * Bytes → frames. An incremental state machine that accepts any split of the input: headers are read
 * straight from the head chunk when they lie in it, payloads that lie in one chunk are handed out as
 * zero-copy views (unmasked in place). An uncompressed data frame that spans chunks is handed out piece
 * by piece as its bytes arrive (the receiver assembles), so the parser never holds a data payload; only
 * control frames and compressed frames are collected whole (copied once).
 * Frame-level rules of RFC 6455 §5 are checked here, as early as the bytes allow, and so are the limits
 * on message size, fragments per message and buffered chunks.
 */
import { MAX_CONTROL_PAYLOAD, MAX_SAFE_PAYLOAD, Opcode } from './constants.js';
import { WebSocketError, protocolError } from './errors.js';
import { unmask, unmaskInto } from './mask.js';

export interface FrameSink {
  /**
   * A frame, or (uncompressed data frames spanning chunks, and every data frame with `streamData`) a
   * piece of one: `opcode` is the frame's on its first piece and 0 (continuation) on later pieces;
   * `fin` is set on the last piece of a final frame only; `end` marks the last piece of any frame.
   * Data frames carry opcode 0x0–0x2, control frames 0x8–0xA (always whole).
   */
  onFrame(opcode: number, fin: boolean, rsv1: boolean, payload: Buffer, end: boolean): void;
  onParseError(error: WebSocketError): void;
}

export interface FrameParserOptions {
  /** Server side: frames must be masked; client side: frames must not be. */
  isServer: boolean;
  /** Largest message (sum of its frames' payloads) accepted; 0 or less means no limit. */
  maxPayload: number;
  /** Largest single frame payload accepted; 0 or less means no limit. */
  maxFrameSize?: number;
  /** Most data frames in one message, empty ones included (ws: maxFragments); 0 or less: no limit. */
  maxFragments?: number;
  /**
   * Most socket chunks held while a frame is incomplete (ws: maxBufferedChunks); 0 or less: no limit.
   * Chunks received while the parser is paused do not count: the transport is stopped then instead.
   */
  maxBufferedChunks?: number;
}

const EMPTY: Buffer = Buffer.alloc(0);
// Scratch space shared by every parser (each use is synchronous): per-parser Buffers would cost an
// ArrayBuffer and its backing store per idle connection.
const headerScratch = Buffer.allocUnsafe(14);
const keyScratch = Buffer.allocUnsafe(4);
/**
 * Input held while parsing cannot go on is compacted: once this many chunks are held, chunks up to
 * SMALL_CHUNK bytes are copied into shared blocks of COALESCE_BLOCK bytes, so a peer dripping tiny TCP
 * segments costs its bytes, not a Buffer object per segment.
 */
const COALESCE_AFTER = 4;
const SMALL_CHUNK = 4 * 1024;
const COALESCE_BLOCK = 16 * 1024;
const enum State {
  Header,
  Payload,
}

export class FrameParser {
  /** Set once permessage-deflate is negotiated: RSV1 then marks a compressed message. */
  rsv1Allowed = false;
  /** While true the parser keeps bytes buffered and emits nothing. */
  paused = false;
  /**
   * Streaming reception: uncompressed data frames are handed out piece by piece as bytes arrive (each
   * piece a zero-copy view where possible), so no frame is ever buffered whole. Pieces after the first of
   * a frame are reported as continuations, and `fin` is set on the last piece of a final frame only.
   */
  streamData = false;
  private payloadRead = 0;
  private stopped = false;
  private running = false;

  private readonly chunks: Buffer[] = [];
  private offset = 0; // read position in chunks[0]
  private buffered = 0;
  /** Block small chunks are coalesced into; chunks[last] is its filled part while `tailView` is that. */
  private tail: Buffer | null = null;
  private tailView: Buffer | null = null;
  private tailStart = 0;
  private tailEnd = 0;
  /** Chunks pushed since the parser last completed a frame or ran dry (for maxBufferedChunks). */
  private heldChunks = 0;
  /** Data frames of the current message so far (for maxFragments). */
  private fragmentCount = 0;

  private state = State.Header;
  private fin = false;
  private rsv1 = false;
  private opcode = 0;
  private masked = false;
  /** The frame's masking key, big-endian halves (small integers, stored in the object itself). */
  private maskHigh = 0;
  private maskLow = 0;
  private payloadLength = 0;

  private messageOpcode = 0; // opcode of the fragmented message in progress, 0 if none
  private messageLength = 0;
  private messageCompressed = false;

  private readonly isServer: boolean;
  private readonly maxPayload: number;
  private readonly maxFrameSize: number;
  private readonly maxFragments: number;
  private readonly maxBufferedChunks: number;

  constructor(
    private readonly sink: FrameSink,
    options: FrameParserOptions,
  ) {
    this.isServer = options.isServer;
    this.maxPayload = options.maxPayload > 0 ? options.maxPayload : Infinity;
    this.maxFrameSize =
      options.maxFrameSize !== undefined && options.maxFrameSize > 0 ? options.maxFrameSize : Infinity;
    this.maxFragments =
      options.maxFragments !== undefined && options.maxFragments > 0 ? options.maxFragments : Infinity;
    this.maxBufferedChunks =
      options.maxBufferedChunks !== undefined && options.maxBufferedChunks > 0 ? options.maxBufferedChunks : Infinity;
  }

  /** Bytes received and not yet parsed. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    const held = this.chunks.length;
    if (held > 0 && !this.paused && ++this.heldChunks >= this.maxBufferedChunks) {
      this.fail(new WebSocketError('WS_ERR_TOO_MANY_BUFFERED_PARTS', 1008, 'Too many buffered chunks'));
      return;
    }
    if (held < COALESCE_AFTER || chunk.length > SMALL_CHUNK) this.chunks.push(chunk);
    else this.coalesce(chunk);
    this.buffered += chunk.length;
    this.run();
  }

  /** Appends a small chunk to the tail block (a new block when it is full or no longer last). */
  private coalesce(chunk: Buffer): void {
    const last = this.chunks.length - 1;
    let tail = this.tail;
    if (tail === null || this.tailView !== this.chunks[last] || tail.length - this.tailEnd < chunk.length) {
      tail = this.tail = Buffer.allocUnsafe(COALESCE_BLOCK);
      this.tailStart = this.tailEnd = 0;
      chunk.copy(tail, 0);
      this.tailEnd = chunk.length;
      this.chunks.push((this.tailView = tail.subarray(0, this.tailEnd)));
      return;
    }
    chunk.copy(tail, this.tailEnd);
    this.tailEnd += chunk.length;
    this.chunks[last] = this.tailView = tail.subarray(this.tailStart, this.tailEnd);
  }

  /** Parses whatever is buffered (call after clearing `paused`). */
  run(): void {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.paused && !this.stopped) {
        if (this.state === State.Header) {
          if (!this.readHeader()) break;
        } else if (!this.readPayload()) break;
      }
    } finally {
      this.running = false;
    }
  }

  /** Discards everything: nothing is emitted afterwards (used after a close frame or an error). */
  stop(): void {
    this.stopped = true;
    this.chunks.length = 0;
    this.buffered = 0;
    this.offset = 0;
    this.tail = this.tailView = null;
  }

  private fail(error: WebSocketError): false {
    this.stop();
    this.sink.onParseError(error);
    return false;
  }

  private byteAt(index: number): number {
    let i = index + this.offset;
    for (let c = 0; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!;
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    return -1;
  }

  /**
   * Returns a buffer holding the next `n` buffered bytes and consumes them; with `mask`, unmasked (in
   * place for a view, while copying for bytes spread over chunks, so a large payload is walked once).
   */
  private take(n: number, mask: Buffer | null = null): Buffer {
    const head = this.chunks[0]!;
    const available = head.length - this.offset;
    this.buffered -= n;
    if (available > n) {
      const view = head.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (mask) unmask(view, mask);
      return view;
    }
    if (available === n) {
      const view = this.offset === 0 ? head : head.subarray(this.offset);
      this.chunks.shift();
      this.offset = 0;
      if (mask) unmask(view, mask);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length - this.offset, n - written);
      if (mask) unmaskInto(chunk, this.offset, this.offset + count, mask, written, out, written);
      else chunk.copy(out, written, this.offset, this.offset + count);
      written += count;
      this.offset += count;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    return out;
  }

  private readHeader(): boolean {
    if (this.buffered < 2) return false;
    const b0 = this.byteAt(0);
    const b1 = this.byteAt(1);

    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;

    if ((b0 & 0x30) !== 0) return this.fail(protocolError('WS_ERR_UNEXPECTED_RSV_2_3', 'RSV2 and RSV3 must be clear'));
    if (opcode >= 0x8) {
      if (opcode > Opcode.Pong) return this.fail(protocolError('WS_ERR_INVALID_OPCODE', `invalid opcode ${opcode}`));
      if (!fin) return this.fail(protocolError('WS_ERR_EXPECTED_FIN', 'FIN must be set'));
      if (rsv1) return this.fail(protocolError('WS_ERR_UNEXPECTED_RSV_1', 'RSV1 must be clear'));
      if (len7 > MAX_CONTROL_PAYLOAD) {
        return this.fail(protocolError('WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', `invalid payload length ${len7}`));
      }
    } else if (opcode === Opcode.Continuation) {
      if (this.messageOpcode === 0) return this.fail(protocolError('WS_ERR_INVALID_OPCODE', 'invalid opcode 0'));
      if (rsv1) return this.fail(protocolError('WS_ERR_UNEXPECTED_RSV_1', 'RSV1 must be clear'));
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.messageOpcode !== 0)
        return this.fail(protocolError('WS_ERR_INVALID_OPCODE', `invalid opcode ${opcode}`));
      if (rsv1 && !this.rsv1Allowed) return this.fail(protocolError('WS_ERR_UNEXPECTED_RSV_1', 'RSV1 must be clear'));
    } else {
      return this.fail(protocolError('WS_ERR_INVALID_OPCODE', `invalid opcode ${opcode}`));
    }
    if (masked !== this.isServer) {
      return this.fail(
        this.isServer
          ? protocolError('WS_ERR_EXPECTED_MASK', 'MASK must be set')
          : protocolError('WS_ERR_UNEXPECTED_MASK', 'MASK must be clear'),
      );
    }

    const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const headerLength = 2 + extended + (masked ? 4 : 0);
    if (this.buffered < headerLength) return false;

    let header: Buffer;
    let at: number;
    const head = this.chunks[0]!;
    if (head.length - this.offset >= headerLength) {
      header = head;
      at = this.offset;
      this.offset += headerLength;
      this.buffered -= headerLength;
      if (this.offset === head.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    } else {
      header = headerScratch;
      at = 0;
      this.take(headerLength).copy(headerScratch, 0);
    }

    let length = len7;
    if (len7 === 126) {
      length = header.readUInt16BE(at + 2);
    } else if (len7 === 127) {
      const high = header.readUInt32BE(at + 2);
      const low = header.readUInt32BE(at + 6);
      if (high & 0x80000000) {
        return this.fail(
          protocolError('WS_ERR_INVALID_PAYLOAD_LENGTH', 'the most significant bit of a 64-bit length must be 0'),
        );
      }
      if (high > 0x1fffff) {
        return this.fail(
          new WebSocketError(
            'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
            1009,
            'Unsupported WebSocket frame: payload length > 2^53 - 1',
          ),
        );
      }
      length = high * 0x100000000 + low;
    }
    if (masked) {
      const m = at + 2 + extended;
      this.maskHigh = (header[m]! << 8) | header[m + 1]!;
      this.maskLow = (header[m + 2]! << 8) | header[m + 3]!;
    }

    if (opcode < 0x8) {
      if (length > this.maxFrameSize || length > MAX_SAFE_PAYLOAD) {
        return this.fail(tooBig('Frame'));
      }
      this.fragmentCount = opcode === Opcode.Continuation ? this.fragmentCount + 1 : 1;
      if (this.fragmentCount > this.maxFragments) {
        return this.fail(new WebSocketError('WS_ERR_TOO_MANY_BUFFERED_PARTS', 1008, 'Too many message fragments'));
      }
      const total = (opcode === Opcode.Continuation ? this.messageLength : 0) + length;
      if (total > this.maxPayload) return this.fail(tooBig('Message'));
      if (opcode === Opcode.Continuation) {
        this.messageLength = total;
        if (fin) this.messageOpcode = 0;
      } else {
        this.messageCompressed = rsv1;
        if (!fin) {
          this.messageOpcode = opcode;
          this.messageLength = length;
        }
      }
    }

    this.fin = fin;
    this.rsv1 = opcode === Opcode.Continuation ? this.messageCompressed : rsv1;
    this.opcode = opcode;
    this.masked = masked;
    this.payloadLength = length;
    this.state = State.Payload;
    return true;
  }

  private readPayload(): boolean {
    const length = this.payloadLength;
    if (length > 0 && this.opcode < 0x8 && !this.rsv1) {
      // Uncompressed data: whole when it lies in the head chunk, else piece by piece as it arrives.
      const inHead = this.chunks.length > 0 && this.chunks[0]!.length - this.offset >= length;
      if (this.streamData || this.payloadRead > 0 || !inHead) return this.readPayloadPiece();
    } else if (this.buffered < length) return false;
    const payload = length === 0 ? EMPTY : this.take(length, this.masked ? this.maskKey(0) : null);
    this.frameDone();
    this.sink.onFrame(this.opcode, this.fin, this.rsv1, payload, true);
    return true;
  }

  private frameDone(): void {
    this.state = State.Header;
    this.heldChunks = 0;
  }

  /** The masking key rotated to start at payload byte `offset` (mod 4), in the shared scratch buffer. */
  private maskKey(offset: number): Buffer {
    const h = this.maskHigh;
    const l = this.maskLow;
    const key = keyScratch;
    const s = 4 - offset; // key[i] = mask[(offset + i) & 3]
    key[s & 3] = h >>> 8;
    key[(s + 1) & 3] = h & 0xff;
    key[(s + 2) & 3] = l >>> 8;
    key[(s + 3) & 3] = l & 0xff;
    return key;
  }

  private readPayloadPiece(): boolean {
    const remaining = this.payloadLength - this.payloadRead;
    const available = Math.min(
      this.buffered,
      remaining,
      this.chunks.length > 0 ? this.chunks[0]!.length - this.offset : 0,
    );
    if (available === 0) return false;
    const piece = this.take(available);
    if (this.masked) unmask(piece, this.maskKey(this.payloadRead & 3));
    const first = this.payloadRead === 0;
    this.payloadRead += available;
    const last = this.payloadRead === this.payloadLength;
    if (last) {
      this.payloadRead = 0;
      this.frameDone();
    }
    this.sink.onFrame(first ? this.opcode : 0, last && this.fin, false, piece, last);
    return true;
  }
}

function tooBig(what: 'Frame' | 'Message'): WebSocketError {
  // A message over maxPayload reads as in ws, whose users match on the text; maxReceivedFrameSize is wskit's own.
  const message = what === 'Message' ? 'Max payload size exceeded' : 'Frame exceeds the maximum payload size';
  return new WebSocketError('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009, message);
}
